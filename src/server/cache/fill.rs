//! One fill: the request goes down the stack (redaction, then iCasework), and the redacted body
//! is read into memory, up to the cache's entry size. A larger body is handed to the caller who
//! started the fill, uncached, as it streams.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tokio::sync::oneshot;
use tower::{Service, ServiceExt};

use super::super::redact::X_COLUMNS_WITHHELD;
use super::encode;
use crate::cache::{window_end, CacheConfig, CacheKey, Entry, FillError, Lifetime, Report};
use crate::cache::{Representation, Stored};
use crate::error::{body_error, Body, Error};
use crate::upstream::error::UpstreamError;

/// A response too large to cache, for the caller who started its fill.
pub(super) type Handover = oneshot::Sender<Response<Body>>;

/// What a fill needs besides the request.
pub(super) struct FillSpec {
    pub(super) key: CacheKey,
    pub(super) config: Arc<CacheConfig>,
    pub(super) ttl: std::time::Duration,
    /// Where a body too large to cache goes (the leader's caller), if anywhere.
    pub(super) handover: Option<Handover>,
}

/// Sends `request` down `inner` and turns the answer into an entry.
pub(super) async fn fill<S>(
    inner: S,
    request: Request<()>,
    spec: FillSpec,
) -> Result<Entry, FillError>
where
    S: Service<Request<()>, Response = Response<Body>, Error = Error> + Send,
    S::Future: Send,
{
    let failed = |e: Error| FillError::Failed(Arc::new(e));
    let response = match inner.oneshot(request).await {
        Ok(response) => response,
        Err(Error::Upstream(UpstreamError::Refused { status, code, info }))
            if code.as_deref() == Some("8051") && !spec.config.negative_ttl.is_zero() =>
        {
            let lifetime = Lifetime::new(
                SystemTime::now(),
                spec.config.negative_ttl,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
                None,
            );
            return Ok(Entry::new(Stored::NotFound { status, info }, lifetime));
        }
        Err(e) => return Err(failed(e)),
    };
    let (parts, mut body) = response.into_parts();
    let limit = usize::try_from(spec.config.max_entry_bytes).unwrap_or(usize::MAX);
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| failed(body_error(e)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        if buf.len() > limit {
            if let Some(handover) = spec.handover {
                let rest = encode::prefixed(buf.freeze(), body);
                let _ = handover.send(Response::from_parts(parts, rest));
            }
            return Err(FillError::TooLarge);
        }
    }
    let plain = buf.freeze();
    let gzip = tokio::task::spawn_blocking({
        let plain = plain.clone();
        move || encode::gzip(&plain)
    })
    .await
    .map_err(|_| failed(Error::Internal("compressing a cache entry failed")))?;
    let now = SystemTime::now();
    let config = &spec.config;
    let lifetime = Lifetime::new(
        now,
        spec.ttl,
        config.stale_while_revalidate,
        config.stale_if_error,
        window_end(spec.key.params(), now, config.time_zone),
    );
    let header = |name| parts.headers.get(name).cloned();
    let report = Report {
        content_type: header(&CONTENT_TYPE).unwrap_or(HeaderValue::from_static("text/plain")),
        withheld: header(&X_COLUMNS_WITHHELD)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0),
        columns: parts
            .extensions
            .get::<crate::redact::Withheld>()
            .map(crate::redact::Withheld::columns)
            .unwrap_or_default(),
        plain: Representation::new(plain, ""),
        gzip: Representation::new(Bytes::from(gzip), "-gzip"),
    };
    Ok(Entry::new(Stored::Report(report), lifetime))
}

/// The response for a caller whose request streamed uncached (bypass, or too large to cache).
pub(super) fn streamed(response: Response<Body>, gzip: bool) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let body = body
        .map_err(|e| {
            if let Some(e) = e.downcast_ref::<crate::redact::RedactError>() {
                e.count("aborted");
            }
            e
        })
        .boxed_unsync();
    let body = if gzip {
        parts.headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
        encode::gzip_stream(body)
    } else {
        body
    };
    Response::from_parts(parts, body)
}
