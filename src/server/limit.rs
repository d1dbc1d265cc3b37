//! Callers' quotas on the request path: after the policy decision (which names the caller and
//! its grant), before the cache.
//!
//! A request spends the caller's quota and its per-report quota here; over either, it is
//! answered 429 at once. If the caller also has a quota of requests to iCasework, the request
//! carries a [`MissQuota`] on to the cache, which spends it only when the request would
//! really go to iCasework (a fill it starts, or an uncached request), never for a hit or for
//! waiting on another caller's fill.
//!
//! Every response of a limited caller carries the RateLimit fields of the quota closest to
//! running out. Responses below this layer are still `Err(Error)` when they fail (the problem
//! mapping is higher up), so on that path the fields travel in [`Error::WithHeaders`] and are
//! added where the error becomes a response.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

use crate::error::{retry_secs, Body, Error};
use crate::limit::{Denied, Key, LimitConfig, Limiter, Plan, State};
use crate::metrics::metrics;
use crate::params::GetReportQuery;
use crate::policy::{Principal, Rate};

static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

#[derive(Debug, Clone)]
pub(super) struct LimitLayer {
    limiter: Limiter,
    defaults: Arc<LimitConfig>,
}

impl LimitLayer {
    pub(super) fn new(limiter: Limiter, defaults: LimitConfig) -> Self {
        Self {
            limiter,
            defaults: Arc::new(defaults),
        }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limit {
            inner,
            limiter: self.limiter.clone(),
            defaults: Arc::clone(&self.defaults),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Limit<S> {
    inner: S,
    limiter: Limiter,
    defaults: Arc<LimitConfig>,
}

impl<S, B> Service<Request<B>> for Limit<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Error;
    /// An unlimited caller's request goes on without a future of this layer's own.
    type Future =
        Either<S::Future, Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let plan = match plan(&request, &self.defaults) {
            Ok(plan) if plan.is_limited() => plan,
            Ok(_) => return Either::Left(self.inner.call(request)),
            Err(e) => return Either::Right(Box::pin(std::future::ready(Err(e)))),
        };
        // The clone that was made ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        Either::Right(Box::pin(async move {
            // The caller's quota and its per-report quota: with Redis, one round trip.
            let quotas: Vec<(Key, Rate)> = plan.requests().collect();
            let mut shown = match limiter.check_each(&quotas).await {
                Ok(shown) => shown,
                Err(denied) => return Err(refuse(denied)),
            };
            let miss = plan
                .miss
                .map(|(key, rate)| MissQuota::new(&limiter, key, rate));
            if let Some(miss) = &miss {
                request.extensions_mut().insert(miss.clone());
            }
            let result = inner.call(request).await;
            if let Some(state) = miss.and_then(|m| m.spent()) {
                shown = Some(tighter(shown, state));
            }
            let headers = shown.map(|s| fields(&s)).unwrap_or_default();
            match result {
                Ok(mut response) => {
                    response.headers_mut().extend(headers);
                    Ok(response)
                }
                Err(e) => Err(Error::WithHeaders(Box::new(e), headers)),
            }
        }))
    }
}

/// The request's quotas; the policy layer above must have decided.
fn plan<B>(request: &Request<B>, defaults: &LimitConfig) -> Result<Plan, Error> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .ok_or(Error::Internal("no principal before the rate limit"))?;
    let report = request
        .extensions()
        .get::<GetReportQuery>()
        .ok_or(Error::Internal("no parsed query before the rate limit"))?
        .canonical
        .report_id();
    Ok(Plan::new(
        &principal.grant,
        &principal.identity,
        report,
        defaults,
    ))
}

fn tighter(shown: Option<State>, state: State) -> State {
    shown.map_or(state, |s| s.tighter(state))
}

/// The 429 for a refused request, with the refused quota's fields.
fn refuse(denied: Denied) -> Error {
    metrics()
        .rate_limited
        .with_label_values(&[denied.scope.as_str()])
        .inc();
    let error = Error::RateLimited {
        scope: denied.scope,
        retry_after: denied.retry_after,
    };
    Error::WithHeaders(Box::new(error), fields(&denied.state))
}

/// `RateLimit-Limit`, `-Remaining`, `-Reset` (draft-ietf-httpapi-ratelimit-headers): the
/// burst, what is left of it, and whole seconds (rounded up) until it is full again, or for a
/// refused request until the next is accepted (then equal to Retry-After).
fn fields(state: &State) -> HeaderMap {
    let reset = if state.reset.is_zero() {
        0
    } else {
        retry_secs(state.reset)
    };
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(state.limit));
    headers.insert(
        RATELIMIT_REMAINING.clone(),
        HeaderValue::from(state.remaining),
    );
    headers.insert(RATELIMIT_RESET.clone(), HeaderValue::from(reset));
    headers
}

