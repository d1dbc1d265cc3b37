//! The response body as the observe layer hands it on: counts the bytes the caller is sent,
//! holds the request's place in `casegate_requests_in_flight`, and writes the audit event when
//! the body ends, fails or is dropped (an aborted transfer is an outcome too).

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

use super::audit::Pending;
use super::trace;

/// Holds one place in `casegate_requests_in_flight` until dropped.
#[derive(Debug)]
pub(super) struct InFlight(());

impl InFlight {
    pub(super) fn enter() -> InFlight {
        crate::metrics::metrics().requests_in_flight.inc();
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        crate::metrics::metrics().requests_in_flight.dec();
    }
}

/// How a response body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// Every byte was handed on (or there was none to send: HEAD, 304).
    Complete,
    /// The body failed (fail-closed redaction, an upstream failure mid-stream) or the caller
    /// went away before its end.
    Aborted,
}

impl Ending {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Ending::Complete => "complete",
            Ending::Aborted => "aborted",
        }
    }
}

pin_project! {
    #[derive(Debug)]
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        bytes: u64,
        in_flight: Option<InFlight>,
        audit: Option<Box<Pending>>,
        // Nothing to send: a HEAD answer (hyper drops its body unread), or an empty body.
        nothing: bool,
        started: Instant,
        span: Span,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.in_flight.is_some() {
                let ending = if *this.nothing {
                    Ending::Complete
                } else {
                    Ending::Aborted
                };
                end(this.in_flight, this.audit, *this.bytes, ending, *this.started, this.span);
            }
        }
    }
}

/// The request is over: it leaves the in-flight gauge and is audited now, not when the
/// connection gets round to dropping the body. The clock is read once, for whoever needs it.
fn end(
    in_flight: &mut Option<InFlight>,
    audit: &mut Option<Box<Pending>>,
    bytes: u64,
    ending: Ending,
    started: Instant,
    span: &Span,
) {
    in_flight.take();
    let traced = tracing::enabled!(tracing::Level::DEBUG);
    if audit.is_none() && !traced {
        return;
    }
    let duration = started.elapsed();
    if traced {
        let _entered = span.enter();
        trace::on_end(ending.as_str(), duration);
    }
    if let Some(audit) = audit.take() {
        audit.emit(bytes, ending, duration);
    }
}

impl<B: Body> ObservedBody<B> {
    pub(super) fn new(
        inner: B,
        in_flight: InFlight,
        audit: Option<Box<Pending>>,
        head: bool,
        (started, span): (Instant, Span),
    ) -> Self {
        ObservedBody {
            nothing: head || inner.is_end_stream(),
            inner,
            bytes: 0,
            in_flight: Some(in_flight),
            audit,
            started,
            span,
        }
    }
}

impl<B> Body for ObservedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        // What the body logs (an upstream failure mid-stream) names the request.
        let entered = this.span.enter();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        drop(entered);
        let ending = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.len() as u64;
                }
                // hyper stops polling a body that says it has ended (a full body after its
                // one frame), so its end is seen here, not as a `None`.
                this.inner.is_end_stream().then_some(Ending::Complete)
            }
            Some(Err(_)) => Some(Ending::Aborted),
            None => Some(Ending::Complete),
        };
        if let Some(ending) = ending.filter(|_| this.in_flight.is_some()) {
            end(
                this.in_flight,
                this.audit,
                *this.bytes,
                ending,
                *this.started,
                this.span,
            );
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Passed on exactly: hyper writes Content-Length from an exact hint.
        self.inner.size_hint()
    }
}
