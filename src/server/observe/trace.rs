//! The request's log span and its trace events, as tower-http's `TraceLayer` wrote them for
//! HTTP (`new_for_http`: a span per request, `DEBUG` events when the request starts, when the
//! response head goes out and when its body ends, 5xx answers at `ERROR`).
//!
//! They are written here rather than by a `TraceLayer` of their own because the observe layer
//! already times every request for its metrics and its audit event: `TraceLayer` read the
//! clock six more times a request (at the start, at the head, once before and once after every
//! body frame, at the end), about a tenth of what a cache hit costs casegate outside the kernel
//! on the build machine (`benches/README.md`). Here the span costs nothing unless the log level
//! shows `INFO`, and the events read the times the observe layer has taken anyway.

use std::time::Duration;

use http::{HeaderValue, Request, StatusCode};
use tracing::Span;

use super::super::stack::{id_text, request_id};

/// One span per request: method, path and request id only, since query values may hold
/// personal data. Every log line of the layers below (and of the response body, which enters
/// it too) carries it.
pub(super) fn span<B>(request: &Request<B>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id_text(request_id(request)),
    )
}

/// Inside the request's span, before the layers below see it.
pub(super) fn on_request() {
    tracing::debug!("started processing request");
}

/// Inside the request's span, as the response head goes out: a 5xx answer is a failure SREs
/// are paged for, so it is logged at `ERROR` whatever the level, with its request id (the span
/// that also names it is an `INFO` one, off at `warn`); the rest at `DEBUG`.
pub(super) fn on_response(status: StatusCode, latency: Duration, request_id: Option<&HeaderValue>) {
    let latency = format_args!("{} ms", latency.as_millis());
    if status.is_server_error() {
        tracing::error!(
            %latency,
            status = status.as_u16(),
            request_id = id_text(request_id),
            "response failed"
        );
    } else {
        tracing::debug!(%latency, status = status.as_u16(), "finished processing request");
    }
}

/// Inside the request's span, when the response body has ended (`outcome`: complete, or
/// aborted when it failed or the caller went away).
pub(super) fn on_end(outcome: &str, duration: Duration) {
    let duration = format_args!("{} ms", duration.as_millis());
    tracing::debug!(stream_duration = %duration, outcome, "end of stream");
}
