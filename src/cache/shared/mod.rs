//! The shared tier (optional, `[cache.redis]`): entries kept in Redis too, so replicas behind a
//! load balancer call iCasework once per report per TTL between them.
//!
//! - `names`: Redis key names, which hold no parameter value.
//! - `codec`: an entry as bytes at rest: gzip, then AES-256-GCM with a key id (keys rotate).
//! - `store`: the commands, over `crate::redis_link` (every command bounded by
//!   `operation_timeout`; Redis failing or slow turns the tier off until a probe finds it
//!   again, so it never fails a request).
//! - here: what a fill does around its upstream request (from the moka fill task, after local
//!   coalescing):
//!   1. a fresh entry in Redis answers it (no upstream request);
//!   2. otherwise it takes the fill lock (`SET NX PX lock_ttl`), looks once more (the holder
//!      before it may have just stored and released), fills, stores and releases;
//!   3. when another replica holds the lock, it looks for that replica's entry every
//!      `wait_for_lock`, and fills by itself once the lock is free or `lock_ttl` has passed.
//!
//! A refresh the caller asked for (`no-cache`) skips step 1 and does not wait in step 3.
//! Purge removes a report's entries through its index (see `names`), or every key of the
//! namespace by `SCAN`.

mod codec;
mod names;
mod store;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretSlice;

use self::codec::{CodecError, Keyring};
use self::names::Names;
use self::store::Store;
use super::{CacheKey, Entry, FillError, Freshness, Source};
use crate::redis_link::{Address, Unavailable};

/// `[cache.redis]`, validated.
#[derive(Clone)]
pub struct RedisConfig {
    /// Where Redis is, with the password when one is configured.
    pub connection: redis::ConnectionInfo,
    /// Prefix of every key name.
    pub namespace: String,
    /// The first seals new entries; each opens the entries sealed under its id.
    pub keys: Vec<EncryptionKey>,
    /// The longest any Redis command may take before the request goes on without it.
    pub operation_timeout: Duration,
    /// How long a replica's fill lock lasts, and how long others wait for its entry.
    pub lock_ttl: Duration,
    /// How often a waiting replica looks for the entry.
    pub wait_for_lock: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("connection", &Address(&self.connection))
            .field("namespace", &self.namespace)
            .field("keys", &self.keys)
            .field("operation_timeout", &self.operation_timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("wait_for_lock", &self.wait_for_lock)
            .finish()
    }
}

/// An AES-256 key for entries at rest. `Debug` shows the id only.
#[derive(Clone, Debug)]
pub struct EncryptionKey {
    /// Written into every entry it seals, so the right key opens it after a rotation.
    pub id: String,
    /// Exactly 32 bytes.
    pub secret: SecretSlice<u8>,
}

pub use crate::redis_link::SharedStatus;

/// What the shared tier did, for tests and metrics.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Fills answered from Redis (no upstream request).
    pub hits: AtomicU64,
    /// Entries written to Redis.
    pub stored: AtomicU64,
    /// Fills that waited for another replica's lock.
    pub waited: AtomicU64,
    /// Values that could not be opened (a key id not configured, failed authentication, a
    /// format of another version): misses.
    pub unreadable: AtomicU64,
}

/// The tier, cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct SharedTier {
    inner: Arc<Tier>,
}

#[derive(Debug)]
struct Tier {
    store: Store,
    keyring: Keyring,
    namespace: String,
    lock_ttl: Duration,
    wait_for_lock: Duration,
    max_entry_bytes: usize,
    counters: SharedCounters,
}

/// How a fill stands after looking in Redis.
enum Claim {
    /// Another replica's fresh entry.
    Answered(Arc<Entry>),
    /// This fill holds the lock (with this token).
    Locked(String),
    /// Fill without the lock: Redis is unavailable, or waiting for the holder took too long.
    Alone,
}

