//! The gateway in front of the sandbox, end to end: the real token flow, both credential
//! schemes, the three formats, gzip, and the sandbox's iCasework errors passed back.

mod common;

use casegate::sandbox::{self, SandboxConfig, DEMO_API_KEY, DEMO_SECRET_KEY};
use common::*;

const EXAMPLE_JSON_DOC: &str = include_str!("../src/sandbox/fixtures/example.json");

async fn start_sandbox(config: SandboxConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

fn sandbox_toml(
    base_url: &str,
    environment: &str,
    account: &str,
    credential_extra: &str,
) -> String {
    config_toml(base_url, "", credential_extra)
        .replace(
            "environment = \"production\"",
            &format!("environment = \"{environment}\""),
        )
        .replace(
            "account = \"exampleco\"",
            &format!("account = \"{account}\""),
        )
}

async fn gateway(
    environment: &str,
    scheme: &str,
) -> (TestGateway, tokio::sync::oneshot::Sender<()>) {
    let (url, stop) = start_sandbox(SandboxConfig::default()).await;
    let toml = sandbox_toml(
        &url,
        environment,
        sandbox::DEMO_ACCOUNT,
        &format!("scheme = \"{scheme}\""),
    );
    let gateway = TestGateway::start_with_secrets(&toml, DEMO_API_KEY, DEMO_SECRET_KEY).await;
    (gateway, stop)
}

#[tokio::test]
async fn example_report_through_the_gateway_matches_the_documentation() {
    for (environment, scheme) in [
        ("uat", "oauth"),
        ("production", "oauth"),
        ("uat", "key_signature"),
    ] {
        let (gateway, _stop) = gateway(environment, scheme).await;
        let got = get(&gateway.url("/getreport?ReportId=10800&Format=json")).await;
        assert_eq!(got.status, 200, "{environment}/{scheme}: {}", got.text());
        assert_eq!(
            got.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            got.text().trim_end(),
            EXAMPLE_JSON_DOC.trim_end(),
            "{environment}/{scheme}"
        );
    }
}

#[tokio::test]
async fn formats_csv_options_and_gzip() {
    let (gateway, _stop) = gateway("uat", "oauth").await;
    let xml = get(&gateway.url("/reports/10800")).await;
    assert_eq!(xml.status, 200);
    assert!(xml.text().starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"51221195af5536c367accafeaedd91\">"));

    let csv = get(&gateway.url("/reports/10801?Format=csv&CSVHeader=yes&CSVFooter=yes&CSVDelimitor=%7C&CSVFields=Customer.FullName,CaseDetails.CaseId")).await;
    assert_eq!(csv.status, 200);
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Customer.FullName|CaseDetails.CaseId"));
    let records = csv::ReaderBuilder::new()
        .delimiter(b'|')
        .has_headers(true)
        .flexible(true)
        .from_reader(csv.body.as_ref())
        .records()
        .count();
    assert_eq!(records, 5001, "5,000 rows and the footer");

    let gz = get(&gateway.url("/getreport?ReportId=10800&Format=json&Compression=gzip")).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body).trim_end(), EXAMPLE_JSON_DOC.trim_end());

    let empty = get(&gateway.url("/reports/10802?Format=json")).await;
    assert_eq!((empty.status.as_u16(), empty.text().as_str()), (200, "[]"));
}

#[tokio::test]
async fn gzip_without_content_encoding_is_recognised() {
    let (url, _stop) = start_sandbox(SandboxConfig {
        gzip_content_encoding: false,
        ..SandboxConfig::default()
    })
    .await;
    let toml = sandbox_toml(&url, "uat", sandbox::DEMO_ACCOUNT, "");
    let gateway = TestGateway::start_with_secrets(&toml, DEMO_API_KEY, DEMO_SECRET_KEY).await;
    let gz = get(&gateway.url("/getreport?ReportId=10800&Format=json&Compression=gzip")).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body).trim_end(), EXAMPLE_JSON_DOC.trim_end());
}

#[tokio::test]
async fn icasework_errors_pass_back_with_their_codes() {
    let (gateway, _stop) = gateway("uat", "oauth").await;
    for (report, code) in [("99999", "8051"), ("10803", "8052"), ("10804", "8061")] {
        let got = get(&gateway.url(&format!("/reports/{report}"))).await;
        assert_eq!(got.status, 400, "{report}");
        assert_eq!(
            got.header("x-application-error-code"),
            Some(code),
            "{report}"
        );
        assert_eq!(got.json()["upstream_code"], code);
    }
}

#[tokio::test]
async fn wrong_credentials_or_account_are_502_not_the_callers_fault() {
    let (url, _stop) = start_sandbox(SandboxConfig::default()).await;
    // Wrong secret: the sandbox answers 19002 invalid_grant.
    let toml = sandbox_toml(&url, "uat", sandbox::DEMO_ACCOUNT, "");
    let gateway = TestGateway::start_with_secrets(&toml, DEMO_API_KEY, "wrong-secret").await;
    let got = get(&gateway.url("/reports/10800")).await;
    assert_eq!(
        (got.status.as_u16(), got.json()["code"].as_str()),
        (502, Some("upstream_credential"))
    );
    // Wrong account on UAT: an empty 200 from the token endpoint.
    let toml = sandbox_toml(&url, "uat", "someoneelse", "");
    let gateway = TestGateway::start_with_secrets(&toml, DEMO_API_KEY, DEMO_SECRET_KEY).await;
    let got = get(&gateway.url("/reports/10800")).await;
    assert_eq!(
        (got.status.as_u16(), got.json()["code"].as_str()),
        (502, Some("upstream_credential"))
    );
    // Wrong secret with Key + Signature: 403 8021 from GetReport.
    let toml = sandbox_toml(
        &url,
        "uat",
        sandbox::DEMO_ACCOUNT,
        "scheme = \"key_signature\"",
    );
    let gateway = TestGateway::start_with_secrets(&toml, DEMO_API_KEY, "wrong-secret").await;
    let got = get(&gateway.url("/reports/10800")).await;
    assert_eq!(
        (got.status.as_u16(), got.json()["code"].as_str()),
        (502, Some("upstream_credential"))
    );
}
