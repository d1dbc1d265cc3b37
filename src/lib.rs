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
pub mod log_writer;
pub mod metrics;
pub mod params;
pub mod policy;
pub mod redact;
mod redis_link;
pub mod sandbox;
pub mod server;
pub mod upstream;

pub use config::Config;
pub use server::Gateway;
pub mod demo;

/// Serves `config` until SIGTERM or SIGINT, then drains requests in flight and returns; a
/// second signal during the drain returns at once.
pub async fn run(config: Config) -> std::io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let gateway = Gateway::new(&config).await?;
    let listeners = gateway.bind().await?;
    signals
        .drain_or_force(gateway.serve(listeners, signals.nth(1)))
        .await
}

/// SIGTERM (Kubernetes, systemd) and SIGINT (Ctrl-C) as they arrive: the first asks for a
/// graceful shutdown, a second for an immediate one (Ctrl-C twice). The handlers are installed
/// by [`ShutdownSignals::install`], not when a future is first polled: a signal that arrives
/// while the server is still starting is then a clean shutdown, never the default action (death).
#[derive(Debug, Clone)]
pub struct ShutdownSignals(tokio::sync::watch::Receiver<u32>);

impl ShutdownSignals {
    /// Installs the handlers; needs a Tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        let (count, received) = tokio::sync::watch::channel(0u32);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                        () = count.closed() => return,
                    }
                    count.send_modify(|n| *n += 1);
                }
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received");
                count.send_modify(|n| *n += 1);
            }
        });
        Ok(Self(received))
    }

    /// Resolves once `n` signals have arrived in all.
    pub fn nth(&self, n: u32) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut received = self.0.clone();
        async move {
            // An error means the handler task is gone (the runtime is ending): never resolve.
            if received.wait_for(|count| *count >= n).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `serve` (which drains on the first signal) to its end, or until a second signal.
    pub async fn drain_or_force(
        &self,
        serve: impl std::future::Future<Output = std::io::Result<()>>,
    ) -> std::io::Result<()> {
        tokio::select! {
            result = serve => result,
            () = self.nth(2) => {
                tracing::warn!("second signal: exiting without waiting for requests in flight");
                Ok(())
            }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT (see [`ShutdownSignals`]).
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(ShutdownSignals::install()?.nth(1))
}

/// Property tests' configuration: `cases` per test, and failing cases kept beside the test's
/// source file (`<file>.proptest-regressions`) rather than in a folder at the top of the repo.
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::test_runner::Config::with_cases(cases)
    }
}
