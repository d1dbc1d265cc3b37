//! The innermost service: sends the validated request to iCasework and streams the answer back.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tower::Service;

use super::stack::{id_text, request_id};
use crate::error::{Body, Error};
use crate::params::GetReportQuery;
use crate::upstream::Upstream;

#[derive(Debug, Clone)]
pub(super) struct Proxy {
    upstream: Upstream,
}

impl Proxy {
    pub(super) fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

impl<B> Service<Request<B>> for Proxy {
    type Response = Response<Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let upstream = self.upstream.clone();
        let query = request.extensions_mut().remove::<GetReportQuery>();
        let request_id = id_text(request_id(&request)).to_owned();
        Box::pin(async move {
            // The params layer always runs first; without its result there is nothing to send.
            let query = query.ok_or(Error::Internal("no parsed query before the proxy"))?;
            let fetched = upstream.fetch(&query, &request_id).await?;
            // The format's type, never iCasework's label: the redactor passes only a body that
            // parses as the format asked for, so that is what the caller gets, whatever the
            // label said (a report labelled `text/html` would render in a browser).
            let content_type = HeaderValue::from_static(query.canonical.format().content_type());
            let mut response = Response::new(fetched.body.boxed_unsync());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, content_type);
            if fetched.gzip {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            // Reports hold personal data: no shared cache downstream may keep them.
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            Ok(response)
        })
    }
}
