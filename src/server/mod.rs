//! The gateway's listeners: the public one serves the one tower stack; the admin one, the
//! operations endpoints.

mod admin;
pub use self::admin::purge_remote;
mod cache;
mod check;
mod limit;
mod listen;
/// Public only for `benches/observe.rs`; the stack function is the one place it is used.
#[doc(hidden)]
pub mod observe;
mod params;
mod policy;
mod problem;
mod proxy;
mod redact;
pub mod route;
mod stack;
mod timer;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use self::admin::Admin;
use self::listen::ListenOptions;

use crate::audit::Auditor;
use crate::auth::Verifier;
use crate::cache::ResponseCache;
use crate::config::{AdminConfig, Config, ServerConfig};
use crate::limit::{LimitConfig, Limiter};
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
    admin: AdminConfig,
    limiter: Limiter,
    limits: LimitConfig,
    auditor: Arc<Auditor>,
}

impl Gateway {
    /// Builds the gateway; remote key sets of the callers' identity providers are fetched here.
    pub async fn new(config: &Config) -> std::io::Result<Self> {
        // Before the upstream: with [limits.redis], the global rate to iCasework is kept in the
        // same Redis as the callers' quotas.
        let limiter = Limiter::new(&config.limits);
        Ok(Self {
            server: config.server.clone(),
            verifier: Verifier::new(&config.auth).await,
            policy: config.policy.clone(),
            upstream: Upstream::new(&config.upstream, limiter.shared())?,
            cache: config
                .cache
                .enabled
                .then(|| ResponseCache::new(config.cache.clone())),
            admin: config.admin.clone(),
            limiter,
            limits: config.limits.clone(),
            auditor: Arc::new(Auditor::new(&config.audit)),
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

    /// The callers' quotas (tests look at how many keys they hold).
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Binds the public and the admin addresses.
    pub async fn bind(&self) -> std::io::Result<Listeners> {
        Ok(Listeners {
            public: TcpListener::bind(self.server.listen).await?,
            admin: TcpListener::bind(self.admin.listen).await?,
        })
    }

    /// Serves both listeners until `shutdown` resolves, then lets requests in flight finish for
    /// up to `server.shutdown_grace`.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        // Reload the policy on SIGHUP and when its file changes, for as long as this serves.
        let _policy_watch = crate::policy::watch(self.policy.clone())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot install the policy reload (SIGHUP); restart to change the policy"))
            .ok();
        // Idle quota keys are removed for as long as this serves.
        let _sweeper = self
            .limiter
            .spawn_sweeper(self.limits.sweep_interval, |keys| {
                crate::metrics::metrics()
                    .rate_limit_keys
                    .set(i64::try_from(keys).unwrap_or(i64::MAX));
            });
        // The certificate is reloaded on SIGHUP and when its files change, for as long as
        // this serves.
        let _tls_watch = self.server.tls.as_ref().and_then(|store| {
            tls::watch(store.clone())
                .inspect_err(|e| tracing::warn!(error = %e, "cannot install the certificate reload (SIGHUP); restart to change the certificate"))
                .ok()
        });
        let options = |name, tls| ListenOptions {
            name,
            header_read_timeout: self.server.header_read_timeout,
            grace: self.server.shutdown_grace,
            tls,
        };
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let admin = Admin::new(
            self.cache.clone(),
            self.admin.token.as_ref(),
            self.verifier.clone(),
            self.upstream.clone(),
            self.policy.clone(),
            self.limiter.clone(),
        );
        let admin = tokio::spawn(listen::serve(
            listeners.admin,
            tower::service_fn(move |request| admin.clone().handle(request)),
            // Operations stay plain HTTP on their own (loopback by default) address.
            options("admin", None),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ));
        let public_tls = self.server.tls.clone().map(tls::acceptor);
        let service = stack::build(
            self.verifier,
            self.policy,
            self.upstream,
            self.cache,
            self.server.limits,
            (self.limiter, self.limits),
            self.auditor,
        );
        let public = listen::serve(
            listeners.public,
            service,
            options("public", public_tls),
            async move {
                shutdown.await;
                let _ = stop.send(true);
            },
        );
        let public = public.await;
        let admin = admin.await.map_err(std::io::Error::other)?;
        public.and(admin)
    }
}

/// The gateway's two listeners, bound before serving so callers learn their addresses.
#[derive(Debug)]
pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}
