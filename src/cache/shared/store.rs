//! The connection to Redis and the few commands the shared tier sends.
//!
//! Redis is an optimisation, never a dependency of a request: every command is bounded by
//! `operation_timeout`, and a failure (an error, or no answer in time) marks Redis unreachable.
//! While it is, requests skip Redis without waiting at all, and a probe (PING every second)
//! decides when it is back. The redis crate's `ConnectionManager` reconnects by itself; the
//! probe's commands are what make it try while no request does.
//!
//! Errors are logged with the hex key names only (see `names`), and counted for readiness.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{cmd, Cmd, FromRedisValue};

use super::{RedisConfig, SharedStatus};

/// How often the probe asks Redis whether it is there.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one connection attempt may take (a probe may wait that long for it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Stores an entry, files it in its report's index (scored by expiry, pruned of expired names)
/// that keeps at least as long as its longest entry, and releases the fill lock if still ours.
/// KEYS: entry, index, lock. ARGV: value, px, expires at (ms), now (ms), lock token or "".
const STORE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) == ARGV[5] then
  redis.call('DEL', KEYS[3])
end
return 1";

/// Deletes the lock only if it is still ours: after `lock_ttl` it may be another replica's.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// The command did not happen: Redis is marked unreachable, failed, or did not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

/// Whether a command is skipped while Redis is marked unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Request path: skip, so an outage costs requests nothing.
    WhenReachable,
    /// Purge: an operator asked, so try anyway.
    Always,
}

/// The connection, cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    timeout: Duration,
    health: Health,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects lazily (the probe makes the first attempt at once), so a gateway starts and
    /// serves while Redis is down. Must be called within a Tokio runtime.
    pub(crate) fn new(config: &RedisConfig) -> redis::RedisResult<Store> {
        let client = redis::Client::open(config.connection.clone())?;
        // Reconnect quickly after a restart of Redis: at most a second between attempts.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        let inner = Arc::new(Inner {
            conn,
            timeout: config.operation_timeout,
            health: Health::default(),
        });
        tokio::spawn(probe(Arc::downgrade(&inner)));
        Ok(Store { inner })
    }

    pub(crate) fn status(&self) -> SharedStatus {
        self.inner.health.status()
    }

    pub(crate) async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Unavailable> {
        let mut c = cmd("GET");
        c.arg(name);
        self.run(Gate::WhenReachable, "GET", name, &c).await
    }

    /// Takes the fill lock `name` for `ttl` unless another replica holds it.
    pub(crate) async fn lock(
        &self,
        name: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, Unavailable> {
        let mut c = cmd("SET");
        c.arg(name).arg(token).arg("NX").arg("PX").arg(millis(ttl));
        let set: Option<String> = self.run(Gate::WhenReachable, "SET NX", name, &c).await?;
        Ok(set.is_some())
    }

    pub(crate) async fn unlock(&self, name: &str, token: &str) -> Result<(), Unavailable> {
        let mut c = cmd("EVAL");
        c.arg(UNLOCK).arg(1).arg(name).arg(token);
        self.run::<i64>(Gate::WhenReachable, "unlock", name, &c)
            .await
            .map(drop)
    }

    /// Stores `value` under `entry` for `keep_for`, indexes it in `index`, and releases `lock`
    /// when it is still ours.
    pub(crate) async fn put(
        &self,
        names: &super::Names,
        value: Vec<u8>,
        keep_for: Duration,
        lock_token: Option<&str>,
    ) -> Result<(), Unavailable> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut c = cmd("EVAL");
        c.arg(STORE)
            .arg(3)
            .arg(&names.entry)
            .arg(&names.index)
            .arg(&names.lock)
            .arg(value)
            .arg(millis(keep_for).max(1))
            .arg(millis(now + keep_for))
            .arg(millis(now))
            .arg(lock_token.unwrap_or(""));
        self.run::<i64>(Gate::WhenReachable, "store", &names.entry, &c)
            .await
            .map(drop)
    }

    /// The entry names filed in the report index `index`.
    pub(crate) async fn members(&self, index: &str) -> Result<Vec<String>, Unavailable> {
        let mut c = cmd("ZRANGE");
        c.arg(index).arg(0).arg(-1);
        self.run(Gate::Always, "ZRANGE", index, &c).await
    }

    /// One `SCAN` step over `pattern`: the next cursor (0 at the end) and the names found.
    pub(crate) async fn scan(
        &self,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<String>), Unavailable> {
        let mut c = cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500);
        self.run(Gate::Always, "SCAN", pattern, &c).await
    }

    /// Deletes `names`, returning how many existed.
    pub(crate) async fn delete(&self, names: &[String]) -> Result<u64, Unavailable> {
        if names.is_empty() {
            return Ok(0);
        }
        let mut c = cmd("DEL");
        c.arg(names);
        self.run(Gate::Always, "DEL", &names[0], &c).await
    }

    async fn run<T: FromRedisValue>(
        &self,
        gate: Gate,
        operation: &'static str,
        name: &str,
        command: &Cmd,
    ) -> Result<T, Unavailable> {
        let health = &self.inner.health;
        if gate == Gate::WhenReachable && !health.reachable.load(Ordering::Acquire) {
            return Err(Unavailable);
        }
        let mut conn = self.inner.conn.clone();
        let error =
            match tokio::time::timeout(self.inner.timeout, command.query_async(&mut conn)).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!(
                    "no answer within cache.redis.operation_timeout ({})",
                    humantime::format_duration(self.inner.timeout)
                ),
            };
        health.failed(operation, name, &error);
        Err(Unavailable)
    }
}

/// Pings Redis every [`PROBE_INTERVAL`] for as long as the store exists.
async fn probe(inner: Weak<Inner>) {
    loop {
        let Some(store) = inner.upgrade() else {
            return;
        };
        // While unreachable, give a (re)connection time to complete; once reachable, an answer
        // slower than a request may wait for counts as a failure.
        let budget = if store.health.reachable.load(Ordering::Acquire) {
            store.timeout
        } else {
            store.timeout.max(CONNECT_TIMEOUT)
        };
        let mut conn = store.conn.clone();
        match tokio::time::timeout(budget, cmd("PING").query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => store.health.answered(),
            Ok(Err(e)) => store.health.failed("PING", "", &e.to_string()),
            Err(_) => store.health.failed("PING", "", "no answer in time"),
        }
        drop(store);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// What readiness and the logs learn about Redis.
#[derive(Default)]
struct Health {
    /// Unknown until the first probe answers; requests skip Redis until then.
    reachable: AtomicBool,
    errors: AtomicU64,
    /// Unix milliseconds of the last failure; 0: none yet.
    last_error_ms: AtomicU64,
}

impl Health {
    fn answered(&self) {
        if !self.reachable.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis answers: the shared cache tier is on");
        }
    }

    fn failed(&self, operation: &str, name: &str, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_error_ms
            .store(millis(now).max(1), Ordering::Relaxed);
        if self.reachable.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                operation,
                key = name,
                error,
                "Redis failed: the shared cache tier is off until it answers again; requests go \
                 on with the local cache and iCasework"
            );
        } else {
            tracing::debug!(operation, key = name, error, "Redis is still unreachable");
        }
    }

    fn status(&self) -> SharedStatus {
        let last = self.last_error_ms.load(Ordering::Relaxed);
        SharedStatus {
            reachable: self.reachable.load(Ordering::Acquire),
            last_error_at: (last != 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
            errors_total: self.errors.load(Ordering::Relaxed),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
