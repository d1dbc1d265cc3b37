//! The cache layer: answers from the response cache when it may, fills it through the layers
//! below (redaction, then iCasework) when it must, and encodes every body for the caller.
//!
//! It sits after the policy decision, so only a caller with a grant for the report gets here,
//! and files answers under the grant's column profile, so a body redacted for other rules is
//! never found. Per request:
//! - fresh entry → `X-Cache: HIT`;
//! - stale within stale-while-revalidate → `STALE`, and one background refresh;
//! - otherwise a fill (joined if one is running) → `MISS`; if it fails the way an outage does
//!   and a stale entry is within stale-if-error → `STALE`;
//! - the grant's `cache_ttl` is zero, the cache is off, or the body is larger than an entry may
//!   be → streamed through → `BYPASS`.

mod encode;
mod fill;
mod respond;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures_util::future::{ready, Either, Ready};
use http::header::{ACCEPT_ENCODING, CACHE_CONTROL, IF_NONE_MATCH, PRAGMA};
use http::{HeaderMap, Method, Request, Response};
use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceExt};

use self::fill::FillSpec;
use self::respond::{respond, XCache};
use super::limit::MissQuota;
use crate::cache::{
    CacheKey, Entry, FillError, Freshness, Profile, ResponseCache, Role, Source, Stored,
};
use crate::error::{Body, Error};
use crate::params::GetReportQuery;
use crate::policy::Principal;
use crate::upstream::error::UpstreamError;

#[derive(Debug, Clone)]
pub(super) struct CacheLayer {
    cache: Option<Arc<ResponseCache>>,
}

