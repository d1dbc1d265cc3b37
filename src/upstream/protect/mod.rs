//! Protecting iCasework from casegate: however many callers arrive, iCasework sees at most
//! `max_concurrent` requests at once and at most `rate` a second, is left alone as long as it
//! asked (429, or 503 with Retry-After), is not retried into the ground (only transient
//! failures, jittered backoff, a budget), and is given time to recover when it keeps failing
//! (the circuit breaker).
//!
//! It works per attempt, inside `Upstream::fetch`: that is where the response head is judged
//! before anything is handed on, which is the line retries must not cross, and where the body
//! is made whose end frees the attempt's slot. Order of an attempt: the hold (free, and
//! iCasework's own word), the breaker (fail fast), then the gate (a slot, then the rate).

mod breaker;
mod gate;
mod hold;
mod rate;
mod retry;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use self::breaker::{Breaker, CircuitState, Ticket};
use self::gate::Gate;
use self::hold::Hold;
use self::rate::UpstreamRate;
pub(crate) use self::retry::parse_retry_after;
use self::retry::{Decision, RetryBudget};
use super::error::{ThrottleReason, UpstreamError};
use crate::limit::SharedLimits;
use crate::metrics::metrics;
use crate::policy::Rate;

/// `[upstream.protection]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionConfig {
    /// Requests to iCasework in flight at once, from sending to the body's last byte.
    pub max_concurrent: usize,
    /// How long a request waits for a slot and for the rate before a 503.
    pub queue_timeout: Duration,
    /// Requests a second (or minute, ...) to iCasework, across all callers; `None`: unlimited.
    pub rate: Option<Rate>,
    /// Attempts after the first, for transient failures.
    pub retries: u32,
    /// The first backoff's ceiling; each retry doubles it.
    pub retry_backoff: Duration,
    /// The longest backoff, and the longest Retry-After a retry waits for.
    pub retry_backoff_max: Duration,
    /// Retries as a share of requests (0.1: about 10 % more load at most).
    pub retry_budget: f32,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe may go.
    pub breaker_open_for: Duration,
}

impl Default for ProtectionConfig {
    fn default() -> Self {
        ProtectionConfig {
            max_concurrent: 32,
            queue_timeout: Duration::from_secs(2),
            rate: None,
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(2),
            retry_budget: 0.1,
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(30),
        }
    }
}

/// The protection of one upstream: one breaker, one gate, one hold, one retry budget.
#[derive(Debug)]
pub(crate) struct Protection {
    config: ProtectionConfig,
    breaker: Mutex<Breaker>,
    gate: Gate,
    hold: Hold,
    budget: RetryBudget,
}

impl Protection {
    /// With `shared`, the global rate is kept in Redis for all replicas.
    pub(crate) fn new(config: &ProtectionConfig, shared: Option<&SharedLimits>) -> Arc<Self> {
        metrics()
            .upstream_circuit_state
            .set(CircuitState::Closed as i64);
        Arc::new(Protection {
            breaker: Mutex::new(Breaker::new(
                config.breaker_failures,
                config.breaker_open_for,
            )),
            gate: Gate::new(
                config.max_concurrent,
                config.rate.map(|rate| UpstreamRate::new(rate, shared)),
            ),
            hold: Hold::default(),
            budget: RetryBudget::new(config.retry_budget),
            config: config.clone(),
        })
    }

    /// The attempts of one request, which may take until `give_up_after` to start retries.
    pub(crate) fn attempts(self: &Arc<Self>, give_up_after: Duration) -> Attempts {
        Attempts {
            protection: Arc::clone(self),
            retried: 0,
            give_up_at: Instant::now() + give_up_after,
        }
    }

    /// Lets one attempt through, or says why not and when to come back.
    async fn admit(self: &Arc<Self>) -> Result<Lease, UpstreamError> {
        let now = Instant::now();
        if let Some(retry_after) = self.hold.remaining(now) {
            return Err(throttled(ThrottleReason::RetryAfter, retry_after));
        }
        let ticket = self.breaker(|b| b.admit(now)).map_err(|retry_after| {
            metrics()
                .upstream_throttled
                .with_label_values(&["circuit_open"])
                .inc();
            UpstreamError::CircuitOpen { retry_after }
        })?;
        // Made before the wait, so a probe that never gets a slot is given back on drop.
        let mut lease = Lease {
            protection: Arc::clone(self),
            ticket,
            judged: false,
            _slot: None,
        };
        match self.gate.enter(now + self.config.queue_timeout).await {
            Ok(slot) => lease._slot = Some(slot),
            Err(e) => {
                if let UpstreamError::Throttled { reason, .. } = &e {
                    count_throttled(*reason);
                }
                return Err(e);
            }
        }
        Ok(lease)
    }

