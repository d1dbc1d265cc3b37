//! What an iCasework response head means: accept it, renew the token, or fail; and, once
//! accepted, the checks made before its body is streamed on.

use std::time::Duration;

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, RETRY_AFTER};
use http::response::Parts;
use http::StatusCode;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::body::UpstreamBody;
use super::error::{ThrottleReason, UpstreamError};
use super::{header_text, Fetched, Inner};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

pub(super) enum Verdict {
    Accept,
    /// 403 with code 8021 "Invalid token": the access token may be renewed once.
    InvalidToken,
    Fail(UpstreamError),
}

pub(super) fn verdict(parts: &Parts) -> Verdict {
    let code = || header_text(&parts.headers, "x-application-error-code");
    let info = || header_text(&parts.headers, "x-application-error-info");
    match parts.status {
        s if s.is_success() => Verdict::Accept,
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
            let invalid_token = code().as_deref() == Some("8021")
                && info().is_some_and(|i| i.contains("Invalid token"));
            if invalid_token {
                Verdict::InvalidToken
            } else {
                Verdict::Fail(credential_refused(parts))
            }
        }
        // iCasework's "use the right endpoint" means casegate is misconfigured.
        StatusCode::BAD_REQUEST => Verdict::Fail(match code() {
            Some(c) if c == "8001" || c == "8002" => UpstreamError::WrongEndpoint {
                code: c,
                info: info(),
            },
            code => UpstreamError::Refused {
                status: parts.status,
                code,
                info: info(),
            },
        }),
        // iCasework asks for less load: honoured for every request, not retried.
        StatusCode::TOO_MANY_REQUESTS => Verdict::Fail(UpstreamError::Throttled {
            reason: ThrottleReason::RetryAfter,
            retry_after: retry_after(parts).unwrap_or(DEFAULT_429_PAUSE),
        }),
        status => Verdict::Fail(UpstreamError::Status {
            status,
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE)
                .then(|| retry_after(parts))
                .flatten(),
        }),
    }
}

/// The pause after a 429 that does not say how long: short, since nothing says more is needed.
const DEFAULT_429_PAUSE: Duration = Duration::from_secs(1);

fn retry_after(parts: &Parts) -> Option<Duration> {
    let value = parts.headers.get(RETRY_AFTER)?;
    super::protect::parse_retry_after(value, std::time::SystemTime::now())
}

pub(super) fn credential_refused(parts: &Parts) -> UpstreamError {
    UpstreamError::CredentialRefused {
        code: header_text(&parts.headers, "x-application-error-code"),
        info: header_text(&parts.headers, "x-application-error-info"),
    }
}

/// Checks an accepted response before streaming it: its announced size, and whether the body
/// is gzip (announced by `Content-Encoding`, or recognised by its first two bytes, since
/// iCasework may send one without saying so).
pub(super) async fn accept(
    parts: Parts,
    body: Incoming,
    gzip_requested: bool,
    limits: &Inner,
    deadline: Instant,
) -> Result<Fetched, UpstreamError> {
    let max_response_bytes = limits.max_response_bytes;
    let too_large = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|len| len > max_response_bytes);
    if too_large {
        return Err(UpstreamError::TooLarge {
            limit: max_response_bytes,
        });
    }
    let announced_gzip = parts
        .headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut body = UpstreamBody::new(body, max_response_bytes, deadline, limits.total_timeout);
    let gzip = announced_gzip || (gzip_requested && body.peek(2).await?.starts_with(&GZIP_MAGIC));
    Ok(Fetched { gzip, body })
}
