//! Callers' quotas: plain code with no HTTP in it, for `server::limit` to apply.
//!
//! - `key`: whose quota a request spends (the caller under its grant, by subject or by a claim
//!   the grant names; per report where a per-report quota applies).
//! - `plan`: which quotas a request spends, from the grant's rates or the configured defaults.
//! - `local`: the quotas' state in this process (governor's GCRA), bounded in memory.
//! - `shared`: the quotas' state in Redis (GCRA in a Lua script), shared by the replicas, with
//!   this process's share of each quota as the fallback while Redis is unavailable.
//! - here: [`Limiter`], the one type the server uses. Where the state lives is its business;
//!   nothing that calls [`Limiter::check`] knows.
//!
//! Every quota is a token bucket of `burst` units refilled one every `per / requests`
//! (GCRA): `burst` requests pass at once, then one per interval.

mod key;
mod local;
mod plan;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use governor::clock::DefaultClock;
use tokio::sync::Notify;

pub use self::key::{CallerId, Key, Scope};
pub use self::plan::{LimitConfig, Plan};
pub use self::shared::{SharedConfig, SharedLimits};
use crate::policy::Rate;
pub use crate::redis_link::SharedStatus;
use crate::redis_link::Unavailable;

/// A quota's state after a request spent from it (or was refused), as the RateLimit fields
/// tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The burst: the most requests accepted at once.
    pub limit: u32,
    /// Requests that would be accepted now.
    pub remaining: u32,
    /// Until the quota is full again (`remaining == limit`); for a refused request, until the
    /// next request would be accepted (the same moment as Retry-After).
    pub reset: Duration,
}

impl State {
    /// A quota nothing was spent from.
    pub fn full(rate: &Rate) -> State {
        State {
            limit: rate.burst,
            remaining: rate.burst,
            reset: Duration::ZERO,
        }
    }

    /// Of two quotas, the one closer to running out: fewer remaining, then the later reset.
    /// The RateLimit fields show that one (the draft's rule for several quotas).
    pub fn tighter(self, other: State) -> State {
        if (other.remaining, std::cmp::Reverse(other.reset))
            < (self.remaining, std::cmp::Reverse(self.reset))
        {
            other
        } else {
            self
        }
    }
}

/// A refused request: which quota, and how long until it would be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denied {
    pub scope: Scope,
    pub retry_after: Duration,
    /// The quota's state: nothing remaining, reset at `retry_after`.
    pub state: State,
}

/// Where quotas are kept.
#[derive(Debug)]
enum Backend {
    /// In this process: exact for this replica only.
    Local(local::Local<DefaultClock>),
    /// In Redis: exact across replicas. `fallback` holds this replica's share of each quota
    /// while Redis is unavailable (and only then: while Redis answers it holds no keys).
    Shared {
        redis: SharedLimits,
        fallback: local::Local<DefaultClock>,
    },
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    /// Wakes the sweeper early when the limiter is full.
    full: Notify,
}

/// The callers' quotas. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Limiter(Arc<Inner>);

impl Limiter {
    /// Quotas kept in this process, bounded by `config.max_keys`, or in Redis when
    /// `config.redis` is set (which must then be called within a Tokio runtime: the connection
    /// and its probe are tasks).
    pub fn new(config: &LimitConfig) -> Limiter {
        let local = local::Local::new(
            DefaultClock::default(),
            config.max_keys,
            config.sweep_interval,
        );
        let backend = match config.redis.as_ref().and_then(SharedLimits::new) {
            Some(redis) => Backend::Shared {
                redis,
                fallback: local,
            },
            None => Backend::Local(local),
        };
        Limiter(Arc::new(Inner {
            backend,
            full: Notify::new(),
        }))
    }

    /// The quotas in Redis, when configured (the global rate to iCasework shares them).
    pub fn shared(&self) -> Option<&SharedLimits> {
        match &self.0.backend {
            Backend::Local(_) => None,
            Backend::Shared { redis, .. } => Some(redis),
        }
    }

    /// Redis's health, when quotas are kept there (readiness reports degraded while Redis is
    /// unreachable; quotas are then answered locally).
    pub fn shared_status(&self) -> Option<SharedStatus> {
        self.shared().map(SharedLimits::status)
    }

