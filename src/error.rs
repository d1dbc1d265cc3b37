//! The gateway's errors and the one place they become HTTP responses.
//!
//! Every error casegate itself returns is `application/problem+json` (RFC 9457) with a stable
//! `code`, a message that tells the caller what to fix, and the request id. Messages name
//! parameters, never their values; the causes of gateway-side failures go to the log only.

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::auth::AuthError;
use crate::limit::Scope;
use crate::params::ParamError;
use crate::policy::Denial;
use crate::redact::RedactError;
use crate::upstream::error::{ThrottleReason, TimeoutPhase, UpstreamError};

/// A boxed error for bodies and services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response casegate sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// iCasework's own error-code header, kept where an upstream code fits.
pub static X_APPLICATION_ERROR_CODE: HeaderName =
    HeaderName::from_static("x-application-error-code");
/// iCasework's error-info header.
pub static X_APPLICATION_ERROR_INFO: HeaderName =
    HeaderName::from_static("x-application-error-info");

/// A body from bytes held in memory.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The error a response body failed with, as the response it becomes when nothing was sent yet.
pub fn body_error(e: BoxError) -> Error {
    match e.downcast::<RedactError>() {
        Ok(e) => {
            e.count("refused");
            Error::Redact(*e)
        }
        Err(e) => match e.downcast::<UpstreamError>() {
            Ok(e) => Error::Upstream(*e),
            Err(e) => Error::Upstream(UpstreamError::Unreachable(e.to_string())),
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Params(#[from] ParamError),
    #[error("GetReport accepts GET and HEAD only: send the request with GET")]
    Method,
    #[error("no such endpoint: use GET /getreport?ReportId=... or GET /reports/{{ReportId}}")]
    NotFound,
    /// The request's Host is missing (HTTP/1.1), given twice, or not a host (RFC 9112 §3.2):
    /// such a request means different things to different readers, so it is refused whole.
    #[error("the request's Host header {0}: send exactly one Host header naming this gateway")]
    Host(&'static str),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Policy(#[from] Denial),
    /// The report could not be redacted with certainty; nothing of it was sent.
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// CSVFields names a column the caller's grant withholds.
    #[error("CSVFields names {column}, a column your grant withholds; remove it from CSVFields")]
    ColumnWithheld { column: String },
    /// One error shared by every caller who waited for the same cache fill.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
    /// The caller has used up a quota (or the limiter cannot take on a new caller now).
    #[error("rate limited ({}): retry after {retry_after:?}", scope.as_str())]
    RateLimited { scope: Scope, retry_after: Duration },
    /// An error with headers that a layer between it and the problem mapping wants on its
    /// response: the RateLimit fields, which belong on every response of a limited caller,
    /// errors included, and which that layer cannot add to a response it never sees.
    #[error("{0}")]
    WithHeaders(Box<Error>, HeaderMap),
    /// A state the stack's order rules out; answered 500, failing closed.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The end of every gateway-side `detail`: whose problem it is and what the caller can do.
const GATEWAY: &str = "this is a gateway problem, not your request; \
    retry later or give the request id to the gateway's operators";

/// What the caller is told.
struct Problem<'a> {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    parameter: Option<&'a str>,
    upstream_code: Option<&'a str>,
    upstream_info: Option<&'a str>,
    /// Sent as `Retry-After` in whole seconds, rounded up (at least 1).
    retry_after: Option<Duration>,
}

impl Error {
    fn problem(&self) -> Problem<'_> {
        let p = |status, code, title, detail: String| Problem {
            status,
            code,
            title,
            detail,
            parameter: None,
            upstream_code: None,
            upstream_info: None,
            retry_after: None,
        };
        match self {
            Error::Shared(e) => e.problem(),
            Error::WithHeaders(e, _) => e.problem(),
            Error::RateLimited { scope, retry_after } => Problem {
                retry_after: Some(*retry_after),
                ..p(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                    scope.detail(retry_secs(*retry_after)),
                )
            },
            Error::Params(e) => {
                // Only a missing ReportId has an iCasework code (8003); apps may test for it.
                let missing = e.upstream_code() == Some(8003);
                Problem {
                    parameter: e.parameter(),
                    upstream_code: missing.then_some("8003"),
                    upstream_info: missing
                        .then_some("Required parameter ReportId was not supplied."),
                    ..p(
                        StatusCode::BAD_REQUEST,
                        e.code(),
                        "Invalid GetReport parameters",
                        e.to_string(),
                    )
                }
            }
            Error::Method => Problem {
                upstream_code: Some("8000"),
                upstream_info: Some("Invalid HTTP Method."),
                ..p(
                    StatusCode::BAD_REQUEST,
                    "method_not_allowed",
                    "Method not allowed",
                    self.to_string(),
                )
            },
            Error::NotFound => p(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                self.to_string(),
            ),
            Error::Host(_) => p(
                StatusCode::BAD_REQUEST,
                "invalid_host",
                "Invalid Host header",
                self.to_string(),
            ),
            Error::Policy(denial) => Problem {
                parameter: denial.parameter().map(|p| p.name()),
                ..p(
                    StatusCode::FORBIDDEN,
                    denial.code(),
                    "Not allowed by the gateway's policy",
                    denial.detail(),
                )
            },
            Error::Redact(_) => p(
                StatusCode::BAD_GATEWAY,
                "redaction_failed",
                "The report could not be redacted",
                format!(
                    "iCasework's report was not in a shape casegate can redact with certainty, \
                     so none of it is sent: {GATEWAY}"
                ),
            ),
            Error::ColumnWithheld { .. } => Problem {
                parameter: Some("CSVFields"),
                ..p(
                    StatusCode::FORBIDDEN,
                    "column_withheld",
                    "Not allowed by the gateway's policy",
                    self.to_string(),
                )
            },
            Error::Internal(_) => p(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                format!("casegate failed inside: {GATEWAY}"),
            ),
            Error::Upstream(e) => match e {
                UpstreamError::Refused { status, code, info } => Problem {
                    upstream_code: code.as_deref(),
                    upstream_info: info.as_deref(),
                    ..p(
                        *status,
                        "upstream_refused",
                        "iCasework refused the request",
                        match info {
                            Some(info) => format!("iCasework refused the request: {info}"),
                            None => "iCasework refused the request".to_owned(),
                        },
                    )
                },
                UpstreamError::WrongEndpoint { .. } => p(
                    StatusCode::BAD_GATEWAY,
                    "upstream_endpoint",
                    "casegate is configured for the wrong iCasework endpoint",
                    format!("iCasework says casegate called the wrong endpoint: {GATEWAY}"),
                ),
                UpstreamError::Credential(_) | UpstreamError::CredentialRefused { .. } => p(
                    StatusCode::BAD_GATEWAY,
                    "upstream_credential",
                    "casegate could not authenticate to iCasework",
                    format!("casegate could not authenticate to iCasework: {GATEWAY}"),
                ),
                UpstreamError::Unreachable(_) => p(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    "iCasework could not be reached",
                    format!("iCasework could not be reached: {GATEWAY}"),
                ),
                UpstreamError::Timeout { phase, .. } => p(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "iCasework did not answer in time",
                    match phase {
                        TimeoutPhase::Connect => {
                            format!("iCasework did not accept a connection in time: {GATEWAY}")
                        }
                        _ => "iCasework did not answer in time; a narrower timeframe \
                              (From/Until) makes the report faster"
                            .to_owned(),
                    },
                ),
                UpstreamError::TooLarge { .. } => p(
                    StatusCode::BAD_GATEWAY,
                    "upstream_too_large",
                    "The report is larger than casegate accepts",
                    "the report is larger than casegate accepts; ask for a narrower timeframe \
                     (From/Until) or fewer columns (CSVFields)"
                        .to_owned(),
                ),
                UpstreamError::Status { .. } => p(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    "iCasework failed",
                    format!("iCasework answered with an error: {GATEWAY}"),
                ),
                UpstreamError::CircuitOpen { retry_after }
                | UpstreamError::Throttled { retry_after, .. } => {
                    let (code, title, why) = match e {
                        UpstreamError::CircuitOpen { .. } => (
                            "upstream_circuit_open",
                            "iCasework is failing; casegate is giving it time to recover",
                            "iCasework failed repeatedly, so casegate sends it nothing for a \
                             while (its circuit breaker is open)",
                        ),
                        UpstreamError::Throttled {
                            reason: ThrottleReason::RetryAfter,
                            ..
                        } => (
                            "upstream_throttled",
                            "iCasework asked casegate to pause",
                            "iCasework asked for fewer requests; casegate honours that for every caller",
                        ),
                        _ => (
                            "upstream_busy",
                            "casegate's requests to iCasework are at their limit",
                            "casegate already sends iCasework as many requests as it allows \
                             (a gateway limit that protects iCasework)",
                        ),
                    };
                    let secs = retry_secs(*retry_after);
                    Problem {
                        retry_after: Some(*retry_after),
                        ..p(
                            StatusCode::SERVICE_UNAVAILABLE,
                            code,
                            title,
                            format!("{why}; this is not your request: retry after {secs} seconds"),
                        )
                    }
                }
            },
            // The issuer's keys could not be fetched: not the caller's token, so not a 401.
            Error::Auth(e @ AuthError::KeysUnavailable) => p(
                StatusCode::SERVICE_UNAVAILABLE,
                e.code(),
                "The caller's token cannot be checked now",
                e.to_string(),
            ),
            Error::Auth(e) => p(
                StatusCode::UNAUTHORIZED,
                e.code(),
                "Authentication failed",
                e.to_string(),
            ),
        }
    }

    /// The error itself, out of the [`Error::Shared`] wrappers around it.
    fn unshared(&self) -> &Error {
        match self {
            Error::Shared(e) => e.unshared(),
            e => e,
        }
    }

    /// Logs the error once, at a level that matches whose fault it is, with its cause chain.
    /// The request's span carries the request id.
    fn log(&self) {
        match self {
            Error::Shared(e) => e.log(),
            Error::WithHeaders(e, _) => e.log(),
            Error::RateLimited { scope, retry_after } => tracing::info!(
                code = "rate_limited",
                scope = scope.as_str(),
                retry_after_ms = retry_after.as_millis() as u64,
                "request refused: over quota"
            ),
            Error::Auth(e @ AuthError::KeysUnavailable) => {
                tracing::error!(
                    code = e.code(),
                    "token refused: the issuer's keys are unavailable"
                );
            }
            Error::Params(_)
            | Error::Method
            | Error::NotFound
            | Error::Host(_)
            | Error::Auth(_)
            | Error::Policy(_)
            | Error::ColumnWithheld { .. } => {
                tracing::info!(code = self.problem().code, error = %self, "request refused");
            }
            Error::Upstream(UpstreamError::Refused { .. }) => {
                tracing::info!(error = %self, "iCasework refused the request");
            }
            // Expected under load: counted by a metric, logged without alarm.
            Error::Upstream(
                e @ (UpstreamError::CircuitOpen { .. } | UpstreamError::Throttled { .. }),
            ) => {
                tracing::warn!(code = self.problem().code, error = %e, "request to iCasework held back");
            }
            Error::Upstream(e) => {
                tracing::error!(code = self.problem().code, error = %e, "upstream failure");
            }
            Error::Internal(what) => tracing::error!(what, "internal error; request refused"),
            Error::Redact(e) => {
                tracing::error!(error = %e, "redaction failed before the first byte: 502, nothing sent")
            }
        }
    }

    /// The problem+json response for this error. The one place errors become responses.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        if let Error::WithHeaders(error, headers) = self {
            let mut response = error.into_response(request_id);
            response.headers_mut().extend(headers);
            return response;
        }
        self.log();
        let problem = self.problem();
        let mut body = serde_json::json!({
            "type": format!("urn:casegate:problem:{}", problem.code),
            "title": problem.title,
            "status": problem.status.as_u16(),
            "detail": problem.detail,
            "code": problem.code,
            "request_id": request_id,
        });
        if let Some(parameter) = problem.parameter {
            body["parameter"] = parameter.into();
        }
        if let Some(code) = problem.upstream_code {
            body["upstream_code"] = code.into();
        }
        // A shared error is answered exactly as the error it shares, headers included.
        let kind = self.unshared();
        if let (Error::RateLimited { .. }, Some(after)) = (kind, problem.retry_after) {
            body["retry_after"] = retry_secs(after).into();
        }
        let mut response = Response::new(full_body(body.to_string()));
        *response.status_mut() = problem.status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(kind, Error::Method) {
            headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if let Error::Auth(e) = kind {
            // RFC 6750 §3: a request without a token gets the challenge alone, no error code.
            let challenge = match e {
                AuthError::Missing => Some("Bearer realm=\"casegate\"".to_owned()),
                AuthError::KeysUnavailable => None,
                e => Some(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    e.description()
                )),
            };
            if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
                headers.insert(WWW_AUTHENTICATE, v);
            }
        }
        if let Some(after) = problem.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_secs(after)));
        }
        if let Some(code) = problem
            .upstream_code
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(X_APPLICATION_ERROR_CODE.clone(), code);
        }
        if let Some(info) = problem
            .upstream_info
            .and_then(|i| HeaderValue::from_str(i).ok())
        {
            headers.insert(X_APPLICATION_ERROR_INFO.clone(), info);
        }
        response
    }
}

/// Whole seconds for `Retry-After`, rounded up so a caller never comes back too early, and at
/// least 1 (0 would invite an immediate retry).
pub(crate) fn retry_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}