impl SharedTier {
    /// `None` (logged) if the configuration cannot be used; validation refuses such files.
    /// Must be called within a Tokio runtime.
    pub(crate) fn new(config: &RedisConfig, max_entry_bytes: u64) -> Option<SharedTier> {
        let Some(keyring) = Keyring::new(&config.keys) else {
            tracing::error!("cache.redis.keys: no usable key; the shared tier is off");
            return None;
        };
        let store = Store::new(config)
            .inspect_err(|e| tracing::error!(error = %e, "cache.redis: the shared tier is off"))
            .ok()?;
        Some(SharedTier {
            inner: Arc::new(Tier {
                store,
                keyring,
                namespace: config.namespace.clone(),
                lock_ttl: config.lock_ttl,
                wait_for_lock: config.wait_for_lock,
                max_entry_bytes: usize::try_from(max_entry_bytes).unwrap_or(usize::MAX),
                counters: SharedCounters::default(),
            }),
        })
    }

    pub(crate) fn status(&self) -> SharedStatus {
        self.inner.store.status()
    }

    pub(crate) fn counters(&self) -> &SharedCounters {
        &self.inner.counters
    }

    /// Removes the shared entries of `report`, or every key of the namespace; `None` when Redis
    /// did not answer (the entries then expire by themselves).
    pub(crate) async fn purge(&self, report: Option<u64>) -> Option<u64> {
        let store = &self.inner.store;
        let namespace = &self.inner.namespace;
        let removed = match report {
            // Through the report's index. An entry stored while this runs may escape it; it
            // expires like any other.
            Some(id) => {
                let index = names::report_index(namespace, id);
                async {
                    let entries = store.members(&index).await?;
                    let removed = store.delete(&entries).await?;
                    store.delete(std::slice::from_ref(&index)).await?;
                    Ok::<_, Unavailable>(removed)
                }
                .await
            }
            // Everything of this layout in the namespace: entries, indexes and locks.
            None => {
                let pattern = names::everything(namespace);
                let (mut cursor, mut removed) = (0, 0);
                loop {
                    let Ok((next, found)) = store.scan(cursor, &pattern).await else {
                        break Err(Unavailable);
                    };
                    if store.delete(&found).await.is_err() {
                        break Err(Unavailable);
                    }
                    removed += found.iter().filter(|k| k.contains(":v1:entry:")).count() as u64;
                    if next == 0 {
                        break Ok(removed);
                    }
                    cursor = next;
                }
            }
        };
        match removed {
            Ok(n) => tracing::info!(report, removed = n, "shared cache entries purged"),
            Err(Unavailable) => tracing::warn!(
                report,
                "shared cache entries not purged: Redis did not answer (they expire by themselves)"
            ),
        }
        removed.ok()
    }

    /// Answers `key` from Redis, or runs `fill` under the cross-replica lock and stores what
    /// it returns.
    pub(crate) async fn fill<F>(
        &self,
        key: &CacheKey,
        source: Source,
        fill: F,
    ) -> Result<Arc<Entry>, FillError>
    where
        F: Future<Output = Result<Entry, FillError>>,
    {
        let names = Names::new(&self.inner.namespace, key);
        let claim = match source {
            Source::Any => self.claim(&names).await,
            Source::Upstream => {
                let token = token();
                match self
                    .inner
                    .store
                    .lock(&names.lock, &token, self.inner.lock_ttl)
                    .await
                {
                    Ok(true) => Claim::Locked(token),
                    _ => Claim::Alone,
                }
            }
        };
        let token = match claim {
            Claim::Answered(entry) => return Ok(entry),
            Claim::Locked(token) => Some(token),
            Claim::Alone => None,
        };
        match fill.await {
            Ok(entry) => Ok(self.put(&names, Arc::new(entry), token).await),
            Err(e) => {
                if let Some(token) = token {
                    let _ = self.inner.store.unlock(&names.lock, &token).await;
                }
                Err(e)
            }
        }
    }

