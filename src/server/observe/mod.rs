//! The observe layer: every public request's log span, metrics and audit event.
//!
//! It stands outside the problem mapping, so it sees every answer, errors included, as the
//! caller gets it. It opens the request's span (entered by everything below it, the response
//! body included) and logs the request's start, head (5xx at `ERROR`) and end as tower-http's
//! `TraceLayer` did (see [`trace`] for why here); when the response head goes out it counts `casegate_requests_total` and
//! `casegate_request_duration_seconds` (route, status class, report, cache status); the body it
//! hands on counts the bytes sent, keeps the request in `casegate_requests_in_flight` until its
//! end, and then writes the audit event. What the layers below learn (the caller, the ReportId,
//! the grant, a cached answer's withheld columns) comes back through the [`Seen`] record the
//! notes in the stack and the cache layer fill in.
//!
//! It also puts the request id on every response: it holds the id already, and tower-http's
//! `PropagateRequestIdLayer`, which did this before, also looked the header up twice more and
//! stored the id in each response's extensions, where nothing reads it (an allocation a
//! request; together about 2 % of a cache hit's instructions).

mod audit;
mod body;
mod seen;
mod trace;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use self::body::InFlight;
pub use self::body::ObservedBody;
use self::seen::Seen;
pub use self::seen::{note_grant, note_identity, note_query, note_withheld};
use crate::audit::Auditor;
use crate::metrics::requests::{CacheLabel, RequestSeries, RouteLabel};
use crate::policy::{Policy, PolicyStore};

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The request series for the policy they were built for.
#[derive(Debug)]
struct Series {
    policy: Arc<Policy>,
    requests: RequestSeries,
}

#[derive(Debug)]
struct Shared {
    store: Arc<PolicyStore>,
    series: ArcSwap<Series>,
    auditor: Arc<Auditor>,
}

impl Shared {
    /// The series for the policy in force, rebuilt (once) after a reload changed it.
    fn series(&self) -> arc_swap::Guard<Arc<Series>> {
        let series = self.series.load();
        let policy = self.store.snapshot();
        if Arc::ptr_eq(&series.policy, &policy) {
            return series;
        }
        self.series.store(Arc::new(Series::of(Arc::clone(&policy))));
        self.series.load()
    }
}

impl Series {
    fn of(policy: Arc<Policy>) -> Series {
        Series {
            requests: RequestSeries::new(policy.named_reports()),
            policy,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub fn new(store: Arc<PolicyStore>, auditor: Arc<Auditor>) -> Self {
        let series = ArcSwap::from_pointee(Series::of(store.current()));
        ObserveLayer {
            shared: Arc::new(Shared {
                store,
                series,
                auditor,
            }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B, ResBody> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let span = trace::span(&request);
        let entered = span.enter();
        trace::on_request();
        let in_flight = InFlight::enter();
        let route = RouteLabel::of(request.uri().path());
        let auditor = self
            .shared
            .auditor
            .on()
            .then(|| Arc::clone(&self.shared.auditor));
        // The id names the request in its audit event and in a failure's log line; only an
        // audited request needs its method after the head.
        let request_id = super::stack::request_id(&request).cloned();
        let audit = auditor.is_some().then(|| request.method().clone());
        let seen = Arc::new(Seen::new(auditor));
        request.extensions_mut().insert(Arc::clone(&seen));
        let head = request.method() == Method::HEAD;
        let inner = self.inner.call(request);
        drop(entered);
        ObserveFuture {
            inner,
            span,
            state: Some(State {
                started,
                in_flight,
                route,
                seen,
                request_id,
                audit,
                head,
                shared: Arc::clone(&self.shared),
            }),
        }
    }
}

#[derive(Debug)]
struct State {
    started: Instant,
    in_flight: InFlight,
    route: RouteLabel,
    seen: Arc<Seen>,
    request_id: Option<HeaderValue>,
    audit: Option<Method>,
    head: bool,
    shared: Arc<Shared>,
}

pin_project! {
    #[derive(Debug)]
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        state: Option<State>,
    }
}

impl<F, ResBody, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<Response<ObservedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let entered = this.span.enter();
        let mut response = ready!(this.inner.poll(cx))?;
        let Some(state) = this.state.take() else {
            // Polled again after completing: a caller bug tower rules out.
            panic!("ObserveFuture polled after completion");
        };
        if let Some(id) = &state.request_id {
            // Written over whatever is there: no layer below names a request, but a cached
            // hit's head holds a slot for the id (`cache::respond`).
            (response.headers_mut()).insert(&super::stack::X_REQUEST_ID, id.clone());
        }
        let latency = state.started.elapsed();
        trace::on_response(response.status(), latency, state.request_id.as_ref());
        drop(entered);
        let cache = CacheLabel::of(response.headers().get(&X_CACHE).map(|v| v.as_bytes()));
        state.shared.series().requests.count(
            state.route,
            response.status().as_u16(),
            state.seen.notes().report.map(|r| r.get()),
            cache,
            latency,
        );
        let audit = state.audit.map(|method| {
            audit::Pending::new(
                Arc::clone(&state.seen),
                state.request_id,
                method,
                state.route.label(),
                cache.label(),
                &response,
            )
        });
        Poll::Ready(Ok(response.map(|body| {
            ObservedBody::new(
                body,
                state.in_flight,
                audit,
                state.head,
                (state.started, this.span.clone()),
            )
        })))
    }
}
