//! Quotas kept in this process: governor's GCRA over a concurrent map per distinct rate.
//!
//! governor gives one rate per limiter, and grants differ, so there is one keyed limiter per
//! distinct rate (a handful: as many as the policy and the defaults write). A policy reload
//! that changes a grant's rate starts its callers on a fresh bucket of the new rate; the old
//! limiter's keys go idle and are swept.
//!
//! Memory: every key counts towards `max_keys` (one counter across the limiters). A key whose
//! bucket is full again is indistinguishable from no key, and [`Local::sweep`] removes it
//! (`retain_recent`). At `max_keys`, a request that would add a key is refused (fail closed):
//! evicting live keys instead would hand their callers a fresh burst, so whoever could create
//! keys fast enough could reset quotas, their own included. Known keys keep working.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use super::key::{Key, Scope};
use super::{Denied, State};
use crate::policy::Rate;

/// A keyed limiter for one rate, and its map (which the limiter does not show).
struct Keyed<C: Clock> {
    limiter: RateLimiter<Key, Store, C, StateInformationMiddleware>,
    map: Arc<DashMapStateStore<Key>>,
}

/// The quotas of this process.
pub(super) struct Local<C: Clock> {
    clock: C,
    limiters: RwLock<HashMap<Rate, Arc<Keyed<C>>>>,
    keys: Arc<AtomicUsize>,
    max_keys: usize,
    /// What a request refused for capacity is told to wait: until the next sweep.
    retry_full: Duration,
}

impl<C: Clock> std::fmt::Debug for Local<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("keys", &self.keys.load(Ordering::Relaxed))
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone> Local<C> {
    pub(super) fn new(clock: C, max_keys: usize, retry_full: Duration) -> Self {
        Local {
            clock,
            limiters: RwLock::default(),
            keys: Arc::default(),
            max_keys,
            retry_full,
        }
    }

    /// Spends one unit of `rate` under `key`, or says when one will be there.
    pub(super) fn check(&self, key: &Key, rate: &Rate) -> Result<State, Denied> {
        // Checked under the read lock: no reference count to touch, and a sweep's write lock
        // (which drops empty limiters) waits for checks in progress.
        let limiters = self.read();
        match limiters.get(rate) {
            Some(keyed) => self.check_in(keyed, key, rate),
            None => {
                drop(limiters);
                self.add(rate);
                self.check(key, rate)
            }
        }
    }

    fn check_in(&self, keyed: &Keyed<C>, key: &Key, rate: &Rate) -> Result<State, Denied> {
        let limit = rate.burst;
        if self.keys.load(Ordering::Relaxed) >= self.max_keys && !keyed.map.contains_key(key) {
            return Err(Denied {
                scope: Scope::Capacity,
                retry_after: self.retry_full,
                state: State {
                    limit,
                    remaining: 0,
                    reset: self.retry_full,
                },
            });
        }
        match keyed.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(State {
                    limit,
                    remaining,
                    // The snapshot does not show when the bucket is full again; every used
                    // unit comes back one interval after the one before, so this is exact when
                    // the units were used at once and at most one interval high otherwise.
                    reset: rate.interval() * (limit - remaining),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(Denied {
                    scope: key.scope,
                    retry_after: wait,
                    state: State {
                        limit,
                        remaining: 0,
                        reset: wait,
                    },
                })
            }
        }
    }

    /// Whether `max_keys` is reached.
    pub(super) fn is_full(&self) -> bool {
        self.keys.load(Ordering::Relaxed) >= self.max_keys
    }

    /// The keys kept now (as counted; exact after a sweep).
    pub(super) fn keys(&self) -> usize {
        self.keys.load(Ordering::Relaxed)
    }

    /// Removes every key whose bucket is full again, and limiters left without keys that no
    /// request holds; recounts the keys. Returns the count.
    pub(super) fn sweep(&self) -> usize {
        let all: Vec<Arc<Keyed<C>>> = self.read().values().cloned().collect();
        for keyed in &all {
            keyed.limiter.retain_recent();
            keyed.limiter.shrink_to_fit();
        }
        drop(all);
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Under the write lock no request can be holding a limiter it got from the map.
        limiters.retain(|_, keyed| Arc::strong_count(keyed) > 1 || !keyed.map.is_empty());
        let count = limiters.values().map(|k| k.map.len()).sum();
        self.keys.store(count, Ordering::Relaxed);
        count
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Rate, Arc<Keyed<C>>>> {
        self.limiters.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the limiter for `rate` (on its first use).
    fn add(&self, rate: &Rate) {
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        limiters.entry(*rate).or_insert_with(|| {
            let map = Arc::new(DashMapStateStore::default());
            let store = Store {
                map: Arc::clone(&map),
                keys: Arc::clone(&self.keys),
            };
            let limiter = RateLimiter::<_, _, _, StateInformationMiddleware>::new(
                quota(rate),
                store,
                self.clock.clone(),
            );
            Arc::new(Keyed { limiter, map })
        });
    }
}

/// governor's quota for a rate: one unit back every `per / requests`, `burst` at once.
fn quota(rate: &Rate) -> Quota {
    // Rates are validated: requests ≥ 1 and per ≥ 1 s, so the interval is at least 1 µs.
    let interval = rate.interval().max(Duration::from_nanos(1));
    let burst = std::num::NonZeroU32::new(rate.burst).unwrap_or(std::num::NonZeroU32::MIN);
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MAX))
        .allow_burst(burst)
}

/// governor's concurrent map, counting the keys it adds in the count shared by all limiters.
struct Store {
    map: Arc<DashMapStateStore<Key>>,
    keys: Arc<AtomicUsize>,
}

impl StateStore for Store {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        // Two requests adding the same key at once count it twice until the next sweep
        // recounts: the bound errs on the safe side.
        self.keys.fetch_add(1, Ordering::Relaxed);
        let state = self.map.entry(*key).or_default();
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<Key> for Store {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.map, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.map);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
