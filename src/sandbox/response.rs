//! What the sandbox sends back: a body that goes out in 64 KiB frames, and upstream's error shape
//! (status, `X-Application-Error-Code`, `X-Application-Error-Info`, a small HTML page).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use super::stream::ReportStream;

/// The size of one data frame: a large body reaches the client in many frames, as a real
/// streamed report would.
pub(crate) const FRAME: usize = 64 * 1024;

/// A body sent in frames of at most [`FRAME`] bytes: one already in memory, whose exact length
/// makes hyper send a `Content-Length`, or one rendered while it streams, sent chunked.
#[derive(Debug)]
pub(crate) enum ChunkedBody {
    Whole(Bytes),
    Streamed(Box<ReportStream>),
}

impl Default for ChunkedBody {
    fn default() -> Self {
        Self::Whole(Bytes::new())
    }
}

impl ChunkedBody {
    pub(crate) fn new(body: impl Into<Bytes>) -> Self {
        Self::Whole(body.into())
    }

    pub(crate) fn streamed(stream: ReportStream) -> Self {
        Self::Streamed(Box::new(stream))
    }
}

impl Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            ChunkedBody::Whole(rest) if rest.is_empty() => None,
            ChunkedBody::Whole(rest) => Some(rest.split_to(rest.len().min(FRAME))),
            // A frame's worth of rendering takes a millisecond at most (CSV, gzipped): no need
            // to leave the runtime.
            ChunkedBody::Streamed(stream) => stream.next_frame(),
        };
        Poll::Ready(frame.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ChunkedBody::Whole(rest) => rest.is_empty(),
            ChunkedBody::Streamed(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ChunkedBody::Whole(rest) => SizeHint::with_exact(rest.len() as u64),
            ChunkedBody::Streamed(_) => SizeHint::default(),
        }
    }
}

/// An iCasework application error: the headers carry the meaning, the HTML is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AppError {
    pub(crate) status: StatusCode,
    pub(crate) code: u16,
    pub(crate) info: String,
}

impl AppError {
    pub(crate) fn new(status: StatusCode, code: u16, info: impl Into<String>) -> Self {
        Self {
            status,
            code,
            info: info.into(),
        }
    }

    pub(crate) fn bad_request(code: u16, info: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, info)
    }

    pub(crate) fn forbidden(info: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 8021, info)
    }

    pub(crate) fn into_response(self) -> Response<ChunkedBody> {
        let mut response = html(self.status, &self.info);
        let headers = response.headers_mut();
        headers.insert("x-application-error-code", HeaderValue::from(self.code));
        // Callers build infos from fixed text and `header_safe` values; never fail here.
        let info = HeaderValue::from_str(&self.info)
            .unwrap_or_else(|_| HeaderValue::from_static("Invalid request"));
        headers.insert("x-application-error-info", info);
        response
    }
}

/// A small HTML page, as upstream sends with its errors.
pub(crate) fn html(status: StatusCode, message: &str) -> Response<ChunkedBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            _ => escaped.push(c),
        }
    }
    let page = format!(
        "<html><head><title>{code} {reason}</title></head>\
         <body><h1>{code} {reason}</h1><p>{escaped}</p></body></html>",
        code = status.as_u16()
    );
    let mut response = Response::new(ChunkedBody::new(page));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `value` made fit for a header and a log line: controls and non-ASCII percent-encoded, and cut
/// short, since it may be anything a caller sent.
pub(crate) fn header_safe(value: &str) -> String {
    let mut safe: String =
        percent_encoding::utf8_percent_encode(value, percent_encoding::CONTROLS).to_string();
    if safe.len() > 100 {
        let mut cut = 100;
        while !safe.is_char_boundary(cut) {
            cut -= 1;
        }
        safe.truncate(cut);
        safe.push_str("...");
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn chunked_body_sends_frames_of_at_most_64_kib() {
        let mut body = ChunkedBody::new(vec![7u8; 3 * FRAME + 5]);
        assert_eq!(body.size_hint().exact(), Some(3 * FRAME as u64 + 5));
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [FRAME, FRAME, FRAME, 5]);
        assert!(body.is_end_stream());
    }

    #[test]
    fn error_response_has_upstream_headers() {
        let response = AppError::bad_request(8051, "Report 1<2 not found").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["x-application-error-code"], "8051");
        assert_eq!(
            response.headers()["x-application-error-info"],
            "Report 1<2 not found"
        );
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn header_safe_encodes_and_truncates() {
        assert_eq!(header_safe("Zoë\r\n"), "Zo%C3%AB%0D%0A");
        assert_eq!(header_safe(&"x".repeat(300)).len(), 103);
    }
}
