//! Quotas kept in Redis (`[limits.redis]`), so that replicas behind a load balancer admit each
//! quota once between them, not once each.
//!
//! One Lua script (below) does GCRA atomically: it reads the key's theoretical arrival time
//! (TAT), decides, and writes the new TAT with a TTL, all inside Redis, on Redis's clock (so
//! replicas' clocks need not agree). It is sent as EVALSHA (`redis::Script`; loaded again after
//! a restart of Redis empties its script cache). The key expires when its bucket is full again,
//! when it says nothing a missing key would not.
//!
//! Key names hold no subject: `{namespace}:limit:v1:{scope}:{caller digest}[:{ReportId}]:{rate}`,
//! the caller digest being [`CallerId`](super::CallerId)'s (a SHA-256 of the issuer, the grant
//! and the subject or claim), and `{namespace}:limit:v1:upstream:{rate}` for the global rate to
//! iCasework. The rate is part of the name so that a reload which changes a grant's rate starts
//! its callers on a fresh bucket, as the local limiter does.
//!
//! When Redis fails or is slower than `operation_timeout`, the caller of [`SharedLimits::spend`]
//! answers from its own limiter with this replica's share of the quota ([`SharedLimits::share`]:
//! the burst divided by `replicas`, rounded down, and the rate divided by `replicas`), so the
//! replicas together still admit about the quota; `redis_link` retries Redis every second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;

use super::key::Key;
use crate::metrics::metrics;
use crate::policy::Rate;
use crate::redis_link::{millis, Address, Link, Purpose, SharedStatus, Unavailable};

/// GCRA, one unit of each quota in order, stopping at the first refusal. KEYS: the quotas' keys.
/// ARGV: for each key, its emission interval (µs, ≥ 1) and its burst (≥ 1). Returns, for each
/// key evaluated, {allowed (1 or 0), remaining, µs until the bucket is full again, µs until the
/// next unit (0 when allowed)}; a refusal is the last.
///
/// One script for all of a request's quotas is one round trip, and atomic: no other replica's
/// request comes between the caller's quota and its per-report quota. A refused quota writes
/// nothing, so waiting and retrying costs the caller nothing. The TAT is written with `%.0f`:
/// Redis would turn a Lua number into text with 14 significant digits, and µs since 1970 have
/// 16. All keys of one call must be on one Redis node (casegate speaks to one Redis, not a
/// cluster).
const GCRA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local limit = interval * burst
  local new_tat = tat + interval
  if new_tat - now > limit then
    local retry = new_tat - limit - now
    for _, v in ipairs({0, 0, retry, retry}) do out[#out + 1] = v end
    return out
  end
  redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
  local remaining = math.floor((limit - (new_tat - now)) / interval)
  for _, v in ipairs({1, remaining, new_tat - now, 0}) do out[#out + 1] = v end
end
return out
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

/// How often, at most, answering from the local share is logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// `[limits.redis]`, validated.
#[derive(Clone)]
pub struct SharedConfig {
    /// Where Redis is, with the password when one is configured.
    pub connection: redis::ConnectionInfo,
    /// Prefix of every key name.
    pub namespace: String,
    /// The longest a quota check may wait for Redis before it is answered locally.
    pub operation_timeout: Duration,
    /// How many replicas share the quotas: while Redis is unavailable, each admits
    /// `1 / replicas` of every quota.
    pub replicas: u32,
}

impl std::fmt::Debug for SharedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConfig")
            .field("connection", &Address(&self.connection))
            .field("namespace", &self.namespace)
            .field("operation_timeout", &self.operation_timeout)
            .field("replicas", &self.replicas)
            .finish()
    }
}

/// Equal when they reach the same database the same way (the password is not compared).
impl PartialEq for SharedConfig {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.connection, &other.connection);
        a.addr().to_string() == b.addr().to_string()
            && a.redis_settings().db() == b.redis_settings().db()
            && self.namespace == other.namespace
            && self.operation_timeout == other.operation_timeout
            && self.replicas == other.replicas
    }
}

impl Eq for SharedConfig {}

