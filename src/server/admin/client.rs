//! The client side of the admin listener, for the CLI.

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::Request;
use http_body_util::Full;
use secrecy::ExposeSecret;

/// `casegate purge`: asks the running gateway's admin listener (as `config` sets it; a wildcard
/// address is reached on loopback) to purge `report` or everything. Returns its JSON answer.
pub async fn purge_remote(
    config: &crate::Config,
    report: Option<u64>,
) -> Result<serde_json::Value, String> {
    use http_body_util::BodyExt;
    let token = config
        .admin
        .token
        .as_ref()
        .ok_or("admin.token is not set in the configuration: the gateway refuses to purge")?;
    let mut addr = config.admin.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let query = report.map(|r| format!("?report={r}")).unwrap_or_default();
    let request = Request::post(format!("http://{addr}/cache/purge{query}"))
        .header(AUTHORIZATION, format!("Bearer {}", token.expose_secret()))
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("cannot reach the admin listener on {addr}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| format!("the admin listener answered {status} without JSON"))?;
    if status.is_success() {
        Ok(answer)
    } else {
        Err(format!("the admin listener answered {status}: {answer}"))
    }
}
