//! The one tower stack every public request goes through, built top to bottom in one function.

use std::convert::Infallible;

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue, Request, Response};
use hyper::body::Incoming;
use tower::{Service, ServiceBuilder};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use super::cache::CacheLayer;
use super::check::{noted, CheckLayer};
use super::limit::LimitLayer;
use super::observe::{self, ObserveLayer};
use super::problem::ProblemLayer;
use super::proxy::Proxy;
use super::redact::RedactLayer;
use super::{params, policy, route};
use std::sync::Arc;

use crate::audit::Auditor;
use crate::auth::{AuthLayer, Verifier};
use crate::cache::ResponseCache;
use crate::limit::{LimitConfig, Limiter};
use crate::params::Limits;
use crate::policy::PolicyStore;
use crate::upstream::Upstream;

pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the public service. Each `.layer()` wraps everything below it, so a request meets the
/// layers in the order they are written.
pub(super) fn build(
    verifier: Verifier,
    policy: Arc<PolicyStore>,
    upstream: Upstream,
    cache: Option<ResponseCache>,
    limits: Limits,
    quotas: (Limiter, LimitConfig),
    auditor: Arc<Auditor>,
) -> impl Service<
    Request<Incoming>,
    Response = Response<impl http_body::Body<Data = bytes::Bytes, Error = crate::error::BoxError>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    ServiceBuilder::new()
        // First, so no later layer (tracing above all) can print the caller's credentials.
        .layer(credentials_sensitive())
        // Every request gets an id before anything can log or fail (a caller's own only if
        // well formed, so it is safe in logs and upstream).
        .map_request(with_request_id)
        // The log span, metrics and audit event of every answer, errors included, as the
        // caller gets it; inside the request id so the span and the audit name it. It also
        // gives every response, errors included, the request's id back (see `observe` for why
        // not tower-http's `PropagateRequestIdLayer`).
        .layer(ObserveLayer::new(Arc::clone(&policy), auditor))
        // Errors from every layer below become problem+json here, with the request id.
        .layer(ProblemLayer)
        // Unknown paths and methods are answered before any work is done.
        .layer(CheckLayer::new(route::route::<Incoming>()))
        // Only callers with a valid token go further; they learn nothing else before this.
        .layer(AuthLayer::new(verifier))
        // Parameters are validated before anything is sent upstream. The observe layer notes
        // the caller (so a refused query is audited with its caller) and the valid query.
        .layer(CheckLayer::new(noted(
            observe::note_identity,
            params::validate::<Incoming>(limits),
            observe::note_query(),
        )))
        // The policy decides on the verified caller and the validated query (default deny);
        // the observe layer notes the deciding grant.
        .layer(CheckLayer::new(noted(
            |_: &Request<Incoming>| {},
            policy::decide::<Incoming>(policy),
            observe::note_grant,
        )))
        // Quotas need the caller and grant the policy named; they come before the cache so a
        // hit spends them too, and they see every answer below, errors included, to add the
        // RateLimit fields.
        .layer(LimitLayer::new(quotas.0, quotas.1))
        // Answers from the cache where the caller's grant and column profile allow, fills it
        // (one upstream request per key at a time) and encodes bodies for the caller.
        .layer(CacheLayer::new(cache))
        // Every byte of a report passes the deciding grant's column rules on its way out.
        .layer(RedactLayer)
        .service(Proxy::new(upstream))
}

/// Marks the caller's credentials (`Authorization`, `Proxy-Authorization` and `Cookie`, every
/// value) sensitive, so `http`'s `Debug` never prints them.
fn credentials_sensitive() -> SetSensitiveRequestHeadersLayer {
    SetSensitiveRequestHeadersLayer::new([AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE])
}