/// One unit spent in Redis, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spent {
    pub(crate) allowed: bool,
    pub(crate) remaining: u32,
    /// Until the bucket is full again; for a refused unit, until the next is there.
    pub(crate) reset: Duration,
    /// Zero when allowed.
    pub(crate) retry_after: Duration,
}

/// Quotas in Redis, cheap to clone. Shared by the callers' quotas and the global rate to
/// iCasework.
#[derive(Clone, Debug)]
pub struct SharedLimits(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    link: Link,
    namespace: String,
    replicas: u32,
    /// Unix milliseconds of the last warning about answering locally.
    warned_ms: AtomicU64,
}

const PURPOSE: Purpose = Purpose {
    what: "the sharing of rate limits between replicas",
    meanwhile: "each replica admits its local share of every quota (limits.redis.replicas)",
    timeout_key: "limits.redis.operation_timeout",
    on_change: |up| metrics().rate_limit_shared.set(i64::from(up)),
};

impl SharedLimits {
    /// `None` (logged) if the connection settings cannot be used; validation refuses such
    /// files. Must be called within a Tokio runtime.
    pub(crate) fn new(config: &SharedConfig) -> Option<SharedLimits> {
        let link = Link::new(config.connection.clone(), config.operation_timeout, PURPOSE)
            .inspect_err(|e| {
                tracing::error!(error = %e, "limits.redis: quotas are kept per replica only");
            })
            .ok()?;
        Some(SharedLimits(Arc::new(Inner {
            link,
            namespace: config.namespace.clone(),
            replicas: config.replicas.max(1),
            warned_ms: AtomicU64::new(0),
        })))
    }

    pub(crate) fn status(&self) -> SharedStatus {
        self.0.link.status()
    }

    /// Spends one unit of `rate` under the key `name`; `label` names it in logs.
    pub(crate) async fn spend(
        &self,
        name: &str,
        label: &'static str,
        rate: &Rate,
    ) -> Result<Spent, Unavailable> {
        let mut invocation = SCRIPT.prepare_invoke();
        invocation
            .key(name)
            .arg(interval_us(rate))
            .arg(rate.burst.max(1));
        let spent = self.run(label, &invocation).await?;
        spent.into_iter().next().ok_or(Unavailable)
    }

    /// Spends one unit of each quota in order until one refuses, in one round trip; the
    /// answers of the quotas evaluated, a refusal last.
    pub(crate) async fn spend_each(
        &self,
        quotas: &[(Key, Rate)],
    ) -> Result<Vec<Spent>, Unavailable> {
        let mut invocation = SCRIPT.prepare_invoke();
        for (key, rate) in quotas {
            invocation
                .key(self.key_name(key, rate))
                .arg(interval_us(rate))
                .arg(rate.burst.max(1));
        }
        let label = quotas.first().map_or("none", |(key, _)| key.scope.as_str());
        let spent = self.run(label, &invocation).await?;
        // Every quota answered, or the answers end at a refusal; anything else is not an
        // answer this script gives, and is not trusted.
        let complete = spent.len() == quotas.len() || spent.last().is_some_and(|s| !s.allowed);
        if spent.len() > quotas.len() || !complete {
            return Err(Unavailable);
        }
        Ok(spent)
    }

