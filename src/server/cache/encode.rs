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

/// The largest frame a read prefix is handed on in. The prefix is up to `cache.max_entry_bytes`;
/// in one frame, each stage after it that copies a frame at a time (the caller's gzip copies it
/// twice) would hold that much again, per response.
const PREFIX_FRAME: usize = 64 * 1024;

/// `prefix`, then the rest of `body`: a body read in part, handed on whole. The prefix goes in
/// frames of at most [`PREFIX_FRAME`] bytes (slices of it, not copies).
pub(super) fn prefixed(mut prefix: Bytes, body: Body) -> Body {
    let frames = std::iter::from_fn(move || {
        (!prefix.is_empty())
            .then(|| Ok(Frame::data(prefix.split_to(prefix.len().min(PREFIX_FRAME)))))
    });
    let first = futures_util::stream::iter(frames);
    StreamBody::new(futures_util::StreamExt::chain(first, BodyStream::new(body))).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_prefix_goes_on_in_small_frames_then_the_rest() {
        let prefix: Vec<u8> = (0..3 * PREFIX_FRAME + 10).map(|i| i as u8).collect();
        let rest = http_body_util::Full::new(Bytes::from_static(b"the rest"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut body = prefixed(Bytes::from(prefix.clone()), rest);
        let (mut sizes, mut all) = (Vec::new(), Vec::new());
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            all.extend_from_slice(&data);
        }
        assert_eq!(sizes, [PREFIX_FRAME, PREFIX_FRAME, PREFIX_FRAME, 10, 8]);
        assert_eq!(all[..prefix.len()], prefix[..]);
        assert_eq!(&all[prefix.len()..], b"the rest");
    }
}
