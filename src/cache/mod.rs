//! The response cache: redacted reports kept per canonical parameter set and column profile, so
//! one upstream call serves every caller who may see that report.
//!
//! - `key`: what an answer is filed under (parameters + the fingerprint of the column rules that
//!   redacted it: a body is never served to a caller whose rules differ).
//! - `entry`: one answer, in both encodings with their ETags, and its lifetime (fresh, then
//!   stale-while-revalidate, then stale-if-error; never past the end of its timeframe).
//! - `window`: when relative timeframes change (local midnight).
//! - here: the store (moka, weighed in bytes, each entry kept until it may no longer be served)
//!   and coalescing: concurrent fills of one key share one upstream request and its result,
//!   errors included. The fill runs as its own task, so a caller that goes away does not cancel
//!   the work the others wait for.
//! - `shared`: the optional second tier in Redis, shared by replicas (see its docs); a fill
//!   looks there before it calls iCasework, and stores there what it got.
//!
//! What a fill does (call iCasework through redaction, read the body) is the server's business:
//! `server::cache` passes it in as a future.

mod entry;
mod key;
mod shared;
mod window;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use moka::notification::RemovalCause;

pub use self::entry::{Entry, Freshness, Lifetime, Report, Representation, Stored, HIT_HEAD_BYTES};
use self::key::KeyRef;
pub use self::key::{CacheKey, Profile};
use self::shared::SharedTier;
pub use self::shared::{EncryptionKey, RedisConfig, SharedCounters, SharedStatus};
pub use self::window::window_end;
use crate::error::Error;
use crate::params::CanonicalParams;

/// The cache's settings (`[cache]` in the configuration).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Off: every request goes to iCasework (`X-Cache: BYPASS`).
    pub enabled: bool,
    /// All entries together, in bytes (both encodings of each body).
    pub max_bytes: u64,
    /// A report whose redacted body is larger streams through uncached.
    pub max_entry_bytes: u64,
    /// Freshness when the grant sets no `cache_ttl`.
    pub ttl: Duration,
    /// How long past its freshness a stale entry is served while one refresh runs.
    pub stale_while_revalidate: Duration,
    /// How long past its freshness a stale entry is served when iCasework fails.
    pub stale_if_error: Duration,
    /// How long "report not found" (8051) is remembered; zero: not at all.
    pub negative_ttl: Duration,
    /// The iCasework account's time zone: relative timeframes end at its midnight.
    pub time_zone: chrono_tz::Tz,
    /// The shared tier in Redis; `None` (the default): this process's cache only.
    pub redis: Option<RedisConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_bytes: 256 << 20,
            max_entry_bytes: 8 << 20,
            ttl: Duration::from_secs(60),
            stale_while_revalidate: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            time_zone: chrono_tz::Europe::London,
            redis: None,
        }
    }
}

/// Why a fill gave no entry. Shared by everyone who waited for the fill.
#[derive(Debug, Clone)]
pub enum FillError {
    /// The fill failed; every caller who waited gets this error.
    Failed(Arc<Error>),
    /// The body was larger than `max_entry_bytes`: it went to the caller who started the fill,
    /// uncached; the others must fetch their own.
    TooLarge,
}

/// The result of a fill.
pub type Filled = Result<Arc<Entry>, FillError>;

/// Where a fill may take its answer from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fresh entry another replica put in the shared tier, else iCasework.
    Any,
    /// iCasework: the caller asked for a refresh (`no-cache`, where its grant allows it).
    Upstream,
}

/// Whether a caller started the fill it waited for or joined one already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

type Inflight = Arc<Mutex<HashMap<CacheKey, Shared<BoxFuture<'static, Filled>>>>>;

/// Counts for tests and metrics.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Fills started (upstream requests made for the cache, unless the shared tier answered).
    pub fills: AtomicU64,
    /// Callers who waited for a fill another caller started.
    pub coalesced: AtomicU64,
    /// Entries removed to stay within `max_bytes`.
    pub evicted: AtomicU64,
}

/// The store and its coalescing. Cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    config: Arc<CacheConfig>,
    // The sync flavour: a hit is looked up without a future (the server answers fresh hits
    // synchronously), and nothing here waits on anything but the store's own short locks.
    // foldhash rather than moka's default SipHash: a key is hashed on every request, and the
    // store needs spread, not resistance to chosen keys (a caller chooses only among the keys
    // its grants allow, each costing an upstream request to create).
    entries: moka::sync::Cache<CacheKey, Arc<Entry>, foldhash::quality::RandomState>,
    inflight: Inflight,
    counters: Arc<CacheCounters>,
    shared: Option<SharedTier>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("config", &self.config)
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

/// Keeps each entry exactly as long as it may still be served.
struct KeepWhileServable;

impl moka::Expiry<CacheKey, Arc<Entry>> for KeepWhileServable {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Arc<Entry>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(entry.keep_for(SystemTime::now()))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &Arc<Entry>,
        _now: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.keep_for(SystemTime::now()))
    }
}