/// Keeps the caller's `X-Request-Id` if well formed (one value of 1 to 128 characters of
/// `[A-Za-z0-9._:-]`: UUIDs, trace ids, ULIDs), else sets a random (version 4) UUID.
///
/// The id stays in the request's header, where the layers below read it ([`request_id`]);
/// tower-http's `SetRequestIdLayer` also put a copy in the request's extensions, a boxed value
/// per request that was the one to make the extension map grow.
fn with_request_id<B>(mut request: Request<B>) -> Request<B> {
    let mut values = request.headers().get_all(&X_REQUEST_ID).iter();
    let well_formed = match (values.next(), values.next()) {
        (Some(v), None) => {
            let b = v.as_bytes();
            (1..=128).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        }
        _ => false,
    };
    if !well_formed {
        request
            .headers_mut()
            .insert(&X_REQUEST_ID, new_request_id());
    }
    request
}

/// The request's id, as [`with_request_id`] left it (`None` only if a test's stack lacks it).
pub(super) fn request_id<B>(request: &Request<B>) -> Option<&HeaderValue> {
    request.headers().get(&X_REQUEST_ID)
}

/// A request id as text, for logs, the audit, error bodies and iCasework ("" for none).
pub(super) fn id_text(id: Option<&HeaderValue>) -> &str {
    id.and_then(|id| id.to_str().ok()).unwrap_or("")
}

/// A random (version 4) UUID, as tower-http's `MakeRequestUuid` makes, but encoded on the
/// stack instead of through `to_string` and parsed back.
fn new_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    // Hex digits and hyphens: always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use tower::Layer;

    use super::*;

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| {
                let text = new_request_id().to_str().unwrap().to_owned();
                let uuid = uuid::Uuid::parse_str(&text).unwrap();
                assert_eq!(uuid.get_version_num(), 4, "{text}");
                assert_eq!(
                    text,
                    uuid.hyphenated().to_string(),
                    "lower-case, hyphenated"
                );
                text
            })
            .collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn every_credential_value_is_marked_sensitive_and_nothing_else() {
        let request = Request::get("/getreport")
            .header(AUTHORIZATION, "Bearer one")
            .header(AUTHORIZATION, "Bearer two")
            .header(PROXY_AUTHORIZATION, "Basic three")
            .header(COOKIE, "a=1")
            .header(COOKIE, "b=2")
            .header("x-request-id", "abc")
            .header("accept", "application/json")
            .body(())
            .unwrap();
        let mut seen = None;
        let mut service = credentials_sensitive().layer(tower::service_fn(|r: Request<()>| {
            seen = Some(r);
            std::future::ready(Ok::<_, Infallible>(Response::new(())))
        }));
        drop(service.call(request));
        drop(service);
        let request = seen.expect("the request went through");
        let credentials = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE];
        assert_eq!(request.headers().len(), 7);
        for (name, value) in request.headers() {
            assert_eq!(value.is_sensitive(), credentials.contains(name), "{name}");
        }
        let printed = format!("{:?}", request.headers());
        for secret in ["one", "two", "three", "a=1", "b=2"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn a_well_formed_id_is_kept_and_any_other_replaced() {
        let id = |values: &[&str]| {
            let mut request = Request::new(());
            for v in values {
                let value = HeaderValue::from_bytes(v.as_bytes()).unwrap();
                request.headers_mut().append(&X_REQUEST_ID, value);
            }
            let request = with_request_id(request);
            assert_eq!(request.headers().get_all(&X_REQUEST_ID).iter().count(), 1);
            request_id(&request).unwrap().to_str().unwrap().to_owned()
        };
        let long = "a".repeat(128);
        for kept in ["abc-123", "01J9Z.x_y:z", long.as_str()] {
            assert_eq!(id(&[kept]), kept);
        }
        let longer = "a".repeat(129);
        for replaced in [
            &[][..],
            &[""],
            &["has space"],
            &["tab\tinside"],
            &[longer.as_str()],
            &["one", "two"],
        ] {
            let got = id(replaced);
            assert!(
                uuid::Uuid::parse_str(&got).is_ok(),
                "{replaced:?} gave {got}"
            );
        }
    }
}
