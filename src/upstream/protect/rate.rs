//! The global request rate to iCasework (GCRA, governor's direct limiter), with bounded,
//! first-come-first-served waiting.
//!
//! With `[limits.redis]` the rate is kept in Redis (the callers' quotas' GCRA script, one key for
//! all replicas), so N replicas send iCasework the rate once between them; while Redis is
//! unavailable each replica keeps its share of it (`rate / limits.redis.replicas`) locally.
//! Callers ask for one request's worth and are told "go" or "not before", whichever backend
//! answers.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::time::Instant;

use crate::limit::SharedLimits;
use crate::policy::Rate;
use crate::redis_link::Unavailable;

/// The rate of requests casegate sends to iCasework, across all callers.
#[derive(Debug)]
pub(crate) struct UpstreamRate {
    backend: Backend,
    /// Waiters take turns (tokio's mutex is fair), so the longest waiting request goes first
    /// and a burst of waiters does not wake together to race for one cell.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
enum Backend {
    /// This process's own count.
    Local(DefaultDirectRateLimiter),
    /// The replicas' count in Redis under `name`; `fallback` holds this replica's share.
    Shared {
        redis: SharedLimits,
        name: String,
        rate: Rate,
        fallback: DefaultDirectRateLimiter,
    },
}

impl Backend {
    /// Takes one request's worth now, or says how long until one is available.
    async fn take(&self) -> Result<(), Duration> {
        match self {
            Backend::Local(limiter) => take_local(limiter),
            Backend::Shared {
                redis,
                name,
                rate,
                fallback,
            } => match redis.spend(name, "upstream", rate).await {
                Ok(spent) if spent.allowed => Ok(()),
                Ok(spent) => Err(spent.retry_after),
                Err(Unavailable) => {
                    redis.fell_back();
                    take_local(fallback)
                }
            },
        }
    }
}

fn take_local(limiter: &DefaultDirectRateLimiter) -> Result<(), Duration> {
    limiter
        .check()
        .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
}

/// governor's limiter for `rate.requests` per `rate.per`, bursts of up to `rate.burst`.
fn direct(rate: &Rate) -> DefaultDirectRateLimiter {
    let period = rate.per / rate.requests.max(1);
    let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN));
    DefaultDirectRateLimiter::direct(quota)
}

impl UpstreamRate {
    /// `rate.requests` per `rate.per`, bursts of up to `rate.burst`: in this process, or shared
    /// through `shared` when given.
    pub(crate) fn new(rate: Rate, shared: Option<&SharedLimits>) -> Self {
        let backend = match shared {
            None => Backend::Local(direct(&rate)),
            Some(redis) => Backend::Shared {
                name: redis.upstream_name(&rate),
                fallback: direct(&redis.share(&rate)),
                redis: redis.clone(),
                rate,
            },
        };
        UpstreamRate {
            backend,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for one request's worth until `until` at the latest. `Err` says when the rate
    /// would have allowed it: a wait that cannot end in time is not begun.
    pub(crate) async fn acquire(&self, until: Instant) -> Result<(), Duration> {
        let Ok(_turn) = tokio::time::timeout_at(until, self.turn.lock()).await else {
            return Err(Duration::from_secs(1));
        };
        loop {
            match self.backend.take().await {
                Ok(()) => return Ok(()),
                Err(wait) if Instant::now() + wait > until => return Err(wait),
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bursts_then_spaces_requests_and_refuses_waits_past_the_deadline() {
        let rate = UpstreamRate::new(Rate::parse("20/second").unwrap(), None);
        let now = Instant::now;
        for _ in 0..20 {
            assert_eq!(rate.acquire(now()).await, Ok(()), "the burst");
        }
        let wait = rate.acquire(now()).await.unwrap_err();
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
        let started = now();
        rate.acquire(now() + Duration::from_secs(1)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
