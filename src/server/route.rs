//! Which endpoint a request is for: `GET /getreport?...` or its alias `GET /reports/{ReportId}?...`.
//! Anything else is answered here, before any other work.

use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::{Method, Request, Response};
use tower::{Layer, Service};

use crate::error::{Body, Error};

/// The matched route, in the request's extensions for later layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `{ReportId}` path segment of the alias route, as sent.
    pub path_report_id: Option<String>,
}

/// Matches a path exactly: no trailing slash, no `//`, no dot segments, no percent-encoding
/// in the routing part, so there is one spelling of each endpoint.
pub fn match_path(path: &str) -> Option<Route> {
    if path == "/getreport" {
        return Some(Route {
            path_report_id: None,
        });
    }
    let id = path.strip_prefix("/reports/")?;
    (!id.is_empty() && !id.contains('/')).then(|| Route {
        path_report_id: Some(id.to_owned()),
    })
}

#[derive(Debug, Clone, Default)]
pub struct RouteLayer;

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RouteService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RouteService<S>
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
        let Some(route) = match_path(request.uri().path()) else {
            return Either::Left(ready(Err(Error::NotFound)));
        };
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Either::Left(ready(Err(Error::Method)));
        }
        request.extensions_mut().insert(route);
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_paths_only() {
        assert_eq!(match_path("/getreport").unwrap().path_report_id, None);
        assert_eq!(
            match_path("/reports/10800")
                .unwrap()
                .path_report_id
                .as_deref(),
            Some("10800")
        );
        for path in [
            "/",
            "/getreport/",
            "//getreport",
            "/getreport/..",
            "/GetReport",
            "/reports/",
            "/reports/1/2",
            "/reports",
            "/getreport%2f",
        ] {
            assert!(match_path(path).is_none(), "{path}");
        }
    }
}