impl ResponseCache {
    /// The store, with the shared tier when `config.redis` is set (which must then be called
    /// within a Tokio runtime: the tier's connection and probe are tasks).
    pub fn new(config: CacheConfig) -> ResponseCache {
        let counters = Arc::new(CacheCounters::default());
        let evictions = Arc::clone(&counters);
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &CacheKey, entry: &Arc<Entry>| {
                u32::try_from(key.weight() + entry.weight()).unwrap_or(u32::MAX)
            })
            .expire_after(KeepWhileServable)
            .eviction_listener(move |_key, _entry, cause| {
                if cause == RemovalCause::Size {
                    evictions.evicted.fetch_add(1, Ordering::Relaxed);
                }
                let cause = match cause {
                    RemovalCause::Expired => "expired",
                    RemovalCause::Size => "size",
                    RemovalCause::Explicit => "explicit",
                    RemovalCause::Replaced => "replaced",
                };
                crate::metrics::metrics()
                    .cache_evictions
                    .with_label_values(&[cause])
                    .inc();
            })
            .build_with_hasher(foldhash::quality::RandomState::default());
        let shared = config
            .redis
            .as_ref()
            .and_then(|redis| SharedTier::new(redis, config.max_entry_bytes));
        ResponseCache {
            config: Arc::new(config),
            entries,
            inflight: Arc::default(),
            counters,
            shared,
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// The shared tier's health, when there is one (readiness reports degraded while Redis is
    /// unreachable; requests are served all the same).
    pub fn shared_status(&self) -> Option<SharedStatus> {
        self.shared.as_ref().map(SharedTier::status)
    }

    /// What the shared tier did, when there is one.
    pub fn shared_counters(&self) -> Option<&SharedCounters> {
        self.shared.as_ref().map(SharedTier::counters)
    }

    /// The entry filed under `key`, fresh or not (the caller asks [`Entry::freshness`]).
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.lookup(key.params(), key.profile())
    }

    /// [`ResponseCache::get`] by the key's parts, borrowed: nothing is cloned or allocated, and
    /// nothing waits.
    pub fn lookup(&self, params: &CanonicalParams, profile: Profile) -> Option<Arc<Entry>> {
        self.entries.get(&KeyRef::new(params, profile))
    }

    /// Runs `fill` for `key` unless a fill for it is already running, in which case this waits
    /// for that one instead. The entry a fill returns is stored (when it may be served at all)
    /// before anyone sees it, so a caller arriving later finds it in the store.
    pub async fn fill<F>(&self, key: &CacheKey, fill: F) -> (Filled, Role)
    where
        F: Future<Output = Result<Entry, FillError>> + Send + 'static,
    {
        self.fill_from(key, Source::Any, fill).await
    }

    /// [`ResponseCache::fill`], saying where the answer may come from. A caller joining a fill
    /// already running gets that fill's answer, whatever its source.
    pub async fn fill_from<F>(&self, key: &CacheKey, source: Source, fill: F) -> (Filled, Role)
    where
        F: Future<Output = Result<Entry, FillError>> + Send + 'static,
    {
        let (shared, role) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match inflight.get(key) {
                Some(running) => (running.clone(), Role::Follower),
                None => {
                    let shared = self.start(key.clone(), source, fill);
                    inflight.insert(key.clone(), shared.clone());
                    (shared, Role::Leader)
                }
            }
        };
        let counter = match role {
            Role::Leader => &self.counters.fills,
            Role::Follower => &self.counters.coalesced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if role == Role::Follower {
            crate::metrics::metrics().cache_coalesced_waits.inc();
        }
        (shared.await, role)
    }

    /// Waits for the fill of `key` that is running, if one is, and shares its result; `None`
    /// when none is (the caller then decides whether to start one).
    pub async fn join(&self, key: &CacheKey) -> Option<Filled> {
        let running = self
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()?;
        self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
        crate::metrics::metrics().cache_coalesced_waits.inc();
        Some(running.await)
    }

    fn start<F>(&self, key: CacheKey, source: Source, fill: F) -> Shared<BoxFuture<'static, Filled>>
    where
        F: Future<Output = Result<Entry, FillError>> + Send + 'static,
    {
        let entries = self.entries.clone();
        let inflight = Arc::clone(&self.inflight);
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            // Until the entry is stored, newcomers must join this fill; after (or if the fill
            // panics) they must not.
            let _done = Done {
                inflight,
                key: key.clone(),
            };
            let filled = match &shared {
                Some(shared) => shared.fill(&key, source, fill).await,
                None => fill.await.map(Arc::new),
            };
            match filled {
                Ok(entry) => {
                    if entry.freshness(SystemTime::now()) != Freshness::Expired {
                        entries.insert(key.clone(), Arc::clone(&entry));
                    }
                    Ok(entry)
                }
                Err(e) => Err(e),
            }
        });
        async move {
            task.await.unwrap_or_else(|_| {
                Err(FillError::Failed(Arc::new(Error::Internal(
                    "a cache fill panicked",
                ))))
            })
        }
        .boxed()
        .shared()
    }
}

/// Takes a finished fill out of the in-flight map.
struct Done {
    inflight: Inflight,
    key: CacheKey,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl ResponseCache {
    /// Removes every entry of `report` (or every entry), returning how many went from this
    /// process. The shared tier's entries go too (logged; other replicas keep their own copies
    /// until they expire). A fill already running stores its answer when it completes.
    pub async fn purge(&self, report: Option<u64>) -> u64 {
        let mut purged = 0;
        for (key, _) in self.entries.iter() {
            if report.is_none_or(|r| key.report() == r) {
                self.entries.invalidate(&*key);
                purged += 1;
            }
        }
        if let Some(shared) = &self.shared {
            shared.purge(report).await;
        }
        purged
    }

    /// Lets the store finish its pending bookkeeping (expiries, evictions, weights), so that
    /// [`size`](Self::size) right after is exact.
    pub fn settle(&self) {
        self.entries.run_pending_tasks();
    }

    /// Entries and their weight in bytes, as the store counts them now.
    pub fn size(&self) -> (u64, u64) {
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}
