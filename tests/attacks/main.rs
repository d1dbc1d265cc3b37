//! Attack corpora, one row per case: forged and abused tokens (`jwt.rs`), parameter pollution,
//! path tricks and header tricks (`request.rs`). Every row must be refused with a clear 4xx —
//! its status and problem code, and the parameter it names where there is one — and must not
//! cause a single request to iCasework (GetReport or token). Controls first: the same gateway
//! serves genuine requests of each kind, so the refusals are the attacks' doing.

#[path = "../common/mod.rs"]
mod common;
mod jwt;
mod request;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::*;
use http_body_util::Full;

/// A second identity provider in front of the gateway: RS256, the fixtures' RSA key, kid `rsa`.
pub(crate) const RSA_ISSUER: &str = "https://rsa.idp.test.casegate";
const RSA_ISSUER_TOML: &str = r#"
[[auth.issuers]]
issuer = "https://rsa.idp.test.casegate"
audiences = ["casegate"]
algorithms = ["RS256"]
pem_files = [{ path = "rsa-public.pem", kid = "rsa" }]
"#;

pub(crate) fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
    std::fs::read_to_string(path.join(name)).unwrap()
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// How a row's request is sent.
#[derive(Debug)]
pub(crate) enum Send {
    /// GET `path` with these headers; the test caller's genuine token is added unless an
    /// `authorization` header is among them (`None` as its value sends none at all).
    Get(String, Vec<(&'static str, Option<String>)>),
    /// Bytes no well-behaved client would write, `{token}` replaced by the genuine token and
    /// `{ff}` by the byte 0xFF.
    Raw(String),
}

#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) send: Send,
    pub(crate) status: u16,
    /// The problem's `code`; `None` where hyper refuses the bytes before casegate sees a
    /// request (a bare 400 without a body).
    pub(crate) code: Option<&'static str>,
    /// The parameter the problem must name (`parameter`, and in its `detail`).
    pub(crate) parameter: Option<&'static str>,
}

pub(crate) fn case(name: &'static str, send: Send, status: u16, code: &'static str) -> Case {
    Case {
        name,
        send,
        status,
        code: Some(code),
        parameter: None,
    }
}

/// A GET of `path` as the test caller.
pub(crate) fn path(p: impl Into<String>) -> Send {
    Send::Get(p.into(), vec![])
}

/// A GET of the example report with `Authorization: Bearer <token>`.
pub(crate) fn bearer(token: impl Into<String>) -> Send {
    let value = format!("Bearer {}", token.into());
    Send::Get(
        "/getreport?ReportId=10800".into(),
        vec![("authorization", Some(value))],
    )
}

struct Answer {
    status: u16,
    /// `WWW-Authenticate`, if sent.
    challenge: Option<String>,
    body: String,
}

async fn send(gateway: &TestGateway, send: &Send) -> Answer {
    match send {
        Send::Get(path, headers) => {
            let mut request = http::Request::get(gateway.url(path));
            if !headers.iter().any(|(n, _)| *n == "authorization") {
                request = request.header("authorization", format!("Bearer {}", caller_token()));
            }
            for (name, value) in headers {
                if let Some(value) = value {
                    request = request.header(*name, value.as_str());
                }
            }
            let got = send_as_is(request.body(Full::<Bytes>::default()).unwrap()).await;
            Answer {
                status: got.status.as_u16(),
                challenge: got.header("www-authenticate").map(str::to_owned),
                body: got.text(),
            }
        }
        Send::Raw(bytes) => {
            // `{ff}` stands for a byte that is not UTF-8, which a `String` cannot hold.
            let text = bytes.replace("{token}", caller_token());
            let mut bytes = Vec::new();
            for (i, part) in text.split("{ff}").enumerate() {
                if i > 0 {
                    bytes.push(0xff);
                }
                bytes.extend_from_slice(part.as_bytes());
            }
            let text = raw(gateway.addr, &bytes).await;
            let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let challenge = (head.lines()).find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("www-authenticate: ")
                    .map(|_| l[18..].to_owned())
            });
            Answer {
                status,
                challenge,
                body: body.to_owned(),
            }
        }
    }
}