    /// Spends one unit of `rate` under `key`, or says why not and until when. Async because a
    /// shared backend answers over the network; the local one answers at once.
    pub async fn check(&self, key: &Key, rate: &Rate) -> Result<State, Denied> {
        let verdict = self.check_each(&[(*key, *rate)]).await;
        // One quota: a state whenever it was allowed.
        verdict.map(|state| state.unwrap_or(State::full(rate)))
    }

    /// Spends one unit of each quota in order and stops at the first that refuses (the quotas
    /// before it stay spent; the one that refused spends nothing). The state shown is the
    /// tightest of those spent; `None` for no quotas. With Redis this is one round trip for
    /// them all, so a request with a caller and a per-report quota waits for Redis once.
    pub async fn check_each(&self, quotas: &[(Key, Rate)]) -> Result<Option<State>, Denied> {
        let verdict = match &self.0.backend {
            Backend::Local(local) => each(quotas, |key, rate| local.check(key, rate)),
            Backend::Shared { redis, fallback } => match redis.spend_each(quotas).await {
                Ok(spent) => {
                    let answers = quotas.iter().zip(spent);
                    each_answered(answers.map(|((key, rate), spent)| verdict(key, rate, spent)))
                }
                Err(Unavailable) => {
                    redis.fell_back();
                    each(quotas, |key, rate| fallback.check(key, &redis.share(rate)))
                }
            },
        };
        if let Err(Denied {
            scope: Scope::Capacity,
            ..
        }) = verdict
        {
            self.0.full.notify_one();
        }
        verdict
    }

    /// Removes idle keys (whose quotas are full again); returns how many keys are left.
    pub fn sweep(&self) -> usize {
        self.local().sweep()
    }

    /// The keys kept now.
    pub fn keys(&self) -> usize {
        self.local().keys()
    }

    /// Sweeps every `interval`, and sooner (at most once a second) when a request was refused
    /// because the limiter was full, until the returned guard is dropped. `on_sweep` gets the
    /// number of keys left (for the metrics).
    pub fn spawn_sweeper(
        &self,
        interval: Duration,
        on_sweep: impl Fn(usize) + Send + 'static,
    ) -> Sweeper {
        let limiter = self.clone();
        Sweeper(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = limiter.0.full.notified() => {}
                }
                let left = limiter.sweep();
                on_sweep(left);
                if limiter.is_full() {
                    tracing::warn!(
                        keys = left,
                        "the rate limiter holds its maximum of keys (limits.max_keys) after a \
                         sweep: requests of new callers are refused (429) until keys go idle"
                    );
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }

    fn is_full(&self) -> bool {
        self.local().is_full()
    }

    /// The quotas in this process: all of them, or the fallback's.
    fn local(&self) -> &local::Local<DefaultClock> {
        match &self.0.backend {
            Backend::Local(local)
            | Backend::Shared {
                fallback: local, ..
            } => local,
        }
    }
}

/// `check` on each quota in order until one refuses; the tightest state of those spent.
fn each(
    quotas: &[(Key, Rate)],
    check: impl Fn(&Key, &Rate) -> Result<State, Denied>,
) -> Result<Option<State>, Denied> {
    each_answered(quotas.iter().map(|(key, rate)| check(key, rate)))
}

fn each_answered(
    answers: impl Iterator<Item = Result<State, Denied>>,
) -> Result<Option<State>, Denied> {
    let mut shown: Option<State> = None;
    for answer in answers {
        let state = answer?;
        shown = Some(shown.map_or(state, |s| s.tighter(state)));
    }
    Ok(shown)
}

/// Redis's answer as the limiter's.
fn verdict(key: &Key, rate: &Rate, spent: shared::Spent) -> Result<State, Denied> {
    let state = State {
        limit: rate.burst,
        remaining: spent.remaining,
        reset: spent.reset,
    };
    if spent.allowed {
        Ok(state)
    } else {
        Err(Denied {
            scope: key.scope,
            retry_after: spent.retry_after,
            state,
        })
    }
}

/// The sweeper task; stops when dropped.
#[derive(Debug)]
pub struct Sweeper(tokio::task::JoinHandle<()>);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
