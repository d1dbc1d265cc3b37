//! Validates the GetReport parameters and puts their canonical form in the request's extensions.
//! A request that fails here never reaches iCasework.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::{Request, Response};
use tower::{Layer, Service};

use super::route::Route;
use crate::error::{Body, Error};
use crate::params::{parse, Limits};

#[derive(Debug, Clone)]
pub(super) struct ParamsLayer {
    limits: Arc<Limits>,
}

impl ParamsLayer {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            limits: Arc::new(limits),
        }
    }
}

impl<S> Layer<S> for ParamsLayer {
    type Service = ParamsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ParamsService {
            inner,
            limits: self.limits.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct ParamsService<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S, B> Service<Request<B>> for ParamsService<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Either<Ready<Result<Response<Body>, Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path_id = request
            .extensions()
            .get::<Route>()
            .and_then(|r| r.path_report_id.as_deref());
        match parse(request.uri().query(), path_id, &self.limits) {
            Ok(query) => {
                request.extensions_mut().insert(query);
                Either::Right(self.inner.call(request))
            }
            Err(e) => Either::Left(ready(Err(e.into()))),
        }
    }
}
