//! A connection to Redis that never holds a request up: what the shared cache tier
//! (`cache::shared`) and the shared rate limits (`limit::shared`) both stand on.
//!
//! Every command is bounded by `operation_timeout`, and a failure (an error, or no answer in
//! time) marks Redis unreachable. While it is, requests skip Redis without waiting at all (their
//! user falls back to what it can do alone), and a probe (PING every second) decides when it is
//! back: that is the backoff after which Redis is used again, with no operator involved. The
//! redis crate's `ConnectionManager` reconnects by itself; the probe's commands are what make it
//! try while no request does.
//!
//! Errors are logged with the user's own label for what failed (hex key names, a quota's scope),
//! never with a subject, and counted for readiness. The warning is logged once per outage (when
//! Redis turns unreachable), so an outage under load does not flood the log.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{cmd, Cmd, FromRedisValue, RedisResult};

/// How often the probe asks Redis whether it is there.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one connection attempt may take (a probe may wait that long for it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The command did not happen: Redis is marked unreachable, failed, or did not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

/// Whether a command is skipped while Redis is marked unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Request path: skip, so an outage costs requests nothing.
    WhenReachable,
    /// An operator asked (a purge): try anyway.
    Always,
}

/// Who uses the link, for its log lines and its gauge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Purpose {
    /// What turns off with Redis, e.g. "the shared cache tier".
    pub(crate) what: &'static str,
    /// What happens meanwhile, e.g. "requests go on with the local cache and iCasework".
    pub(crate) meanwhile: &'static str,
    /// The setting that bounds each command, for the timeout's error message.
    pub(crate) timeout_key: &'static str,
    /// Told whenever Redis turns reachable (`true`) or unreachable (`false`).
    pub(crate) on_change: fn(bool),
}

/// Redis's health as readiness shows it: not reachable means degraded (the gateway serves on
/// without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedStatus {
    /// The last command or probe got its answer in time.
    pub reachable: bool,
    pub last_error_at: Option<SystemTime>,
    /// Commands and probes that failed or timed out since start.
    pub errors_total: u64,
}

/// The connection, cheap to clone.
#[derive(Clone)]
pub(crate) struct Link {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    timeout: Duration,
    health: Health,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Connects lazily (the probe makes the first attempt at once), so a gateway starts and
    /// serves while Redis is down. Must be called within a Tokio runtime.
    pub(crate) fn new(
        connection: redis::ConnectionInfo,
        operation_timeout: Duration,
        purpose: Purpose,
    ) -> RedisResult<Link> {
        let client = redis::Client::open(connection)?;
        // Reconnect quickly after a restart of Redis: at most a second between attempts.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        let inner = Arc::new(Inner {
            conn,
            timeout: operation_timeout,
            health: Health::new(purpose),
        });
        (purpose.on_change)(false);
        tokio::spawn(probe(Arc::downgrade(&inner)));
        Ok(Link { inner })
    }

    pub(crate) fn status(&self) -> SharedStatus {
        self.inner.health.status()
    }

    /// Runs `command`; `operation` and `label` name it in the log (never anything personal).
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        gate: Gate,
        operation: &'static str,
        label: &str,
        command: &Cmd,
    ) -> Result<T, Unavailable> {
        let mut conn = self.inner.conn.clone();
        self.bounded(gate, operation, label, async move {
            command.query_async(&mut conn).await
        })
        .await
    }

    /// Runs `script` (EVALSHA, loading it on the first NOSCRIPT) with `invocation`'s keys and
    /// arguments.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        operation: &'static str,
        label: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, Unavailable> {
        let mut conn = self.inner.conn.clone();
        self.bounded(Gate::WhenReachable, operation, label, async move {
            invocation.invoke_async(&mut conn).await
        })
        .await
    }

    async fn bounded<T>(
        &self,
        gate: Gate,
        operation: &'static str,
        label: &str,
        command: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Unavailable> {
        let health = &self.inner.health;
        if gate == Gate::WhenReachable && !health.reachable.load(Ordering::Acquire) {
            return Err(Unavailable);
        }
        let error = match tokio::time::timeout(self.inner.timeout, command).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {} ({})",
                health.purpose.timeout_key,
                humantime::format_duration(self.inner.timeout)
            ),
        };
        health.failed(operation, label, &error);
        Err(Unavailable)
    }
}

/// Pings Redis every [`PROBE_INTERVAL`] for as long as the link exists.
async fn probe(inner: Weak<Inner>) {
    loop {
        let Some(link) = inner.upgrade() else {
            return;
        };
        // While unreachable, give a (re)connection time to complete; once reachable, an answer
        // slower than a request may wait for counts as a failure.
        let budget = if link.health.reachable.load(Ordering::Acquire) {
            link.timeout
        } else {
            link.timeout.max(CONNECT_TIMEOUT)
        };
        let mut conn = link.conn.clone();
        match tokio::time::timeout(budget, cmd("PING").query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => link.health.answered(),
            Ok(Err(e)) => link.health.failed("PING", "", &e.to_string()),
            Err(_) => link.health.failed("PING", "", "no answer in time"),
        }
        drop(link);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// What readiness and the logs learn about Redis.
struct Health {
    purpose: Purpose,
    /// Unknown until the first probe answers; requests skip Redis until then.
    reachable: AtomicBool,
    errors: AtomicU64,
    /// Unix milliseconds of the last failure; 0: none yet.
    last_error_ms: AtomicU64,
}

impl Health {
    fn new(purpose: Purpose) -> Health {
        Health {
            purpose,
            reachable: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            last_error_ms: AtomicU64::new(0),
        }
    }

    fn answered(&self) {
        if !self.reachable.swap(true, Ordering::AcqRel) {
            (self.purpose.on_change)(true);
            tracing::info!("Redis answers: {} is on", self.purpose.what);
        }
    }

    fn failed(&self, operation: &str, label: &str, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_error_ms
            .store(millis(now).max(1), Ordering::Relaxed);
        if self.reachable.swap(false, Ordering::AcqRel) {
            (self.purpose.on_change)(false);
            tracing::warn!(
                operation,
                key = label,
                error,
                "Redis failed: {} is off until it answers again; {}",
                self.purpose.what,
                self.purpose.meanwhile,
            );
        } else {
            tracing::debug!(operation, key = label, error, "Redis is still unreachable");
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

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A connection's address for `Debug` output: the URL without the password, whose presence
/// shows as `[REDACTED]`.
pub(crate) struct Address<'a>(pub(crate) &'a redis::ConnectionInfo);

impl std::fmt::Debug for Address<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = self.0.redis_settings();
        write!(f, "redis://{}/{}", self.0.addr(), settings.db())?;
        if settings.password().is_some() {
            write!(f, " (password [REDACTED])")?;
        }
        Ok(())
    }
}
