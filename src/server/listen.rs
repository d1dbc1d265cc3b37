//! One accept loop for every listener (public and admin): HTTP/1 and HTTP/2, over TLS when
//! configured, a header read timeout (on each connection's own timer, [`ConnectionTimer`]), and a
//! graceful end: stop accepting, let connections finish within a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::future::Either;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use super::timer::ConnectionTimer;
use crate::error::BoxError;

/// How a listener serves.
#[derive(Clone)]
pub(super) struct ListenOptions {
    /// For logs: "public" or "admin".
    pub(super) name: &'static str,
    /// Also bounds the TLS handshake: a client that never finishes it holds no connection
    /// longer than one that never sends its request head.
    pub(super) header_read_timeout: Duration,
    pub(super) grace: Duration,
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("name", &self.name)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Serves `listener` with `service` until `shutdown` resolves, then closes the listener (new
/// connections are refused) and waits up to the grace period for open connections: idle ones
/// close at once, HTTP/1 ones after their request in flight, HTTP/2 ones get a GOAWAY.
pub(super) async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    options: ListenOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    // The timer is set per connection (`Connection::serve`): it keeps that connection's sleep.
    builder
        .http1()
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let local: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(listener = options.name, listen = ?local, tls = options.tls.is_some(), "casegate is serving");
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait briefly instead of spinning.
                    tracing::warn!(listener = options.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            // Taken now, before any shutdown: a handshake that ends after the signal still
            // serves gracefully, and the shutdown waits for it.
            watcher: graceful.watcher(),
            open: OpenGuard::new(&open),
        };
        let service = service.clone();
        let tls = options.tls.clone();
        let handshake_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            match tls {
                None => connection.serve(stream, service).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection.serve(stream, service).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!(listener = options.name, grace = ?options.grace, connections = open.load(Ordering::Relaxed), "shutting down: waiting for requests in flight");
    if tokio::time::timeout(options.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = options.name,
            connections = open.load(Ordering::Relaxed),
            "requests still in flight after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// One accepted connection, before its protocol is known.
struct Connection {
    builder: Builder<TokioExecutor>,
    watcher: Watcher,
    open: OpenGuard,
}

impl Connection {
    async fn serve<I, S, B>(self, io: I, service: S)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut builder = self.builder;
        builder.http1().timer(ConnectionTimer::default());
        let conn = builder
            .serve_connection(TokioIo::new(io), ConnectionService::new(service))
            .into_owned();
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(self.open);
    }
}

/// The stack as hyper calls it: one copy per connection, called in place while it is ready,
/// as hyper 0.14 drove a connection's service. hyper-util's `TowerToHyperService` clones the
/// whole stack for every request instead (a reference count up and down per shared part of
/// every layer) and moves the copy into each request's future. Every layer of casegate's stack
/// is always ready (the cache layer drives what is below it per request), so the clone is only
/// the fallback for a layer that is not.
struct ConnectionService<S>(std::sync::Mutex<S>);

impl<S> ConnectionService<S> {
    fn new(service: S) -> Self {
        Self(std::sync::Mutex::new(service))
    }
}

impl<S, R> hyper::service::Service<R> for ConnectionService<S>
where
    S: Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Oneshot<S, R>>;

    fn call(&self, request: R) -> Self::Future {
        // Only this connection's task calls it, one request at a time (HTTP/2 streams too), so
        // the lock is never contended. A panic in a layer ends that task and this copy with it,
        // so a poisoned lock is never seen in practice; taking it anyway beats a second panic.
        let mut service = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ready = Context::from_waker(Waker::noop());
        match service.poll_ready(&mut ready) {
            Poll::Ready(Ok(())) => Either::Left(service.call(request)),
            // Not ready (or failed): a copy waits for readiness with the request's own waker
            // and reports the error, as `TowerToHyperService` does.
            _ => Either::Right(service.clone().oneshot(request)),
        }
    }
}

/// Counts a connection as open while it lives (for the shutdown's log lines).
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use hyper::service::Service as _;

    use super::*;

    /// Answers each request with the number of copies made of it so far; ready once `ready`
    /// is set (a timer sets it and wakes whoever waited).
    struct Probe {
        copies: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
    }

    impl Probe {
        fn new(ready: bool) -> Self {
            Self {
                copies: Arc::default(),
                ready: Arc::new(AtomicBool::new(ready)),
            }
        }
    }

    impl Clone for Probe {
        fn clone(&self) -> Self {
            self.copies.fetch_add(1, Ordering::Relaxed);
            Self {
                copies: Arc::clone(&self.copies),
                ready: Arc::clone(&self.ready),
            }
        }
    }

    impl Service<u32> for Probe {
        type Response = (u32, usize);
        type Error = Infallible;
        type Future = futures_util::future::Ready<Result<(u32, usize), Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.ready.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            let (waker, ready) = (cx.waker().clone(), Arc::clone(&self.ready));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ready.store(true, Ordering::Relaxed);
                waker.wake();
            });
            Poll::Pending
        }

        fn call(&mut self, request: u32) -> Self::Future {
            futures_util::future::ready(Ok((request, self.copies.load(Ordering::Relaxed))))
        }
    }

    #[tokio::test]
    async fn a_ready_stack_is_called_in_place_without_a_copy_per_request() {
        let service = ConnectionService::new(Probe::new(true));
        for n in 0..100 {
            assert_eq!(service.call(n).await.unwrap(), (n, 0));
        }
    }

    #[tokio::test]
    async fn a_stack_that_is_not_ready_is_waited_for_by_a_copy() {
        let service = ConnectionService::new(Probe::new(false));
        // A copy waits until the stack is ready (woken by the timer), then answers.
        assert_eq!(service.call(7).await.unwrap(), (7, 1));
        // Ready now: answered in place, no further copy.
        assert_eq!(service.call(8).await.unwrap(), (8, 1));
    }
}
