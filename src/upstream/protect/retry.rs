//! Which failures are worth another attempt, how long to wait before it, and the budget that
//! keeps retries a small share of the load: plain functions and a plain budget, tested without
//! HTTP (the budget on tokio's paused clock).
//!
//! Only failures of iCasework itself that a second attempt can fix are retried: a connection
//! that could not be made or broke before casegate handed anything on (refused, reset, a connect
//! timeout), and 502/503/504. Never a 4xx (the request itself is refused; a 429 asks for less
//! load, not more), never a first-byte or total timeout (iCasework was working on the report;
//! asking again doubles its work), never after the response head was handed on.

use std::time::{Duration, SystemTime};

use http::{HeaderValue, StatusCode};
use tower::retry::budget::{Budget, TpsBudget};

use super::super::error::{ThrottleReason, TimeoutPhase, UpstreamError};

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Transient: another attempt may succeed, not sooner than this (iCasework's Retry-After).
    Transient { not_before: Option<Duration> },
    /// Final: another attempt would fail the same way, or would go against iCasework's wish.
    Final,
}

/// Whether `error` (of an attempt whose response head was not handed on) may be retried.
/// `cap` is the longest backoff: a Retry-After beyond it is honoured by not retrying.
pub(crate) fn decide(error: &UpstreamError, cap: Duration) -> Decision {
    match error {
        UpstreamError::Unreachable(_)
        | UpstreamError::Timeout {
            phase: TimeoutPhase::Connect,
            ..
        } => Decision::Transient { not_before: None },
        UpstreamError::Status {
            status:
                StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT,
            retry_after,
        } => match retry_after {
            Some(after) if *after > cap => Decision::Final,
            after => Decision::Transient { not_before: *after },
        },
        _ => Decision::Final,
    }
}

/// The error the caller gets when no attempt is left: a 503 whose Retry-After iCasework set
/// becomes "throttled", so the caller learns when to come back.
pub(crate) fn final_error(error: UpstreamError) -> UpstreamError {
    match error {
        UpstreamError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(retry_after),
        } => UpstreamError::Throttled {
            reason: ThrottleReason::RetryAfter,
            retry_after,
        },
        e => e,
    }
}

/// Exponential backoff with full jitter: a uniform wait in `[0, min(cap, base·2^retry))`, so
/// callers that failed together do not come back together. `unit` is the random draw in [0, 1).
pub(crate) fn backoff(retry: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let ceiling = base.saturating_mul(1u32 << retry.min(20)).min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past
/// is zero; anything else unreadable is `None`.
pub(crate) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// How long the window over which the budget counts requests and retries is.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries allowed every second whatever the load, so a quiet gateway still retries a blip.
const BUDGET_FLOOR_PER_SECOND: u32 = 1;

/// Retries as a share of requests over the last ten seconds, plus a floor of one retry a second
/// (tower's `TpsBudget`, the Finagle design). Each request deposits once; each retry withdraws.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    budget: TpsBudget,
}

impl RetryBudget {
    /// `ratio`: 0.1 lets retries add about 10 % to the requests sent.
    pub(crate) fn new(ratio: f32) -> Self {
        RetryBudget {
            budget: TpsBudget::new(BUDGET_WINDOW, BUDGET_FLOOR_PER_SECOND, ratio),
        }
    }

    /// The most retries the floor alone allows in one window.
    #[cfg(test)]
    pub(crate) fn floor() -> u32 {
        BUDGET_FLOOR_PER_SECOND * BUDGET_WINDOW.as_secs() as u32
    }

    /// A request was sent (its first attempt).
    pub(crate) fn deposit(&self) {
        self.budget.deposit();
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> UpstreamError {
        UpstreamError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn transient_failures_only() {
        let cap = Duration::from_secs(2);
        let transient = Decision::Transient { not_before: None };
        assert_eq!(
            decide(&UpstreamError::Unreachable("reset".into()), cap),
            transient
        );
        for (phase, want) in [
            (TimeoutPhase::Connect, transient),
            (TimeoutPhase::FirstByte, Decision::Final),
            (TimeoutPhase::Total, Decision::Final),
        ] {
            let e = UpstreamError::Timeout { phase, after: cap };
            assert_eq!(decide(&e, cap), want, "{phase:?}");
        }
        for code in [502, 503, 504] {
            assert_eq!(
                decide(&status(code, None), cap),
                Decision::Transient { not_before: None }
            );
        }
        for code in [500, 501, 505, 404, 429] {
            assert_eq!(decide(&status(code, None), cap), Decision::Final, "{code}");
        }
        let refused = UpstreamError::Refused {
            status: StatusCode::BAD_REQUEST,
            code: Some("8099".into()),
            info: None,
        };
        assert_eq!(decide(&refused, cap), Decision::Final);
        let credential = UpstreamError::CredentialRefused {
            code: Some("8021".into()),
            info: None,
        };
        assert_eq!(
            decide(&credential, cap),
            Decision::Final,
            "renewed once elsewhere"
        );
    }

    #[test]
    fn retry_after_within_the_cap_is_waited_for_and_beyond_it_is_final() {
        let cap = Duration::from_secs(2);
        assert_eq!(
            decide(&status(503, Some(1)), cap),
            Decision::Transient {
                not_before: Some(Duration::from_secs(1))
            }
        );
        assert_eq!(decide(&status(503, Some(3)), cap), Decision::Final);
        assert!(matches!(
            final_error(status(503, Some(3))),
            UpstreamError::Throttled { reason: ThrottleReason::RetryAfter, retry_after }
                if retry_after == Duration::from_secs(3)
        ));
        assert!(matches!(
            final_error(status(503, None)),
            UpstreamError::Status { .. }
        ));
    }

    #[test]
    fn backoff_is_exponential_jittered_and_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        assert_eq!(backoff(0, base, cap, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, base, cap, 0.5), Duration::from_millis(50));
        assert_eq!(backoff(1, base, cap, 0.5), Duration::from_millis(100));
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_millis(400));
        assert_eq!(backoff(10, base, cap, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX, base, cap, 0.999), cap.mul_f64(0.999));
    }

    #[test]
    fn retry_after_values() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let parse = |s: &str| parse_retry_after(&HeaderValue::from_str(s).unwrap(), now);
        assert_eq!(parse("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse(" 120 "), Some(Duration::from_secs(120)));
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(parse(&in_ten), Some(Duration::from_secs(10)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse(&past), Some(Duration::ZERO));
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(parse(""), None);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_allows_the_ratio_plus_the_floor_per_window() {
        let budget = RetryBudget::new(0.1);
        for _ in 0..200 {
            budget.deposit();
        }
        let mut allowed = 0;
        while budget.withdraw() {
            allowed += 1;
        }
        // 10 % of 200 requests, plus the floor of one a second over the window.
        assert_eq!(allowed, 20 + RetryBudget::floor());
        // Spent: no retry until more requests come or the window moves on.
        assert!(!budget.withdraw());
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(budget.withdraw(), "ten more requests earn one retry");
        assert!(!budget.withdraw());
        // Once the window has passed, old requests and retries no longer count.
        tokio::time::advance(BUDGET_WINDOW * 2).await;
        let mut allowed = 0;
        while budget.withdraw() {
            allowed += 1;
        }
        assert_eq!(allowed, RetryBudget::floor());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ratio_leaves_the_floor_alone() {
        let budget = RetryBudget::new(0.0);
        for _ in 0..1000 {
            budget.deposit();
        }
        let mut allowed = 0;
        while budget.withdraw() {
            allowed += 1;
        }
        assert_eq!(allowed, RetryBudget::floor());
    }
}
