//! The redaction `Body`: pulls upstream frames, runs them through the [`Pipeline`], and yields
//! what it lets through. A redaction error ends the body with an error, so the caller sees a
//! broken transfer, never a complete-looking report.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::pipeline::Pipeline;
use crate::error::BoxError;

pin_project! {
    #[derive(Debug)]
    pub struct RedactBody<B> {
        #[pin]
        inner: B,
        pipeline: Pipeline,
        // Output produced before the response head was sent (see `prime`).
        pending: Option<Bytes>,
        finished: bool,
    }
}

impl<B> RedactBody<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    pub fn new(inner: B, pipeline: Pipeline) -> Self {
        Self {
            inner,
            pipeline,
            pending: None,
            finished: false,
        }
    }

    /// Runs the body until its first record (a row, or a CSV header) is written or it has
    /// ended, holding the output: a body that fails at once becomes an error response instead
    /// of a broken 200, and the columns the response withholds are known for its head.
    pub async fn prime(self: &mut Pin<Box<Self>>) -> Result<(), BoxError> {
        let mut head = Vec::new();
        while self.pipeline.records() == 0 {
            match std::future::poll_fn(|cx| self.as_mut().poll_frame(cx)).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        head.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        *self.as_mut().project().pending = Some(head.into());
        Ok(())
    }
}

impl<B> Body for RedactBody<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(pending) = this.pending.take() {
            if !pending.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(pending))));
            }
        }
        loop {
            if *this.finished {
                return Poll::Ready(None);
            }
            let mut out = Vec::new();
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: never forwarded
                    };
                    if let Err(e) = this.pipeline.feed(&data, &mut out) {
                        *this.finished = true;
                        return Poll::Ready(Some(Err(failed(e))));
                    }
                }
                Some(Err(e)) => {
                    *this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    *this.finished = true;
                    if let Err(e) = this.pipeline.finish(&mut out) {
                        return Poll::Ready(Some(Err(failed(e))));
                    }
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.pending.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        // Redaction changes the length: never announce one.
        SizeHint::default()
    }
}

fn failed(e: super::RedactError) -> BoxError {
    // Logged inside the request's span (it carries the request id); never with a value.
    tracing::error!(error = %e, "redaction failed: the response is cut off (fail closed)");
    Box::new(e)
}