    async fn run(
        &self,
        label: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<Spent>, Unavailable> {
        let flat: Vec<u64> = self.0.link.invoke("GCRA", label, invocation).await?;
        Ok(flat
            .chunks_exact(4)
            .map(|v| Spent {
                allowed: v[0] == 1,
                remaining: u32::try_from(v[1]).unwrap_or(u32::MAX),
                reset: Duration::from_micros(v[2]),
                retry_after: Duration::from_micros(v[3]),
            })
            .collect())
    }

    /// The Redis key of a caller's quota.
    pub(crate) fn key_name(&self, key: &Key, rate: &Rate) -> String {
        let caller: String = key
            .caller
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let report = if key.report == 0 {
            String::new()
        } else {
            format!(":{}", key.report)
        };
        format!(
            "{}:limit:v1:{}:{caller}{report}:{}",
            self.0.namespace,
            key.scope.as_str(),
            rate_name(rate)
        )
    }

    /// The Redis key of the global rate to iCasework.
    pub(crate) fn upstream_name(&self, rate: &Rate) -> String {
        format!("{}:limit:v1:upstream:{}", self.0.namespace, rate_name(rate))
    }

    /// This replica's share of `rate`, for while Redis is unavailable: the burst divided by
    /// `replicas` (rounded down, at least 1) and the same refill spread over `replicas` times
    /// the period. Together the replicas admit at most the quota (unless the burst is smaller
    /// than the replica count: each admits at least one).
    pub(crate) fn share(&self, rate: &Rate) -> Rate {
        let n = self.0.replicas;
        Rate {
            requests: rate.requests,
            per: rate.per.saturating_mul(n),
            burst: (rate.burst / n).max(1),
        }
    }

    /// Counts a check answered by the local share; warns at most once a [`WARN_EVERY`].
    pub(crate) fn fell_back(&self) {
        let m = metrics();
        m.rate_limit_backend_fallbacks.inc();
        m.rate_limit_shared.set(0);
        let now = millis(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let last = self.0.warned_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= millis(WARN_EVERY)
            && self
                .0
                .warned_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                replicas = self.0.replicas,
                fallbacks_total = m.rate_limit_backend_fallbacks.get(),
                "Redis is unavailable: rate limits are answered from this replica's share of \
                 each quota (1/limits.redis.replicas) until it answers again"
            );
        }
    }
}

/// The emission interval in whole µs (at least 1), as the script counts.
fn interval_us(rate: &Rate) -> u64 {
    u64::try_from(rate.interval().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The rate in a key name: emission interval in µs and burst.
fn rate_name(rate: &Rate) -> String {
    format!("{}us{}", rate.interval().as_micros(), rate.burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;
    use crate::limit::{CallerId, Scope};

    /// Pointed at a port nothing listens on: these tests never reach Redis.
    fn shared(replicas: u32) -> SharedLimits {
        SharedLimits::new(&SharedConfig {
            connection: redis::IntoConnectionInfo::into_connection_info("redis://127.0.0.1:1/0")
                .unwrap(),
            namespace: "ns".into(),
            operation_timeout: Duration::from_millis(50),
            replicas,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_replicas_share_never_adds_up_to_more_than_the_quota() {
        let rate = Rate::parse("10/minute").unwrap();
        let share = shared(3).share(&rate);
        assert_eq!(share.burst, 3, "10 / 3 rounded down");
        assert_eq!(share.interval(), rate.interval() * 3);
        assert_eq!(shared(1).share(&rate), rate);
        let one = Rate {
            burst: 1,
            ..Rate::parse("1/hour").unwrap()
        };
        assert_eq!(shared(4).share(&one).burst, 1, "at least one each");
    }

    #[tokio::test]
    async fn key_names_hold_the_callers_digest_never_its_subject() {
        let serde_json::Value::Object(claims) =
            serde_json::json!({"iss": "https://idp", "sub": "jane.doe@example.org"})
        else {
            unreachable!()
        };
        let identity = Identity::from_claims(claims);
        let caller = CallerId::of("grant-a", &identity, None);
        let limits = shared(2);
        let rate = Rate::parse("6/minute").unwrap();
        let report = limits.key_name(
            &Key {
                scope: Scope::Report,
                caller,
                report: 10800,
            },
            &rate,
        );
        let hex: String = caller
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            report,
            format!("ns:limit:v1:report:{hex}:10800:10000000us6")
        );
        assert!(!report.contains("jane") && !report.contains("grant-a"));
        let miss = Key {
            scope: Scope::Miss,
            caller,
            report: 0,
        };
        assert_eq!(
            limits.key_name(&miss, &rate),
            format!("ns:limit:v1:miss:{hex}:10000000us6")
        );
        assert_eq!(
            limits.upstream_name(&rate),
            "ns:limit:v1:upstream:10000000us6"
        );
    }
}
