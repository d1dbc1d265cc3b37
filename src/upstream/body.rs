//! The upstream response body as casegate forwards it: streamed frame by frame, cut off with an
//! error (never a clean end) when it outgrows the size limit or the total deadline.
//!
//! An error frame makes hyper abort the transfer towards the caller, who then sees a broken
//! response instead of a complete-looking, truncated report.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;

use super::error::{TimeoutPhase, UpstreamError};
use super::protect::Lease;
use crate::error::BoxError;
use crate::metrics::{metrics, UpstreamOutcome};

#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    /// Bytes already read from `inner` (to look for the gzip magic) and not yet forwarded.
    prefix: Option<Bytes>,
    received: u64,
    limit: u64,
    total_timeout: std::time::Duration,
    deadline: Pin<Box<Sleep>>,
    failed: bool,
    /// The attempt's slot towards iCasework and its breaker ticket: given back when the body
    /// ends, fails or is dropped, since until then iCasework is still sending.
    lease: Option<Lease>,
    /// Time to the response head, until the request is counted at the body's end.
    uncounted: Option<std::time::Duration>,
}

impl UpstreamBody {
    /// `deadline` is the end of `total_timeout`, counted from when the request was sent.
    pub(crate) fn new(
        inner: Incoming,
        limit: u64,
        deadline: tokio::time::Instant,
        total_timeout: std::time::Duration,
    ) -> Self {
        Self {
            inner,
            prefix: None,
            received: 0,
            limit,
            total_timeout,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            failed: false,
            lease: None,
            uncounted: None,
        }
    }

    /// Counts the request in `casegate_upstream_requests_total` when the body ends: success,
    /// or body_error if it fails. A body dropped before its end (the caller hung up) counts
    /// as success: iCasework did nothing wrong.
    pub(crate) fn count_at_end(&mut self, to_head: std::time::Duration) {
        self.uncounted = Some(to_head);
    }

    fn count(&mut self, outcome: UpstreamOutcome) {
        if let Some(to_head) = self.uncounted.take() {
            metrics().upstream_request(outcome, to_head);
        }
    }

    /// Keeps the attempt's lease until the body is done.
    pub(crate) fn hold(&mut self, lease: Lease) {
        self.lease = Some(lease);
    }

    /// Reads until at least `n` bytes are buffered (or the body ends) and returns them, so the
    /// caller can look at the start of the body before choosing response headers.
    pub(crate) async fn peek(&mut self, n: usize) -> Result<&[u8], UpstreamError> {
        let mut buf = self.prefix.take().map(Vec::from).unwrap_or_default();
        while buf.len() < n {
            match std::future::poll_fn(|cx| self.poll_inner(cx)).await {
                Some(Ok(data)) => buf.extend_from_slice(&data),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        self.prefix = Some(Bytes::from(buf));
        Ok(self.prefix.as_deref().unwrap_or_default())
    }

    fn fail(&mut self, error: UpstreamError) -> UpstreamError {
        self.failed = true;
        self.count(UpstreamOutcome::BodyError);
        if let Some(mut lease) = self.lease.take() {
            lease.body_failed(&error);
        }
        error
    }

    /// The next data chunk from upstream, enforcing the limits. Trailers are dropped.
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, UpstreamError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let error = UpstreamError::Timeout {
                phase: TimeoutPhase::Total,
                after: self.total_timeout,
            };
            return Poll::Ready(Some(Err(self.fail(error))));
        }
        loop {
            let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                None => {
                    self.lease = None;
                    self.count(UpstreamOutcome::Success);
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    let error = UpstreamError::Unreachable(super::error_chain(&e));
                    return Poll::Ready(Some(Err(self.fail(error))));
                }
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers: iCasework sends none; never forwarded
            };
            self.received += data.len() as u64;
            metrics().upstream_response_bytes.inc_by(data.len() as u64);
            if self.received > self.limit {
                let error = UpstreamError::TooLarge { limit: self.limit };
                return Poll::Ready(Some(Err(self.fail(error))));
            }
            return Poll::Ready(Some(Ok(data)));
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.count(UpstreamOutcome::Success);
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            if !prefix.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(prefix))));
            }
        }
        match ready!(this.poll_inner(cx)) {
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(error)) => {
                // The response head is already on its way: all that is left is to break the
                // transfer, so the caller cannot take what arrived for the whole report.
                // Logged inside the request's span, which carries the request id.
                tracing::error!(received_bytes = this.received, error = %error, "aborting the response: upstream body failed");
                Poll::Ready(Some(Err(Box::new(error))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.as_ref().is_none_or(Bytes::is_empty) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + prefix);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + prefix);
        }
        hint
    }
}
