//! casegate: the gateway in front of Civica iCasework's GetReport API.
//!
//! A request meets the modules in this order: `server` (listener and the tower stack), `params`
//! (GetReport's parameters), `upstream` (endpoint, credential, client). `error` is the one place
//! errors become responses; `config` turns the TOML file into the types these modules run with.
//! `sandbox` is a stand-in iCasework for demos and tests, off the production path.

pub mod auth;
pub mod config;
pub mod error;
pub mod explain;
pub mod params;
pub mod policy;
pub mod sandbox;
pub mod server;
pub mod upstream;

pub use config::Config;
pub use server::Gateway;
pub mod demo;

/// Serves `config` until SIGTERM or SIGINT, then drains requests in flight and returns.
pub async fn run(config: Config) -> std::io::Result<()> {
    let gateway = Gateway::new(&config).await?;
    let listener = gateway.bind().await?;
    gateway.serve(listener, shutdown_signal()).await
}

/// Resolves on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
