//! casegate: the gateway in front of Civica iCasework's GetReport API.
//!
//! A request meets the modules in this order: `server` (listener and the tower stack), `params`
//! (GetReport's parameters), `upstream` (endpoint, credential, client). `error` is the one place
//! errors become responses; `config` turns the TOML file into the types these modules run with.
//! `sandbox` is a stand-in iCasework for demos and tests, off the production path.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
pub mod explain;
pub mod limit;
pub mod metrics;
pub mod params;
pub mod policy;
pub mod redact;
pub mod sandbox;
pub mod server;
pub mod upstream;

pub use config::Config;
pub use server::Gateway;
pub mod demo;

/// Serves `config` until SIGTERM or SIGINT, then drains requests in flight and returns.
pub async fn run(config: Config) -> std::io::Result<()> {
    let gateway = Gateway::new(&config).await?;
    let listeners = gateway.bind().await?;
    let shutdown = shutdown_signal()?;
    gateway.serve(listeners, shutdown).await
}

/// Resolves on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C). The handlers are installed
/// when this is called, not when the future is first polled: a signal that arrives while the
/// server is still starting is then a clean shutdown, never the default action (death).
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received");
        })
    }
}
