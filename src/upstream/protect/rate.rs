//! The global request rate to iCasework (GCRA, governor's direct limiter), with bounded,
//! first-come-first-served waiting.
//!
//! The limiter is behind [`UpstreamRate`] so that a shared backend (Redis, for an exact rate
//! across replicas) can be added as another [`Backend`] without touching its callers: they ask
//! for one request's worth and are told "go" or "not before".

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::time::Instant;

use crate::policy::Rate;

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
}

impl Backend {
    /// Takes one request's worth now, or says how long until one is available.
    // Async because a shared backend will ask over the network.
    async fn take(&self) -> Result<(), Duration> {
        match self {
            Backend::Local(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(limiter.clock().now())),
        }
    }
}

impl UpstreamRate {
    /// `rate.requests` per `rate.per`, bursts of up to `rate.burst`.
    pub(crate) fn local(rate: Rate) -> Self {
        let period = rate.per / rate.requests.max(1);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN));
        UpstreamRate {
            backend: Backend::Local(DefaultDirectRateLimiter::direct(quota)),
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
        let rate = UpstreamRate::local(Rate::parse("20/second").unwrap());
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