/// Runs the cases against one gateway; every mismatch is collected, then all are reported.
/// `cases` gets the URL of an attacker's server, which must never be asked anything.
async fn run(cases: impl FnOnce(&str) -> Vec<Case>) {
    let upstream = FakeUpstream::start().await;
    let attacker = FakeUpstream::start().await;
    let cases = cases(&attacker.base_url());
    let toml = config_toml(&upstream.base_url(), "", "")
        .replace(AUTH_TOML, &format!("{AUTH_TOML}{RSA_ISSUER_TOML}"));
    let gateway =
        TestGateway::start_with_files(&toml, &[("rsa-public.pem", &fixture("rsa-public.pem"))])
            .await;
    // Controls: a genuine token of each issuer is served.
    for (name, token) in [
        ("hmac", caller_token().to_owned()),
        ("rsa", jwt::rsa_genuine()),
    ] {
        let got = send(&gateway, &bearer(token)).await;
        assert_eq!(got.status, 200, "control {name}: {}", got.body);
    }
    let mut failures = Vec::new();
    for case in &cases {
        let before = upstream.all().len();
        let got = send(&gateway, &case.send).await;
        let name = case.name;
        let reached = upstream.all().len() - before;
        if reached > 0 {
            failures.push(format!(
                "{name}: reached iCasework ({reached} requests): {} {}",
                got.status, got.body
            ));
            continue;
        }
        if got.status != case.status {
            failures.push(format!(
                "{name}: status {} (want {}): {}",
                got.status, case.status, got.body
            ));
            continue;
        }
        let problem: serde_json::Value = serde_json::from_str(&got.body).unwrap_or_default();
        let code = problem["code"].as_str();
        if code != case.code {
            failures.push(format!(
                "{name}: code {code:?} (want {:?}): {}",
                case.code, got.body
            ));
        }
        // RFC 6750: every 401 says how to authenticate; one about a token says what was wrong.
        if got.status == 401 {
            let challenge = got.challenge.as_deref().unwrap_or_default();
            let invalid = challenge.contains("error=\"invalid_token\"");
            if !challenge.starts_with("Bearer ") || invalid == (code == Some("token_missing")) {
                failures.push(format!("{name}: WWW-Authenticate {challenge:?}"));
            }
        }
        // Refusals never echo the token or a claim.
        for echo in [caller_token(), "test-caller", "evil.example"] {
            if got.body.contains(echo) {
                failures.push(format!("{name}: the problem repeats {echo:?}"));
            }
        }
        if let Some(p) = case.parameter {
            let detail = problem["detail"].as_str().unwrap_or_default();
            if problem["parameter"] != p || !detail.contains(p) {
                failures.push(format!("{name}: does not name {p}: {}", got.body));
            }
        }
    }
    assert!(
        attacker.all().is_empty(),
        "a URL from a token header was fetched: {:?}",
        attacker
            .all()
            .iter()
            .map(|r| r.path_and_query().to_owned())
            .collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn jwt_attacks_are_401_and_never_reach_icasework() {
    run(jwt::cases).await;
}

#[tokio::test]
async fn parameter_pollution_is_400_and_never_reaches_icasework() {
    run(|_| request::pollution()).await;
}

#[tokio::test]
async fn path_tricks_are_refused_and_never_reach_icasework() {
    run(|_| request::paths()).await;
}

#[tokio::test]
async fn header_tricks_are_refused_and_never_reach_icasework() {
    run(|_| request::headers()).await;
}

#[tokio::test]
async fn tricks_that_are_served_reach_icasework_only_in_canonical_form() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    for (name, path, headers, query) in request::contained() {
        let mut request = http::Request::get(gateway.url(path));
        for (header, value) in &headers {
            request = request.header(*header, *value);
        }
        let got = common::send(request.body(Full::<Bytes>::default()).unwrap()).await;
        assert_eq!(got.status, 200, "{name}: {}", got.text());
        let seen = upstream.getreport_requests().pop().unwrap();
        assert_eq!(
            seen.path_and_query(),
            format!("/getreport?{query}"),
            "{name}"
        );
        assert_eq!(
            seen.host(),
            Some(upstream.addr.to_string().as_str()),
            "{name}"
        );
        for (header, _) in &headers {
            assert!(
                seen.header(header).is_none() || *header == "host",
                "{name}: {header} passed on"
            );
        }
    }
}
