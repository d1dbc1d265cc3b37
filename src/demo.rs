//! `casegate demo`: the sandbox and the gateway together, with the example configuration, so a
//! new user sees casegate work without an iCasework account.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use crate::sandbox::{self, SandboxConfig};
use crate::{shutdown_signal, Config, Gateway};

/// Starts the sandbox on the address the configuration's `base_url` names, then the gateway.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path).map_err(|p| anyhow::anyhow!("{p}"))?;
    let sandbox_addr = sandbox_addr(config.upstream.endpoint.getreport_base()).with_context(|| {
        format!(
            "{}: the demo configuration's upstream.base_url must name the sandbox as http://127.0.0.1:PORT",
            config_path.display()
        )
    })?;
    let sandbox_listener = tokio::net::TcpListener::bind(sandbox_addr)
        .await
        .with_context(|| format!("cannot listen on {sandbox_addr} for the sandbox"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut sandbox_stop = stop_rx.clone();
    let sandbox = tokio::spawn(sandbox::serve(
        sandbox_listener,
        SandboxConfig::default(),
        async move {
            let _ = sandbox_stop.wait_for(|stop| *stop).await;
        },
    ));

    let gateway = Gateway::new(&config)?;
    let listener = gateway
        .bind()
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "\ncasegate demo: the gateway is on {base}, in front of the sandbox iCasework on http://{sandbox_addr}\n\
         \nTry:\n\
         \x20 curl -i '{base}/getreport?ReportId=10800&Format=json'        # the example report\n\
         \x20 curl -i '{base}/reports/10801?Format=csv&CSVHeader=yes'       # 5,000 rows as CSV\n\
         \x20 curl -i '{base}/getreport?ReportId=10800&db=other'            # refused: callers never choose the account\n\
         \x20 curl -i '{base}/getreport?ReportId=999'                       # iCasework's own error 8051, passed back\n\
         \nPress Ctrl-C to stop.\n"
    );
    gateway.serve(listener, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    sandbox.await??;
    Ok(())
}

fn sandbox_addr(getreport_url: &str) -> Option<SocketAddr> {
    let uri: http::Uri = getreport_url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    uri.authority()?.as_str().parse().ok()
}
