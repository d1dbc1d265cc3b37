//! The real iCasework URLs, over TLS: with the iCasework host names pinned to a local fake
//! (`upstream.resolve`) that presents a certificate from a test CA (`upstream.ca_file`), the fake
//! sees exactly the host, path and query casegate sends in production and on UAT.

mod common;

use common::pki::TestCa;
use common::*;

async fn gateway_for(
    environment: &str,
    hosts: &[&str],
    ca_pem: &str,
    addr: std::net::SocketAddr,
) -> TestGateway {
    let resolve: String = hosts
        .iter()
        .map(|h| format!("\"{h}\" = \"{addr}\"\n"))
        .collect();
    let toml = format!(
        r#"
policy = "policy.toml"

[upstream]
environment = "{environment}"
account = "exampleco"
ca_file = "ca.pem"

[upstream.resolve]
{resolve}
[upstream.credential]
api_key = {{ file = "api-key" }}
secret_key = {{ file = "secret-key" }}

{AUTH_TOML}

[admin]
listen = "127.0.0.1:0"
"#
    )
    .replace(
        "[upstream]",
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[upstream]",
    );
    TestGateway::start_with_files(&toml, &[("ca.pem", ca_pem)]).await
}

#[tokio::test]
async fn production_urls_over_tls() {
    let hosts = ["examplecoreports.icasework.com", "exampleco.icasework.com"];
    let ca = TestCa::new();
    let upstream = FakeUpstream::with_tls(default_handler_arc(), ca.acceptor(&hosts)).await;
    let gateway = gateway_for("production", &hosts, &ca.pem(), upstream.addr).await;

    let got = get(&gateway.url("/getreport?reportid=10800&format=JSON")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let token = &upstream.token_requests()[0];
    assert_eq!(token.host(), Some("exampleco.icasework.com"));
    assert_eq!(token.path_and_query(), "/token");
    let report = &upstream.getreport_requests()[0];
    assert_eq!(report.host(), Some("examplecoreports.icasework.com"));
    assert_eq!(
        report.path_and_query(),
        "/getreport?Format=json&ReportId=10800&Compression=gzip"
    );
}

#[tokio::test]
async fn uat_urls_over_tls() {
    let hosts = ["uat.icasework.com"];
    let ca = TestCa::new();
    let upstream = FakeUpstream::with_tls(default_handler_arc(), ca.acceptor(&hosts)).await;
    let gateway = gateway_for("uat", &hosts, &ca.pem(), upstream.addr).await;

    let got = get(&gateway.url("/reports/10800?Format=csv&CSVHeader=yes")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let token = &upstream.token_requests()[0];
    assert_eq!(token.host(), Some("uat.icasework.com"));
    assert_eq!(token.path_and_query(), "/token?db=exampleco");
    let report = &upstream.getreport_requests()[0];
    assert_eq!(report.host(), Some("uat.icasework.com"));
    assert_eq!(
        report.path_and_query(),
        "/getreport?db=exampleco&CSVHeader=yes&Format=csv&ReportId=10800&Compression=gzip"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let hosts = ["uat.icasework.com"];
    let served = TestCa::new();
    let other_ca = TestCa::new();
    let upstream = FakeUpstream::with_tls(default_handler_arc(), served.acceptor(&hosts)).await;
    let gateway = gateway_for("uat", &hosts, &other_ca.pem(), upstream.addr).await;
    let got = get(&gateway.url("/reports/10800")).await;
    assert_eq!(got.status, 502);
    assert!(
        upstream.all().is_empty(),
        "no request may cross an untrusted TLS connection"
    );
}
