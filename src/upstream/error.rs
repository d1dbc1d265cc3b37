//! What can go wrong between casegate and iCasework. `crate::error` turns these into responses.

use std::time::Duration;

use http::StatusCode;

/// A failure to obtain or use casegate's own iCasework credential. Cloned to every request that
/// waited on the same token request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("the token endpoint refused the assertion (status {status}, code {code}, info {info}): check upstream.credential.api_key and secret_key")]
    Refused {
        status: StatusCode,
        code: String,
        info: String,
    },
    #[error("the token endpoint answered 200 without an access_token: check upstream.account and environment")]
    NoAccessToken,
    #[error("the token endpoint answered an unusable body: {0}")]
    BadResponse(String),
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not sign the assertion: {0}")]
    Signing(String),
}

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstByte,
    Total,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// iCasework refused the request itself (a 400 with its error code): passed back to the caller.
    #[error("iCasework refused the request (code {code:?})")]
    Refused {
        status: StatusCode,
        code: Option<String>,
        info: Option<String>,
    },
    /// casegate could not get a credential.
    #[error("upstream credential unavailable: {0}")]
    Credential(#[from] CredentialError),
    /// iCasework refused casegate's credential (403, usually code 8021).
    #[error("iCasework refused casegate's credential (code {code:?}, info {info:?})")]
    CredentialRefused {
        code: Option<String>,
        info: Option<String>,
    },
    /// iCasework says the request went to the wrong host (8001/8002): a configuration problem.
    #[error("iCasework says this endpoint is wrong (code {code}, info {info:?}): check upstream.environment and account")]
    WrongEndpoint { code: String, info: Option<String> },
    #[error("iCasework could not be reached: {0}")]
    Unreachable(String),
    #[error("iCasework did not answer in time ({phase:?} timeout {after:?})")]
    Timeout {
        phase: TimeoutPhase,
        after: Duration,
    },
    #[error("iCasework's response is larger than upstream.max_response_bytes ({limit} bytes)")]
    TooLarge { limit: u64 },
    /// `retry_after`: iCasework's Retry-After on a 503, which the protection honours.
    #[error("iCasework answered with status {status}")]
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// casegate's breaker for iCasework is open after consecutive failures: nothing was sent.
    #[error("the circuit breaker for iCasework is open; retry in {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// Not sent, or iCasework asked for less load: see [`ThrottleReason`].
    #[error("request to iCasework held back ({reason:?}); retry in {retry_after:?}")]
    Throttled {
        reason: ThrottleReason,
        retry_after: Duration,
    },
}

/// Why a request to iCasework was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// casegate's global rate to iCasework (`upstream.protection.rate`) had no room in time.
    GlobalRate,
    /// Every one of `upstream.protection.max_concurrent` slots stayed taken for `queue_timeout`.
    Concurrency,
    /// iCasework answered 429, or 503 with Retry-After: every request waits that long.
    RetryAfter,
}

impl ThrottleReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ThrottleReason::GlobalRate => "global_rate",
            ThrottleReason::Concurrency => "concurrency",
            ThrottleReason::RetryAfter => "retry_after",
        }
    }
}