/// The caller's quota of requests to iCasework, carried in the request's extensions for the
/// cache to spend just before a request would go there.
#[derive(Debug, Clone)]
pub(super) struct MissQuota(Arc<MissInner>);

#[derive(Debug)]
struct MissInner {
    limiter: Limiter,
    key: Key,
    rate: Rate,
    /// The quota's state once spent (or refused), for this request's RateLimit fields.
    spent: Mutex<Option<State>>,
}

impl MissQuota {
    fn new(limiter: &Limiter, key: Key, rate: Rate) -> Self {
        MissQuota(Arc::new(MissInner {
            limiter: limiter.clone(),
            key,
            rate,
            spent: Mutex::new(None),
        }))
    }

    /// Spends one request to iCasework from the quota the request carries, if it carries one:
    /// `Err` (429) when it is used up.
    pub(super) async fn spend(extensions: &Extensions) -> Result<(), Error> {
        let Some(quota) = extensions.get::<MissQuota>().cloned() else {
            return Ok(());
        };
        let q = &quota.0;
        let verdict = q.limiter.check(&q.key, &q.rate).await;
        let state = match &verdict {
            Ok(state) => *state,
            Err(denied) => denied.state,
        };
        *q.spent.lock().unwrap_or_else(PoisonError::into_inner) = Some(state);
        verdict.map(drop).map_err(|denied| {
            metrics()
                .rate_limited
                .with_label_values(&[denied.scope.as_str()])
                .inc();
            Error::RateLimited {
                scope: denied.scope,
                retry_after: denied.retry_after,
            }
        })
    }

    fn spent(&self) -> Option<State> {
        *self.0.spent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tower::{service_fn, ServiceExt};

    use super::*;
    use crate::auth::Identity;
    use crate::policy::Policy;
    use crate::upstream::error::UpstreamError;

    /// A request as the policy layer passes it on: the caller "a" under a grant with `limits`.
    fn request(limits: &str) -> Request<()> {
        let text = format!(
            "[[grant]]\nname = \"g\"\nreports = \"all\"\nwho = {{ sub = \"a\" }}\n\
             [grant.limits]\n{limits}\n"
        );
        let policy = Policy::parse(Path::new("policy.toml"), &text).unwrap();
        let serde_json::Value::Object(claims) = serde_json::json!({"iss": "i", "sub": "a"}) else {
            unreachable!()
        };
        let mut request = Request::new(());
        let query = crate::params::parse(
            Some("ReportId=10800"),
            None,
            &crate::params::Limits::default(),
        )
        .unwrap();
        request.extensions_mut().insert(query);
        request.extensions_mut().insert(Principal {
            identity: Arc::new(Identity::from_claims(claims)),
            grant: policy.grants()[0].clone(),
        });
        request
    }

    fn layer() -> LimitLayer {
        LimitLayer::new(
            Limiter::new(&LimitConfig::default()),
            LimitConfig::default(),
        )
    }

    #[tokio::test]
    async fn errors_from_below_leave_with_the_fields() {
        let failing = service_fn(|_: Request<()>| async {
            Err::<Response<Body>, _>(Error::Upstream(UpstreamError::Unreachable("reset".into())))
        });
        let got = layer()
            .layer(failing)
            .oneshot(request("rate = \"3/hour\""))
            .await;
        let Err(Error::WithHeaders(error, headers)) = got else {
            panic!("the error carries the fields: {got:?}")
        };
        assert!(matches!(*error, Error::Upstream(_)));
        assert_eq!(headers[&RATELIMIT_LIMIT], "3");
        assert_eq!(headers[&RATELIMIT_REMAINING], "2");
        assert_eq!(headers[&RATELIMIT_RESET], "1200");
    }

    #[tokio::test]
    async fn unlimited_callers_pass_untouched_and_a_missing_principal_fails_closed() {
        let ok = service_fn(|_: Request<()>| async {
            Ok::<_, Error>(Response::new(crate::error::full_body("")))
        });
        let response = layer().layer(ok).oneshot(request("")).await.unwrap();
        assert!(response.headers().is_empty());
        let got = layer().layer(ok).oneshot(Request::new(())).await;
        assert!(matches!(got, Err(Error::Internal(_))), "{got:?}");
    }
}
