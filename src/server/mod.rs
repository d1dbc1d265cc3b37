//! The public listener: accepts connections and serves each with the one tower stack.

mod cache;
mod check;
mod params;
mod policy;
mod problem;
mod proxy;
mod redact;
pub mod route;
mod stack;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::cache::ResponseCache;
use crate::config::{Config, ServerConfig};
use crate::policy::PolicyStore;
use crate::upstream::Upstream;

/// A gateway ready to serve: configuration checked, upstream client and credential built.
#[derive(Debug)]
pub struct Gateway {
    server: ServerConfig,
    verifier: Verifier,
    policy: Arc<PolicyStore>,
    upstream: Upstream,
    cache: Option<ResponseCache>,
}

impl Gateway {
    /// Builds the gateway; remote key sets of the callers' identity providers are fetched here.
    pub async fn new(config: &Config) -> std::io::Result<Self> {
        Ok(Self {
            server: config.server.clone(),
            verifier: Verifier::new(&config.auth).await,
            policy: config.policy.clone(),
            upstream: Upstream::new(&config.upstream)?,
            cache: config
                .cache
                .enabled
                .then(|| ResponseCache::new(config.cache.clone())),
        })
    }

    /// The policy in force (tests and readiness look at it).
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.policy
    }

    /// The upstream client (tests and readiness look at its credential).
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The response cache, when it is on.
    pub fn cache(&self) -> Option<&ResponseCache> {
        self.cache.as_ref()
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        TcpListener::bind(self.server.listen).await
    }

    /// Serves `listener` until `shutdown` resolves, then lets requests in flight finish for up
    /// to `server.shutdown_grace`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        // Reload the policy on SIGHUP and when its file changes, for as long as this serves.
        let _policy_watch = crate::policy::watch(self.policy.clone())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot watch the policy file; reload with SIGHUP only"))
            .ok();
        let service = stack::build(
            self.verifier,
            self.policy,
            self.upstream,
            self.cache,
            self.server.limits,
        );
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.server.header_read_timeout);
        let graceful = GracefulShutdown::new();
        let local: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(listen = ?local, "casegate is serving");
        tokio::pin!(shutdown);
        loop {
            let (stream, _peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let conn = builder
                .serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service.clone()),
                )
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!(grace = ?self.server.shutdown_grace, "shutting down: waiting for requests in flight");
        if tokio::time::timeout(self.server.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "requests still in flight after the shutdown grace period; closing them"
            );
        }
        Ok(())
    }
}
