//! Everything between casegate and iCasework: where to send a request (`endpoint`), with which
//! credential (`credential`), over which connections (`client`), and how the answer is checked
//! (`body`, `error`), and how iCasework is kept from being overwhelmed (`protect`: concurrency,
//! rate, Retry-After, retries, circuit breaker).

pub mod body;
pub mod client;
pub mod credential;
pub mod endpoint;
pub mod error;
pub mod protect;
mod response;

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Full;
use tokio::time::Instant;

use self::body::UpstreamBody;
use self::credential::{Credential, Token};
use self::endpoint::Endpoint;
use self::error::{TimeoutPhase, UpstreamError};
use self::protect::Protection;
use self::response::Verdict;
use crate::config::UpstreamConfig;
use crate::params::GetReportQuery;

/// `User-Agent` on every request to iCasework, so its operators can tell casegate apart.
pub const USER_AGENT_VALUE: &str = concat!("casegate/", env!("CARGO_PKG_VERSION"));

/// A successful GetReport answer, headers checked, body still streaming.
#[derive(Debug)]
pub struct Fetched {
    /// The body is gzip (announced by `Content-Encoding` or recognised by its magic bytes).
    pub gzip: bool,
    pub body: UpstreamBody,
}

/// The iCasework GetReport client: endpoint, credential, timeouts and limits in one place.
#[derive(Debug, Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: client::HttpClient,
    endpoint: Endpoint,
    credential: Credential,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    total_timeout: Duration,
    max_response_bytes: u64,
    protection: Arc<Protection>,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> std::io::Result<Self> {
        let client = client::build(&config.connect)?;
        let credential = Credential::new(&config.credential, &config.endpoint, client.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                endpoint: config.endpoint.clone(),
                credential,
                connect_timeout: config.connect.connect_timeout,
                first_byte_timeout: config.first_byte_timeout,
                total_timeout: config.total_timeout,
                max_response_bytes: config.max_response_bytes,
                protection: Protection::new(&config.protection),
            }),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// Sends GetReport for `query` through the protection: each attempt takes a slot and the
    /// rate, and transient failures are retried until a response head is accepted. Once it is
    /// handed back nothing is retried: the caller may already have part of the report.
    pub async fn fetch(
        &self,
        query: &GetReportQuery,
        request_id: &str,
    ) -> Result<Fetched, UpstreamError> {
        let mut attempts = self.inner.protection.attempts(self.inner.total_timeout);
        loop {
            let mut lease = attempts.admit().await?;
            let outcome = self.attempt(query, request_id).await;
            lease.judge(outcome.as_ref().err());
            match outcome {
                Ok(mut fetched) => {
                    fetched.body.hold(lease);
                    return Ok(fetched);
                }
                Err(error) => {
                    // The slot is free while this request backs off.
                    drop(lease);
                    tokio::time::sleep(attempts.after_failure(error)?).await;
                }
            }
        }
    }

    /// One attempt. An OAuth token that iCasework calls invalid is renewed and the request sent
    /// once more within the attempt (and its slot); that is the only retry here.
    async fn attempt(
        &self,
        query: &GetReportQuery,
        request_id: &str,
    ) -> Result<Fetched, UpstreamError> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.total_timeout;
        let mut renewed = false;
        loop {
            let (request, token) = self.request(query, request_id).await?;
            let (parts, body) = self.send(request, deadline).await?.into_parts();
            match response::verdict(&parts) {
                Verdict::Accept => {}
                Verdict::InvalidToken if !renewed => {
                    if let (Credential::OAuth(source), Some(token)) = (&inner.credential, &token) {
                        tracing::warn!(
                            "iCasework rejected the access token; renewing it and retrying once"
                        );
                        source.invalidate(token);
                        renewed = true;
                        continue;
                    }
                    return Err(response::credential_refused(&parts));
                }
                Verdict::InvalidToken => return Err(response::credential_refused(&parts)),
                Verdict::Fail(e) => return Err(e),
            }
            return response::accept(parts, body, query.gzip, inner, deadline).await;
        }
    }

    /// Sends one request, waiting for the response head until the first-byte timeout or the
    /// overall deadline, whichever comes first.
    async fn send(
        &self,
        request: Request<Full<bytes::Bytes>>,
        deadline: Instant,
    ) -> Result<http::Response<hyper::body::Incoming>, UpstreamError> {
        let inner = &*self.inner;
        let first_byte = (Instant::now() + inner.first_byte_timeout).min(deadline);
        match tokio::time::timeout_at(first_byte, inner.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(classify_send_error(&e, inner.connect_timeout)),
            Err(_) if first_byte == deadline => Err(UpstreamError::Timeout {
                phase: TimeoutPhase::Total,
                after: inner.total_timeout,
            }),
            Err(_) => Err(UpstreamError::Timeout {
                phase: TimeoutPhase::FirstByte,
                after: inner.first_byte_timeout,
            }),
        }
    }

    async fn request(
        &self,
        query: &GetReportQuery,
        request_id: &str,
    ) -> Result<(Request<Full<bytes::Bytes>>, Option<Arc<Token>>), UpstreamError> {
        let inner = &*self.inner;
        // Compression is transport, not part of the canonical form, so it is added here.
        let compression: &[(&str, &str)] = if query.gzip {
            &[("Compression", "gzip")]
        } else {
            &[]
        };
        let (uri, token) = match &inner.credential {
            Credential::OAuth(source) => {
                let token = source.token().await?;
                let uri = inner.endpoint.getreport_uri(&query.canonical, compression);
                (uri, Some(token))
            }
            Credential::KeySignature(signer) => {
                let (key, signature) = signer.sign(&query.canonical);
                let mut extra = compression.to_vec();
                extra.extend([("Key", key.as_str()), ("Signature", signature.as_str())]);
                (inner.endpoint.getreport_uri(&query.canonical, &extra), None)
            }
        };
        let mut request = Request::get(uri)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Full::default())
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let headers = request.headers_mut();
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", id);
        }
        if let Some(token) = &token {
            headers.insert(AUTHORIZATION, token.authorization().clone());
        }
        Ok((request, token))
    }
}

fn classify_send_error(
    e: &hyper_util::client::legacy::Error,
    connect_timeout: Duration,
) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return UpstreamError::Timeout {
                    phase: TimeoutPhase::Connect,
                    after: connect_timeout,
                };
            }
        }
        source = s.source();
    }
    UpstreamError::Unreachable(error_chain(e))
}

/// A header's value as text for logs and problem details: printable ASCII only, 200 chars at most.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.as_bytes();
    Some(
        value
            .iter()
            .take(200)
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

/// An error and its sources on one line; hyper's top-level messages alone say little.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
