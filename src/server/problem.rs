//! Turns the inner services' errors into problem+json responses carrying the request id.
//! The mapping itself lives in `crate::error`; this layer only decides where it happens: outside
//! every layer that can fail, inside the ones that set the request id and trace.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::stack::id_text;
use crate::error::{Body, Error};

#[derive(Debug, Clone, Default)]
pub(super) struct ProblemLayer;

impl<S> Layer<S> for ProblemLayer {
    type Service = ProblemService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProblemService { inner }
    }
}

#[derive(Debug, Clone)]
pub(super) struct ProblemService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for ProblemService<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error>,
{
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = ProblemFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner services are always ready (they hold no capacity of their own yet); an
        // error here would have no request to answer, so it is treated as ready.
        let _ = ready!(self.inner.poll_ready(cx));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Kept as the id's header value (a reference count), not copied into a string: only a
        // failed request needs it as text.
        let request_id = super::stack::request_id(&request).cloned();
        ProblemFuture {
            inner: self.inner.call(request),
            request_id,
        }
    }
}

pin_project! {
    #[derive(Debug)]
    pub struct ProblemFuture<F> {
        #[pin]
        inner: F,
        request_id: Option<HeaderValue>,
    }
}

impl<F> Future for ProblemFuture<F>
where
    F: Future<Output = Result<Response<Body>, Error>>,
{
    type Output = Result<Response<Body>, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.inner.poll(cx)) {
            Ok(response) => response,
            Err(e) => e.into_response(id_text(this.request_id.as_ref())),
        }))
    }
}