    /// Runs `f` on the breaker, keeping the gauge and the log in step with its state.
    fn breaker<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        let before = breaker.state();
        let out = f(&mut breaker);
        let after = breaker.state();
        if before != after {
            metrics().upstream_circuit_state.set(after as i64);
            match after {
                CircuitState::Open => tracing::error!(
                    open_for = ?self.config.breaker_open_for,
                    "circuit breaker for iCasework opened: requests fail fast until a probe succeeds"
                ),
                CircuitState::HalfOpen => {
                    tracing::warn!("circuit breaker for iCasework half-open: one probe request")
                }
                CircuitState::Closed => {
                    tracing::warn!("circuit breaker for iCasework closed: the probe succeeded")
                }
            }
        }
        out
    }
}

fn throttled(reason: ThrottleReason, retry_after: Duration) -> UpstreamError {
    count_throttled(reason);
    UpstreamError::Throttled {
        reason,
        retry_after,
    }
}

fn count_throttled(reason: ThrottleReason) {
    metrics()
        .upstream_throttled
        .with_label_values(&[reason.label()])
        .inc();
}

/// The attempts of one request: the first, and retries while they are allowed.
#[derive(Debug)]
pub(crate) struct Attempts {
    protection: Arc<Protection>,
    retried: u32,
    give_up_at: Instant,
}

impl Attempts {
    /// Admits the next attempt. The first one counts towards the retry budget.
    pub(crate) async fn admit(&mut self) -> Result<Lease, UpstreamError> {
        let lease = self.protection.admit().await?;
        if self.retried == 0 {
            self.protection.budget.deposit();
        }
        Ok(lease)
    }

    /// After a failed attempt: how long to wait before the next one, or the error to return.
    pub(crate) fn after_failure(
        &mut self,
        error: UpstreamError,
    ) -> Result<Duration, UpstreamError> {
        let config = &self.protection.config;
        let not_before = match retry::decide(&error, config.retry_backoff_max) {
            Decision::Transient { not_before } if config.retries > 0 => not_before,
            _ => return Err(retry::final_error(error)),
        };
        let count = |outcome| {
            metrics()
                .upstream_retries
                .with_label_values(&[outcome])
                .inc();
        };
        if self.retried >= config.retries {
            count("attempts_exhausted");
            return Err(retry::final_error(error));
        }
        let jittered = retry::backoff(
            self.retried,
            config.retry_backoff,
            config.retry_backoff_max,
            rand::random(),
        );
        let delay = jittered.max(not_before.unwrap_or_default());
        // No retry whose answer could not come before the request's total timeout.
        if Instant::now() + delay >= self.give_up_at {
            count("attempts_exhausted");
            return Err(retry::final_error(error));
        }
        if !self.protection.budget.withdraw() {
            count("budget_exhausted");
            tracing::warn!(error = %error, "not retrying: the retry budget is spent");
            return Err(retry::final_error(error));
        }
        self.retried += 1;
        count("retried");
        tracing::warn!(error = %error, retry = self.retried, ?delay, "retrying a transient iCasework failure");
        Ok(delay)
    }
}

/// One admitted attempt: its breaker ticket and its slot among `max_concurrent`, held until its
/// body ends (or fails, or is dropped).
#[derive(Debug)]
pub(crate) struct Lease {
    protection: Arc<Protection>,
    ticket: Ticket,
    judged: bool,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// Tells the breaker what the response head said about iCasework's health (`None`: a head
    /// casegate accepts), and honours iCasework's Retry-After for every request.
    pub(crate) fn judge(&mut self, error: Option<&UpstreamError>) {
        let now = Instant::now();
        let protection = &*self.protection;
        let after = match error {
            Some(UpstreamError::Throttled { retry_after, .. }) => Some(*retry_after),
            Some(UpstreamError::Status {
                retry_after: Some(retry_after),
                ..
            }) => Some(*retry_after),
            _ => None,
        };
        if let Some(after) = after {
            tracing::warn!(?after, "iCasework asked for a pause: every request waits");
            protection.hold.set(now, after);
            count_throttled(ThrottleReason::RetryAfter);
        }
        let ticket = self.ticket;
        match error {
            None => protection.breaker(|b| b.success(ticket)),
            Some(e) if is_failure(e) => protection.breaker(|b| b.failure(ticket, now)),
            // A 429 says iCasework is up and wants less; a token endpoint failure has its
            // own backoff. Neither is a verdict on GetReport.
            Some(UpstreamError::Throttled { .. } | UpstreamError::Credential(_)) => return,
            // Any other answer (a refusal, a size limit) means iCasework is up.
            Some(_) => protection.breaker(|b| b.success(ticket)),
        }
        self.judged = true;
    }

    /// The body failed after its head was accepted: a stall or a reset counts against
    /// iCasework's health too (a size limit does not).
    pub(crate) fn body_failed(&mut self, error: &UpstreamError) {
        if is_failure(error) {
            let ticket = self.ticket;
            self.protection
                .breaker(|b| b.failure(ticket, Instant::now()));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.judged && self.ticket.is_probe() {
            let ticket = self.ticket;
            self.protection.breaker(|b| b.abandon(ticket));
        }
    }
}

/// Failures of iCasework itself, which the breaker counts.
fn is_failure(error: &UpstreamError) -> bool {
    match error {
        UpstreamError::Unreachable(_) | UpstreamError::Timeout { .. } => true,
        UpstreamError::Status { status, .. } => status.is_server_error(),
        _ => false,
    }
}
