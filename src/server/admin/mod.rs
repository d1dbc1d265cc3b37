//! The admin listener's service: operations endpoints, on their own address (127.0.0.1 by
//! default) so the public API never exposes them.
//!
//! - `GET /healthz`: the process is alive (200).
//! - `GET /readyz`: every dependency checked, JSON detail per check, 503 when not ready.
//! - `GET /metrics`: Prometheus text.
//! - `GET /openapi.yaml`: the OpenAPI 3.1 description of the public API (`src/server/openapi.yaml`),
//!   for API portals and contract testers; here, since the public paths are iCasework's.
//! - `POST /cache/purge` purges everything; `POST /cache/purge?report=10800` one report. It
//!   requires `Authorization: Bearer <admin.token>`; without a configured token purging is off.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use ring::digest;

mod client;
mod ready;

pub use self::client::purge_remote;
use crate::auth::Verifier;
use crate::cache::ResponseCache;
use crate::config::SecretString;
use crate::limit::Limiter;
use crate::policy::PolicyStore;
use crate::upstream::Upstream;
use secrecy::ExposeSecret;

/// The OpenAPI description of the public API, built into the binary so it always matches it.
const OPENAPI_YAML: &[u8] = include_bytes!("../openapi.yaml");

/// What the admin endpoints need.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    cache: Option<ResponseCache>,
    verifier: Verifier,
    upstream: Upstream,
    policy: std::sync::Arc<PolicyStore>,
    /// The callers' quotas (readiness shows their Redis, when they have one).
    limiter: Limiter,
    /// SHA-256 of the admin token: compared digest to digest, so the comparison's timing says
    /// nothing about the token.
    token: Option<[u8; 32]>,
}

impl Admin {
    pub(crate) fn new(
        cache: Option<ResponseCache>,
        token: Option<&SecretString>,
        verifier: Verifier,
        upstream: Upstream,
        policy: std::sync::Arc<PolicyStore>,
        limiter: Limiter,
    ) -> Self {
        Admin {
            cache,
            verifier,
            upstream,
            policy,
            limiter,
            token: token.map(|t| sha256(t.expose_secret().as_bytes())),
        }
    }

    pub(crate) async fn handle<B>(
        self,
        request: Request<B>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let response = match (request.method(), request.uri().path()) {
            (&Method::POST, "/cache/purge") => self.purge(&request).await,
            (&Method::GET | &Method::HEAD, "/healthz") => {
                json(StatusCode::OK, &serde_json::json!({ "status": "alive" }))
            }
            (&Method::GET | &Method::HEAD, "/readyz") => {
                let (ready, detail) = ready::check(&self).await;
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(status, &detail)
            }
            (&Method::GET, "/metrics") => {
                self.sample_gauges().await;
                let mut response =
                    Response::new(Full::new(Bytes::from(crate::metrics::metrics().render())));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
            (&Method::GET | &Method::HEAD, "/openapi.yaml") => {
                let mut response = Response::new(Full::new(Bytes::from_static(OPENAPI_YAML)));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    // RFC 9512's media type for YAML.
                    http::HeaderValue::from_static("application/yaml"),
                );
                response
            }
            (_, "/cache/purge") => reply(StatusCode::METHOD_NOT_ALLOWED, "use POST /cache/purge"),
            _ => reply(
                StatusCode::NOT_FOUND,
                "no such admin endpoint; GET /healthz, /readyz, /metrics, /openapi.yaml; \
                 POST /cache/purge[?report=N]",
            ),
        };
        Ok(response)
    }

    /// Gauges read from their source at scrape time rather than kept up to date per request.
    async fn sample_gauges(&self) {
        if let Some(cache) = &self.cache {
            cache.settle();
        }
        let m = crate::metrics::metrics();
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let (entries, bytes) = self.cache.as_ref().map_or((0, 0), ResponseCache::size);
        m.cache_entries.set(gauge(entries));
        m.cache_bytes.set(gauge(bytes));
        let shared_up = self
            .cache
            .as_ref()
            .and_then(ResponseCache::shared_status)
            .is_some_and(|s| s.reachable);
        m.shared_cache_up.set(i64::from(shared_up));
    }

    async fn purge<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let Some(token) = &self.token else {
            return reply(
                StatusCode::FORBIDDEN,
                "purging is off: set admin.token in the configuration",
            );
        };
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented.map(|p| sha256(p.as_bytes())) != Some(*token) {
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer <admin.token>",
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"casegate-admin\""),
            );
            return response;
        }
        let report = match report_param(request.uri().query()) {
            Ok(report) => report,
            Err(message) => return reply(StatusCode::BAD_REQUEST, message),
        };
        let Some(cache) = &self.cache else {
            return reply(
                StatusCode::CONFLICT,
                "the cache is off ([cache] enabled = false)",
            );
        };
        let purged = cache.purge(report).await;
        tracing::info!(report, purged, "cache purged");
        json(
            StatusCode::OK,
            &serde_json::json!({ "purged": purged, "report": report }),
        )
    }
}

/// `report=N` (one report) or nothing (everything); anything else is refused.
fn report_param(query: Option<&str>) -> Result<Option<u64>, &'static str> {
    let mut report = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (&*name, report) {
            ("report", None) => {
                report = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or("report must be a ReportId such as 10800")?,
                );
            }
            ("report", Some(_)) => return Err("give report once"),
            _ => return Err("the only parameter is report=N; without it everything is purged"),
        }
    }
    Ok(report)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

fn reply(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::report_param;

    #[test]
    fn purge_parameters() {
        assert_eq!(report_param(None), Ok(None));
        assert_eq!(report_param(Some("")), Ok(None));
        assert_eq!(report_param(Some("report=10800")), Ok(Some(10800)));
        assert!(report_param(Some("report=0")).is_err());
        assert!(report_param(Some("report=abc")).is_err());
        assert!(report_param(Some("report=1&report=2")).is_err());
        assert!(report_param(Some("all=1")).is_err());
    }
}
