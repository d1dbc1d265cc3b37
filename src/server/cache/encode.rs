//! Bodies in the caller's encoding: gzip for those who ask (`Compression=gzip` or
//! `Accept-Encoding: gzip`), compressed once per cache entry or while streaming.

use std::io::Write;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, StreamBody};

use crate::error::Body;
use crate::redact::{Passthrough, Pipeline, RedactBody};

/// `plain` compressed for storing: level 6, done once per entry and served many times.
pub(super) fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(plain);
    encoder.finish().unwrap_or_default()
}

/// `body` compressed as it streams (the pipeline's fast gzip stage, nothing redacted again).
pub(super) fn gzip_stream(body: Body) -> Body {
    RedactBody::new(body, Pipeline::new(Box::new(Passthrough), false, true)).boxed_unsync()
}

/// `prefix`, then the rest of `body`: a body read in part, handed on whole.
pub(super) fn prefixed(prefix: Bytes, body: Body) -> Body {
    let first = futures_util::stream::once(async move { Ok(Frame::data(prefix)) });
    StreamBody::new(futures_util::StreamExt::chain(first, BodyStream::new(body))).boxed_unsync()
}