    async fn claim(&self, names: &Names) -> Claim {
        let tier = &self.inner;
        let started = Instant::now();
        let token = token();
        let mut waited = false;
        loop {
            match self.fresh(names).await {
                Ok(Some(entry)) => return Claim::Answered(entry),
                Ok(None) => {}
                Err(Unavailable) => return Claim::Alone,
            }
            match tier.store.lock(&names.lock, &token, tier.lock_ttl).await {
                Ok(true) => {
                    // The holder before us may have stored and released between our GET and
                    // our SET: look once more rather than call iCasework twice.
                    if let Ok(Some(entry)) = self.fresh(names).await {
                        let _ = tier.store.unlock(&names.lock, &token).await;
                        return Claim::Answered(entry);
                    }
                    return Claim::Locked(token);
                }
                Ok(false) if started.elapsed() + tier.wait_for_lock < tier.lock_ttl => {
                    if !waited {
                        tier.counters.waited.fetch_add(1, Ordering::Relaxed);
                        waited = true;
                    }
                    tokio::time::sleep(tier.wait_for_lock).await;
                }
                Ok(false) => {
                    tracing::info!(
                        lock = %names.lock,
                        "another replica held the fill lock for cache.redis.lock_ttl: filling here too"
                    );
                    return Claim::Alone;
                }
                Err(Unavailable) => return Claim::Alone,
            }
        }
    }

    /// The fresh entry Redis holds under `names`; a stale or unreadable one is a miss.
    async fn fresh(&self, names: &Names) -> Result<Option<Arc<Entry>>, Unavailable> {
        let Some(value) = self.inner.store.get(&names.entry).await? else {
            return Ok(None);
        };
        let tier = Arc::clone(&self.inner);
        let name = names.entry.clone();
        // Inflating a large body takes milliseconds: off the async workers.
        let opened = tokio::task::spawn_blocking(move || {
            tier.keyring.open(&name, &value, tier.max_entry_bytes)
        })
        .await
        .unwrap_or(Err(CodecError::Format("the decoding task failed")));
        match opened {
            Ok(entry) if entry.freshness(SystemTime::now()) == Freshness::Fresh => {
                self.inner.counters.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(Arc::new(entry)))
            }
            Ok(_) => Ok(None),
            Err(error) => {
                self.inner
                    .counters
                    .unreadable
                    .fetch_add(1, Ordering::Relaxed);
                match &error {
                    CodecError::UnknownKey(_) => {
                        tracing::debug!(key = %names.entry, %error, "shared entry skipped")
                    }
                    _ => tracing::warn!(key = %names.entry, %error, "shared entry skipped"),
                }
                Ok(None)
            }
        }
    }

    /// Stores `entry` for as long as it may be served and releases the lock `token`.
    async fn put(&self, names: &Names, entry: Arc<Entry>, token: Option<String>) -> Arc<Entry> {
        let tier = &self.inner;
        let keep_for = entry.keep_for(SystemTime::now());
        let sealed = if keep_for.is_zero() {
            None
        } else {
            let (tier, name, entry) = (Arc::clone(tier), names.entry.clone(), Arc::clone(&entry));
            // Sealing a large body takes milliseconds: off the async workers.
            let task = tokio::task::spawn_blocking(move || tier.keyring.seal(&name, &entry));
            Some(task.await.unwrap_or(Err(CodecError::Seal)))
        };
        match sealed {
            Some(Ok(value)) => {
                if tier
                    .store
                    .put(names, value, keep_for, token.as_deref())
                    .await
                    .is_ok()
                {
                    tier.counters.stored.fetch_add(1, Ordering::Relaxed);
                }
                // On failure the lock, if ours, expires by itself after lock_ttl.
            }
            other => {
                if let Some(Err(error)) = other {
                    tracing::warn!(key = %names.entry, %error, "shared entry not stored");
                }
                if let Some(token) = token {
                    let _ = tier.store.unlock(&names.lock, &token).await;
                }
            }
        }
        entry
    }
}

/// A random lock token, so a replica only ever releases its own lock.
fn token() -> String {
    let mut bytes = [0u8; 16];
    // The system CSPRNG does not fail on supported platforms; a fixed token would only make
    // two replicas' locks indistinguishable, never break a request.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
