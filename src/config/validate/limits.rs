//! `[limits]`: the quotas of callers whose grant sets none, and the limiter's memory bound.
//! Rates and bursts are written and checked as in a grant's `[grant.limits]`. `[limits.redis]`
//! shares the quotas (and the global rate to iCasework) between replicas.

use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;

use super::super::problem::Reporter;
use super::super::raw::{RawLimits, RawLimitsRedis};
use super::{count, duration, redis_table};
use crate::limit::{LimitConfig, SharedConfig};
use crate::policy::rate_and_burst;

/// At least this many keys: fewer would refuse callers in ordinary use.
const MIN_KEYS: i64 = 100;
/// At most this many keys (about 100 bytes each).
const MAX_KEYS: i64 = 100_000_000;

pub(super) fn limits(
    raw: &RawLimits,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<LimitConfig> {
    let defaults = LimitConfig::default();
    let rate = rate_and_burst(&raw.rate, &raw.burst, "limits.rate", "limits.burst", r);
    let report_rate = rate_and_burst(
        &raw.report_rate,
        &raw.report_burst,
        "limits.report_rate",
        "limits.report_burst",
        r,
    );
    let miss_rate = rate_and_burst(
        &raw.miss_rate,
        &raw.miss_burst,
        "limits.miss_rate",
        "limits.miss_burst",
        r,
    );
    let max_keys = count(&raw.max_keys, "limits.max_keys", MIN_KEYS, MAX_KEYS, r);
    let sweep_interval = duration(&raw.sweep_interval, "limits.sweep_interval", r);
    let redis = match &raw.redis {
        Some(table) => redis(table, base_dir, r).map(Some),
        None => Some(None),
    };
    Some(LimitConfig {
        rate: rate.ok()?,
        report_rate: report_rate.ok()?,
        miss_rate: miss_rate.ok()?,
        max_keys: max_keys.ok()?.unwrap_or(defaults.max_keys),
        sweep_interval: sweep_interval.ok()?.unwrap_or(defaults.sweep_interval),
        redis: redis?,
    })
}

/// The table, as messages name it.
const TABLE: &str = "limits.redis";
/// More replicas than this sharing one quota is a typo.
const MAX_REPLICAS: i64 = 1000;

fn redis(
    spanned: &Spanned<RawLimitsRedis>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<SharedConfig> {
    let raw = spanned.get_ref();
    let connection =
        redis_table::connection(&raw.url, &raw.password, spanned.span(), TABLE, base_dir, r);
    let namespace = redis_table::namespace(&raw.namespace, TABLE, r);
    let operation_timeout = duration(&raw.operation_timeout, "limits.redis.operation_timeout", r)
        .map(|d| d.unwrap_or(Duration::from_millis(50)));
    // Required: a default would silently give N replicas N times the quota while Redis is down.
    let replicas = match &raw.replicas {
        None => {
            r.at(
                Some(spanned.span()),
                "limits.redis.replicas is required: how many replicas share the quotas (each \
                 admits quota / replicas while Redis is unavailable), e.g. replicas = 3",
            );
            Err(())
        }
        some => count(some, "limits.redis.replicas", 1, MAX_REPLICAS, r),
    };
    Some(SharedConfig {
        connection: connection?,
        namespace: namespace?,
        operation_timeout: operation_timeout.ok()?,
        replicas: u32::try_from(replicas.ok()??).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::problem::Problems;
    use super::super::super::raw::RawConfig;
    use super::*;

    fn check(text: &str) -> (Option<LimitConfig>, Problems) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("redis-password"), "hunter2\n").unwrap();
        let path = dir.path().join("casegate.toml");
        let mut problems = Problems::default();
        let mut r = Reporter::new(&path, text, &mut problems);
        let raw: RawConfig = toml::from_str(text).unwrap();
        let config = limits(&raw.limits, dir.path(), &mut r);
        (config, problems)
    }

    #[test]
    fn redis_defaults_and_values() {
        let (config, problems) = check("[limits]\nrate = \"5/s\"\n");
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(config.unwrap().redis, None, "off unless configured");

        let (config, problems) = check(
            "[limits.redis]\nurl = \"redis://10.0.0.7:6390/3\"\nreplicas = 3\n\
             password = { file = \"redis-password\" }\n",
        );
        assert!(problems.is_empty(), "{problems}");
        let redis = config.unwrap().redis.unwrap();
        assert_eq!(redis.connection.addr().to_string(), "10.0.0.7:6390");
        assert_eq!(redis.connection.redis_settings().db(), 3);
        assert_eq!(
            redis.connection.redis_settings().password(),
            Some("hunter2")
        );
        assert_eq!(redis.namespace, "casegate");
        assert_eq!(redis.operation_timeout, Duration::from_millis(50));
        assert_eq!(redis.replicas, 3);
        let printed = format!("{redis:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redis://10.0.0.7:6390/3"), "{printed}");
    }

    #[test]
    fn redis_problems_name_their_key_and_line() {
        let (config, problems) = check("[limits.redis]\nurl = \"redis://127.0.0.1:6379\"\n");
        assert!(config.is_none());
        let m: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect();
        assert!(
            m[0].starts_with("1: limits.redis.replicas is required"),
            "{m:?}"
        );

        let (config, problems) = check(
            "[limits.redis]\nurl = \"redis://:pw@127.0.0.1:6379\"\nnamespace = \"a:b\"\n\
             operation_timeout = \"0s\"\nreplicas = 0\n",
        );
        assert!(config.is_none());
        let m: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect();
        for want in [
            "2: limits.redis.url must not hold a password",
            "3: limits.redis.namespace must be",
            "4: limits.redis.operation_timeout must be a positive duration",
            "5: limits.redis.replicas must be between 1 and 1000",
        ] {
            assert!(m.iter().any(|m| m.starts_with(want)), "{want}: {m:?}");
        }
        assert!(!m.iter().any(|m| m.contains("pw@")), "{m:?}");
        assert_eq!(m.len(), 4, "{m:?}");

        let (_, problems) = check("[limits.redis]\nreplicas = 2\n");
        assert!(
            problems
                .to_string()
                .contains("limits.redis.url is required"),
            "{problems}"
        );
    }
}
