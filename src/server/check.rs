//! A layer that checks (and may annotate) a request before the inner service sees it: the shape
//! shared by routing and parameter validation. A failed check answers at once; nothing below it
//! runs.

use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::{Request, Response};
use tower::{Layer, Service};

use crate::error::{Body, Error};

/// Runs `check` on every request; `Err` short-circuits with that error. A check may keep state
/// (the routing and parameter checks remember their connection's last valid Host and query):
/// each connection's copy of the stack has its own.
#[derive(Debug, Clone)]
pub(super) struct CheckLayer<F> {
    check: F,
}

impl<F> CheckLayer<F> {
    pub(super) fn new(check: F) -> Self {
        Self { check }
    }
}

impl<S, F: Clone> Layer<S> for CheckLayer<F> {
    type Service = Check<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Check {
            inner,
            check: self.check.clone(),
        }
    }
}

/// `check` with notes around it: `before` sees every request that reaches the check, `after`
/// those it passed. The observe layer learns what the layers below found (the caller, the
/// query, the grant) this way, without a layer of its own for each note.
pub(super) fn noted<B>(
    mut before: impl FnMut(&Request<B>) + Clone,
    mut check: impl FnMut(&mut Request<B>) -> Result<(), Error> + Clone,
    mut after: impl FnMut(&Request<B>) + Clone,
) -> impl FnMut(&mut Request<B>) -> Result<(), Error> + Clone {
    move |request| {
        before(request);
        check(request)?;
        after(request);
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub(super) struct Check<S, F> {
    inner: S,
    check: F,
}

impl<S, F, B> Service<Request<B>> for Check<S, F>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error>,
    F: FnMut(&mut Request<B>) -> Result<(), Error>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Either<Ready<Result<Response<Body>, Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match (self.check)(&mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(e) => Either::Left(ready(Err(e))),
        }
    }
}
