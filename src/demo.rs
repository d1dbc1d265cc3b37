//! `casegate demo`: the sandbox and the gateway together, with the example configuration, so a
//! new user sees casegate work without an iCasework account.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use crate::sandbox::{self, SandboxConfig};
use crate::{Config, Gateway, ShutdownSignals};

/// Starts the sandbox on the address the configuration's `base_url` names, then the gateway.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let signals = ShutdownSignals::install()?;
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

    let gateway = Gateway::new(&config).await?;
    let listeners = gateway
        .bind()
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let base = format!("http://{}", listeners.public.local_addr()?);
    let keys = config_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("demo-keys/demo-issuer-private.pem");
    let analytics = demo_token(
        &keys,
        serde_json::json!({"sub": "svc-analytics", "azp": "analytics-exporter"}),
    )?;
    let lead = demo_token(
        &keys,
        serde_json::json!({"sub": "lead-0042", "groups": ["casework-leads"]}),
    )?;
    println!(
        "\nTwo example callers of policies/example.toml (tokens valid for 8 hours):\n\
         \x20 ANALYTICS='{analytics}'\n\
         \x20 LEAD='{lead}'\n\
         \n\x20 curl -i -H \"Authorization: Bearer $ANALYTICS\" '{base}/getreport?ReportId=10800&Format=json'   # allowed: grant analytics\n\
         \x20 curl -i -H \"Authorization: Bearer $ANALYTICS\" '{base}/getreport?ReportId=10802&Format=json'   # denied: not in its reports\n\
         \x20 curl -i -H \"Authorization: Bearer $LEAD\" '{base}/reports/10801?Format=csv&CSVHeader=yes'       # allowed: grant casework-leads\n\
         \x20 curl -i '{base}/getreport?ReportId=10800'                                              # 401: no token\n\
         \x20 casegate explain --config {} --token \"$ANALYTICS\" --report 10800 --param Format=csv\n",
        config_path.display()
    );
    println!(
        "\ncasegate demo: the gateway is on {base}, in front of the sandbox iCasework on http://{sandbox_addr}\n\
         \nPress Ctrl-C to stop.\n"
    );
    signals
        .drain_or_force(gateway.serve(listeners, signals.nth(1)))
        .await?;
    let _ = stop_tx.send(true);
    tokio::select! {
        stopped = sandbox => stopped??,
        // After a second signal the sandbox's own drain is not waited for either.
        () = signals.nth(2) => {}
    }
    Ok(())
}

/// A token from the demo's identity provider for a caller with `claims`.
fn demo_token(private_key: &Path, claims: serde_json::Value) -> anyhow::Result<String> {
    let pem = std::fs::read(private_key)
        .with_context(|| format!("cannot read the demo signing key {}", private_key.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut claims = claims;
    claims["iss"] = "https://idp.example.org".into();
    claims["aud"] = "casegate".into();
    claims["iat"] = now.into();
    claims["exp"] = (now + 8 * 3600).into();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &key,
    )?)
}

fn sandbox_addr(getreport_url: &str) -> Option<SocketAddr> {
    let uri: http::Uri = getreport_url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    uri.authority()?.as_str().parse().ok()
}