impl CacheLayer {
    /// `None`: caching is off; bodies are still encoded for the caller.
    pub(super) fn new(cache: Option<ResponseCache>) -> Self {
        // One reference count per clone: the service is cloned for every request (and the
        // cache again for its future), and a ResponseCache clone is ten (moka's channels
        // among them), each incremented and, when the request ends, decremented again.
        Self {
            cache: cache.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cache {
            inner,
            cache: self.cache.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Cache<S> {
    inner: S,
    cache: Option<Arc<ResponseCache>>,
}

impl<S, B> Service<Request<B>> for Cache<S>
where
    S: Service<Request<()>, Response = Response<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Either<Ready<Result<Response<Body>, Error>>, Handled>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Each request drives its own clone of the inner service to readiness (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // GetReport requests have no body; what the layers below read is in the head.
        let mut request = request.map(|_| ());
        let gzip = wants_gzip(&mut request);
        if let Some(answer) = fresh_hit(self.cache.as_deref(), &request, gzip) {
            return Either::Left(ready(answer));
        }
        Either::Right(Box::pin(handle(
            self.inner.clone(),
            self.cache.clone(),
            request,
            gzip,
        )))
    }
}

/// Every answer that is not a fresh hit: a future of its own.
type Handled = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

/// The answer of a fresh entry, found and made without a future: the common case, a cache hit,
/// pays for no allocation and no state machine of its own. `None`: anything else (no entry,
/// stale, a refresh asked for, caching off for this grant, a missing extension), which
/// [`handle`] decides as before.
fn fresh_hit(
    cache: Option<&ResponseCache>,
    request: &Request<()>,
    gzip: bool,
) -> Option<Result<Response<Body>, Error>> {
    let cache = cache?;
    let grant = &request.extensions().get::<Principal>()?.grant;
    let limits = &grant.limits;
    if limits.cache_ttl.unwrap_or(cache.config().ttl).is_zero()
        || (limits.cache_refresh && asks_no_cache(request.headers()))
    {
        return None;
    }
    let query = request.extensions().get::<GetReportQuery>()?;
    let entry = cache.lookup(&query.canonical, Profile::of(&grant.columns))?;
    let now = SystemTime::now();
    (entry.freshness(now) == Freshness::Fresh).then(|| {
        note_columns(request, &entry);
        let if_none_match = request.headers().get(IF_NONE_MATCH);
        respond(&entry, XCache::Hit, gzip, if_none_match, now)
    })
}

async fn handle<S>(
    inner: S,
    cache: Option<Arc<ResponseCache>>,
    request: Request<()>,
    gzip: bool,
) -> Result<Response<Body>, Error>
where
    S: Service<Request<()>, Response = Response<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    // Read in place: a clone of the principal would count two references up and down again.
    let grant = &request
        .extensions()
        .get::<Principal>()
        .ok_or(Error::Internal("no principal before the cache"))?
        .grant;
    let limits = &grant.limits;
    let Some((cache, ttl)) = cache.and_then(|c| {
        let ttl = limits.cache_ttl.unwrap_or(c.config().ttl);
        (!ttl.is_zero()).then_some((c, ttl))
    }) else {
        return bypass(inner, request, gzip).await;
    };
    let params = request
        .extensions()
        .get::<GetReportQuery>()
        .map(|q| q.canonical.clone())
        .ok_or(Error::Internal("no parsed query before the cache"))?;
    let key = CacheKey::new(params, Profile::of(&grant.columns));
    let refresh = limits.cache_refresh && asks_no_cache(request.headers());
    let if_none_match = request.headers().get(IF_NONE_MATCH).cloned();
    let reply = |entry: &Entry, x_cache| {
        note_columns(&request, entry);
        respond(
            entry,
            x_cache,
            gzip,
            if_none_match.as_ref(),
            SystemTime::now(),
        )
    };
    let spec = |handover| FillSpec {
        key: key.clone(),
        config: Arc::new(cache.config().clone()),
        ttl,
        handover,
    };

    let mut stale = None;
    if let Some(entry) = cache.get(&key).await {
        match entry.freshness(SystemTime::now()) {
            Freshness::Fresh if !refresh => return reply(&entry, XCache::Hit),
            Freshness::Revalidate if !refresh => {
                if entry.claim_refresh() {
                    let fill = fill::fill(inner.clone(), for_fill(&request), spec(None));
                    let (cache, key, entry) = (Arc::clone(&cache), key.clone(), Arc::clone(&entry));
                    tokio::spawn(async move {
                        if cache.fill(&key, fill).await.0.is_err() {
                            entry.release_refresh();
                        }
                    });
                }
                return reply(&entry, XCache::Stale);
            }
            Freshness::Expired => {}
            _ => stale = Some(entry),
        }
    }

    let (handover, handed) = oneshot::channel();
    let fill = fill::fill(inner.clone(), for_fill(&request), spec(Some(handover)));
    let source = if refresh {
        Source::Upstream
    } else {
        Source::Any
    };
    let (filled, role) = match cache.join(&key).await {
        Some(filled) => (filled, Role::Follower),
        // Only a request that may go to iCasework spends the caller's quota for that; waiting
        // for another caller's fill does not.
        None => {
            MissQuota::spend(request.extensions()).await?;
            cache.fill_from(&key, source, fill).await
        }
    };
    match filled {
        Ok(entry) => reply(&entry, XCache::Miss),
        // Only the leader's fill holds the sender of `handed`: a follower's own sender is in
        // the fill it never ran, alive until this function returns, so a follower awaiting
        // `handed` would wait forever. A follower streams the report itself.
        Err(FillError::TooLarge) => match role {
            Role::Leader => match handed.await {
                Ok(response) => Ok(respond::mark(
                    fill::streamed(response, gzip),
                    XCache::Bypass,
                )),
                Err(_) => bypass(inner, request, gzip).await,
            },
            Role::Follower => bypass(inner, request, gzip).await,
        },
        Err(FillError::Failed(error)) => match stale {
            Some(entry)
                if is_outage(&error)
                    && entry.freshness(SystemTime::now()) != Freshness::Expired =>
            {
                tracing::warn!(error = %error, "iCasework failed: serving a stale answer");
                reply(&entry, XCache::Stale)
            }
            _ => Err(Error::Shared(error)),
        },
    }
}

/// The columns a cached answer withholds, noted for the request's audit event (a streamed
/// answer's redacting body reports its own). Through the request's notes rather than the
/// response's extensions: on a hit, those would be allocated for this alone.
fn note_columns(request: &Request<()>, entry: &Entry) {
    if let Stored::Report(report) = &entry.stored {
        super::observe::note_withheld(request, &report.columns);
    }
}

/// Streams the request's answer through uncached.
async fn bypass<S>(inner: S, request: Request<()>, gzip: bool) -> Result<Response<Body>, Error>
where
    S: Service<Request<()>, Response = Response<Body>, Error = Error>,
{
    MissQuota::spend(request.extensions()).await?;
    let response = inner.oneshot(request).await?;
    Ok(respond::mark(
        fill::streamed(response, gzip),
        XCache::Bypass,
    ))
}

/// Whether the caller wants gzip (`Compression=gzip` or `Accept-Encoding: gzip`); the layers
/// below then see neither and produce a plain body.
fn wants_gzip(request: &mut Request<()>) -> bool {
    let by_header = request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .any(|v| accepts_gzip(v.as_bytes()));
    request.headers_mut().remove(ACCEPT_ENCODING);
    let by_parameter = request
        .extensions_mut()
        .get_mut::<GetReportQuery>()
        .is_some_and(|q| std::mem::take(&mut q.gzip));
    by_header || by_parameter
}

/// A copy of the request for a fill: always GET (a HEAD still fills the cache for the next
/// caller), the same head and extensions (principal, query, request id).
fn for_fill(request: &Request<()>) -> Request<()> {
    let mut copy = request.clone();
    *copy.method_mut() = Method::GET;
    copy
}

/// `Cache-Control: no-cache` (or `max-age=0`), or the older `Pragma: no-cache`.
fn asks_no_cache(headers: &HeaderMap) -> bool {
    let directive = |name| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',').map(str::trim).any(|d| {
                    d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("max-age=0")
                })
            })
        })
    };
    directive(CACHE_CONTROL) || directive(PRAGMA)
}

/// Failures of iCasework itself (unreachable, timed out, 5xx), and requests held back to spare
/// it (breaker open, its Retry-After, casegate's concurrency or rate limit), for which a stale
/// answer is better than none. Refusals (a report no longer shared, a bad request) are passed on.
fn is_outage(error: &Error) -> bool {
    match error {
        Error::Shared(e) => is_outage(e),
        Error::Upstream(e) => matches!(
            e,
            UpstreamError::Unreachable(_)
                | UpstreamError::Timeout { .. }
                | UpstreamError::Status { .. }
                | UpstreamError::CircuitOpen { .. }
                | UpstreamError::Throttled { .. }
        ),
        _ => false,
    }
}

/// `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
fn accepts_gzip(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        for (value, gzip) in [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("identity", false),
            ("deflate", false),
        ] {
            assert_eq!(accepts_gzip(value.as_bytes()), gzip, "{value}");
        }
    }

    #[test]
    fn no_cache_directives() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, v.parse().unwrap());
            }
            h
        };
        assert!(asks_no_cache(&headers(&[("cache-control", "no-cache")])));
        assert!(asks_no_cache(&headers(&[(
            "cache-control",
            "private, No-Cache"
        )])));
        assert!(asks_no_cache(&headers(&[("cache-control", "max-age=0")])));
        assert!(asks_no_cache(&headers(&[("pragma", "no-cache")])));
        assert!(!asks_no_cache(&headers(&[("cache-control", "max-age=60")])));
        assert!(!asks_no_cache(&headers(&[])));
    }
}
