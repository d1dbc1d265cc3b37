//! The circuit breaker as a plain state machine: every method takes the current time, so the
//! tests drive it with made-up instants and no HTTP.
//!
//! - **Closed**: every request is admitted; `failures` consecutive failures (or timeouts) open it.
//! - **Open** for `open_for`: every request is refused at once, with the time left.
//! - **Half-open**: the first request after that is the probe, alone; the others are refused
//!   while it runs. Its success closes the breaker, its failure opens it again, and a probe that
//!   ends without a verdict (its caller hung up, it never got a slot) lets the next request probe.
//!
//! Every admission carries the breaker's generation, which changes on each transition, so a
//! late outcome of a request admitted before the breaker opened (a slow body failing minutes
//! later, say) cannot decide the state it no longer belongs to.

use std::time::Duration;

use tokio::time::Instant;

/// What Retry-After says to callers refused while a probe runs: the probe will have answered
/// or been given up by then, in most cases.
pub(super) const PROBING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The breaker's state as a number for the gauge: 0 closed, 1 half-open, 2 open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One admitted request: the generation it was admitted in, and whether it is the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    generation: u64,
    probe: bool,
}

impl Ticket {
    pub(crate) fn is_probe(self) -> bool {
        self.probe
    }
}

#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    generation: u64,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures (at least 1), for `open_for`.
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            state: State::Closed { failures: 0 },
            generation: 0,
            threshold: threshold.max(1),
            open_for,
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
            State::Open { .. } => CircuitState::Open,
        }
    }

    /// Admits a request, or says how long until the breaker may admit one.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<Ticket, Duration> {
        match self.state {
            State::Closed { .. } => Ok(self.ticket(false)),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.enter(State::HalfOpen { probing: true });
                Ok(self.ticket(true))
            }
            State::HalfOpen { probing: true } => Err(PROBING_RETRY_AFTER),
        }
    }

    /// iCasework answered (any answer that is not a failure of its own).
    pub(crate) fn success(&mut self, ticket: Ticket) {
        if ticket.generation != self.generation {
            return;
        }
        match self.state {
            State::Closed { .. } => self.state = State::Closed { failures: 0 },
            State::HalfOpen { .. } if ticket.probe => self.enter(State::Closed { failures: 0 }),
            _ => {}
        }
    }

    /// iCasework failed: unreachable, reset, timed out, or a 5xx.
    pub(crate) fn failure(&mut self, ticket: Ticket, now: Instant) {
        if ticket.generation != self.generation {
            return;
        }
        let open = State::Open {
            until: now + self.open_for,
        };
        match self.state {
            State::Closed { failures } if failures + 1 >= self.threshold => self.enter(open),
            State::Closed { failures } => {
                self.state = State::Closed {
                    failures: failures + 1,
                }
            }
            State::HalfOpen { .. } if ticket.probe => self.enter(open),
            _ => {}
        }
    }

    /// The request ended without a verdict on iCasework's health. Only a probe matters: the
    /// next request may probe instead.
    pub(crate) fn abandon(&mut self, ticket: Ticket) {
        if ticket.probe
            && ticket.generation == self.generation
            && self.state == (State::HalfOpen { probing: true })
        {
            self.state = State::HalfOpen { probing: false };
        }
    }

    fn ticket(&self, probe: bool) -> Ticket {
        Ticket {
            generation: self.generation,
            probe,
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(30);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, OPEN_FOR);
        for _ in 0..2 {
            let t = b.admit(t0).unwrap();
            b.failure(t, t0);
        }
        // A success in between starts the count again.
        let t = b.admit(t0).unwrap();
        b.success(t);
        for _ in 0..2 {
            let t = b.admit(t0).unwrap();
            b.failure(t, t0);
        }
        assert_eq!(b.state(), CircuitState::Closed);
        let t = b.admit(t0).unwrap();
        assert!(!t.is_probe());
        b.failure(t, t0);
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[test]
    fn open_refuses_with_the_time_left() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, OPEN_FOR);
        let t = b.admit(t0).unwrap();
        b.failure(t, t0);
        assert_eq!(b.admit(t0), Err(OPEN_FOR));
        assert_eq!(b.admit(t0 + ms(29_000)), Err(ms(1_000)));
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[test]
    fn half_open_admits_one_probe_and_its_success_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, OPEN_FOR);
        let t = b.admit(t0).unwrap();
        b.failure(t, t0);
        let later = t0 + OPEN_FOR;
        let probe = b.admit(later).unwrap();
        assert!(probe.is_probe());
        assert_eq!(b.state(), CircuitState::HalfOpen);
        for _ in 0..5 {
            assert_eq!(
                b.admit(later),
                Err(PROBING_RETRY_AFTER),
                "one probe at a time"
            );
        }
        b.success(probe);
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(!b.admit(later).unwrap().is_probe());
    }

    #[test]
    fn a_failed_probe_opens_again_for_the_full_period() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, OPEN_FOR);
        for _ in 0..2 {
            let t = b.admit(t0).unwrap();
            b.failure(t, t0);
        }
        let later = t0 + OPEN_FOR + ms(5);
        let probe = b.admit(later).unwrap();
        b.failure(probe, later);
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.admit(later), Err(OPEN_FOR));
        // One failure is enough from half-open; the threshold is for a closed breaker.
        let probe = b.admit(later + OPEN_FOR).unwrap();
        assert!(probe.is_probe());
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_request_probe() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, OPEN_FOR);
        let t = b.admit(t0).unwrap();
        b.failure(t, t0);
        let later = t0 + OPEN_FOR;
        let probe = b.admit(later).unwrap();
        b.abandon(probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let next = b.admit(later).unwrap();
        assert!(next.is_probe());
        b.success(next);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn late_outcomes_of_an_earlier_state_are_ignored() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, OPEN_FOR);
        let slow = b.admit(t0).unwrap();
        for _ in 0..2 {
            let t = b.admit(t0).unwrap();
            b.failure(t, t0);
        }
        // The request admitted while closed ends now: it decides nothing.
        b.success(slow);
        assert_eq!(b.state(), CircuitState::Open);
        let later = t0 + OPEN_FOR;
        let probe = b.admit(later).unwrap();
        b.failure(slow, later);
        b.abandon(slow);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.success(probe);
        // The probe's own body failing after it closed the breaker belongs to the old state.
        b.failure(probe, later);
        assert_eq!(b.state(), CircuitState::Closed);
        let t = b.admit(later).unwrap();
        b.failure(t, later);
        assert_eq!(b.state(), CircuitState::Closed, "the count started again");
    }
}
