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
