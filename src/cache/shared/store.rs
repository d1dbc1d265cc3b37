//! The few commands the shared tier sends, over the gateway's Redis link (`crate::redis_link`:
//! every command bounded by `operation_timeout`; Redis failing turns the tier off until the
//! link's probe finds it again).
//!
//! Errors are logged with the hex key names only (see `names`), and counted for readiness.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{cmd, Cmd, FromRedisValue};

use super::RedisConfig;
use crate::redis_link::{millis, Gate, Link, Purpose, SharedStatus, Unavailable};

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

/// The tier's link to Redis, cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    link: Link,
}

/// What the cache tells the link's log lines.
const PURPOSE: Purpose = Purpose {
    what: "the shared cache tier",
    meanwhile: "requests go on with the local cache and iCasework",
    timeout_key: "cache.redis.operation_timeout",
    on_change: |_| {},
};

impl Store {
    /// Connects lazily, so a gateway starts and serves while Redis is down. Must be called
    /// within a Tokio runtime.
    pub(crate) fn new(config: &RedisConfig) -> redis::RedisResult<Store> {
        let link = Link::new(config.connection.clone(), config.operation_timeout, PURPOSE)?;
        Ok(Store { link })
    }

    pub(crate) fn status(&self) -> SharedStatus {
        self.link.status()
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
        self.link.run(gate, operation, name, command).await
    }
}
