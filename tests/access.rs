//! The policy over real HTTP: nothing reaches iCasework without a grant that allows the
//! request. Every way a token is refused, and where a token may come from: tests/attacks.

mod common;

use common::*;

/// A policy with two grants for the test issuer, written over the default one.
const TWO_GRANTS: &str = r#"
[[grant]]
name = "analysts"
reports = [10800]
formats = ["json", "csv"]
[grant.who]
sub = "analyst"
[grant.parameters]
forbid = ["Keywords", "AttributeFilter*"]
pin = { Units = "Previous month" }

[[grant]]
name = "leads"
reports = "all"
[grant.who]
groups = { contains = "leads" }

[[grant]]
name = "analysts-everything"
reports = "all"
[grant.who]
sub = "analyst"
"#;

async fn gateway_with(policy: &str) -> (FakeUpstream, TestGateway) {
    let upstream = FakeUpstream::start().await;
    let toml = config_toml(&upstream.base_url(), "", "");
    let gateway = TestGateway::start_with_files(&toml, &[("policy.toml", policy)]).await;
    (upstream, gateway)
}

fn token(claims: serde_json::Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = claims;
    for (k, v) in [
        ("iss", serde_json::json!(ISSUER)),
        ("aud", serde_json::json!(AUDIENCE)),
        ("exp", serde_json::json!(now + 600)),
    ] {
        if claims.get(k).is_none() {
            claims[k] = v;
        }
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(CALLER_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn get_with(gateway: &TestGateway, path: &str, authorization: Option<&str>) -> Got {
    let mut request = http::Request::get(gateway.url(path));
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    send_as_is(request.body(Default::default()).unwrap()).await
}

#[tokio::test]
async fn the_policy_decides_first_applying_grant_wins() {
    let (upstream, gateway) = gateway_with(TWO_GRANTS).await;
    let analyst = format!("Bearer {}", token(serde_json::json!({"sub": "analyst"})));
    let lead = format!(
        "Bearer {}",
        token(serde_json::json!({"sub": "lead-1", "groups": ["staff", "leads"]}))
    );
    let nobody = format!("Bearer {}", token(serde_json::json!({"sub": "nobody"})));

    // analysts applies to 10800: its pin is added upstream.
    let got = get_with(
        &gateway,
        "/getreport?ReportId=10800&Format=json",
        Some(&analyst),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        upstream.getreport_requests()[0].path_and_query(),
        "/getreport?Format=json&ReportId=10800&Units=Previous%20month&Compression=gzip"
    );
    // analysts applies and decides: xml is not among its formats; the later, broader grant is
    // not consulted.
    let got = get_with(&gateway, "/getreport?ReportId=10800", Some(&analyst)).await;
    assert_eq!(
        (got.status.as_u16(), got.json()["code"].as_str()),
        (403, Some("format_not_allowed"))
    );
    let got = get_with(
        &gateway,
        "/getreport?ReportId=10800&Format=csv&AttributeFilter2=7",
        Some(&analyst),
    )
    .await;
    assert_eq!(got.status, 403);
    assert_eq!(got.json()["code"], "parameter_forbidden");
    assert_eq!(got.json()["parameter"], "AttributeFilter2");
    let got = get_with(
        &gateway,
        "/getreport?ReportId=10800&Format=csv&Units=Today",
        Some(&analyst),
    )
    .await;
    assert_eq!(
        (got.status.as_u16(), got.json()["code"].as_str()),
        (403, Some("parameter_pinned"))
    );
    // analysts does not cover 10801, so the third grant applies.
    let got = get_with(&gateway, "/reports/10801", Some(&analyst)).await;
    assert_eq!(got.status, 200);
    // Array claim contains.
    let got = get_with(&gateway, "/reports/10802", Some(&lead)).await;
    assert_eq!(got.status, 200);
    // Default deny, without naming other grants or reports.
    let got = get_with(&gateway, "/reports/10800", Some(&nobody)).await;
    assert_eq!(got.status, 403);
    assert_eq!(got.json()["code"], "no_grant");
    assert!(!got.text().contains("analysts") && !got.text().contains("leads"));
    assert_eq!(
        upstream.getreport_requests().len(),
        3,
        "only allowed requests reach upstream"
    );
}

/// Each connection keeps per-connection state (its last token, its last query: see README,
/// Decisions): on one keep-alive connection, callers and queries that change from request to
/// request must each get exactly their own answer, whatever came before on the connection.
#[tokio::test]
async fn one_connection_switching_callers_and_queries_gets_each_its_own_answer() {
    let (upstream, gateway) = gateway_with(TWO_GRANTS).await;
    let analyst = format!("Bearer {}", token(serde_json::json!({"sub": "analyst"})));
    let nobody = format!("Bearer {}", token(serde_json::json!({"sub": "nobody"})));
    let expired = format!(
        "Bearer {}",
        token(serde_json::json!({"sub": "analyst", "exp": 1_000_000_000}))
    );
    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut connection, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let driven = tokio::spawn(driver);
    // (token, path, status, problem code or Content-Type)
    let steps: [(&str, &str, u16, &str); 10] = [
        (
            &analyst,
            "/getreport?ReportId=10800&Format=json",
            200,
            "application/json",
        ),
        (
            &nobody,
            "/getreport?ReportId=10800&Format=json",
            403,
            "no_grant",
        ),
        (
            &analyst,
            "/getreport?ReportId=10800&Format=json",
            200,
            "application/json",
        ),
        (
            &analyst,
            "/getreport?ReportId=10800&Format=xml",
            403,
            "format_not_allowed",
        ),
        (
            &analyst,
            "/getreport?ReportId=10800&Format=csv",
            200,
            "text/csv",
        ),
        (
            &expired,
            "/getreport?ReportId=10800&Format=csv",
            401,
            "token_expired",
        ),
        (
            &analyst,
            "/getreport?ReportId=10800&Format=csv",
            200,
            "text/csv",
        ),
        (&analyst, "/reports/10801?Format=csv", 200, "text/csv"),
        (
            &analyst,
            "/reports/10801?Format=csv&ReportId=10801",
            400,
            "duplicate_parameter",
        ),
        (&nobody, "/reports/10801?Format=csv", 403, "no_grant"),
    ];
    for (i, (authorization, path, status, expect)) in steps.into_iter().enumerate() {
        let request = http::Request::get(path)
            .header("host", gateway.addr.to_string())
            .header("authorization", authorization)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = connection.send_request(request).await.unwrap();
        let got_status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(got_status, status, "step {i}: {path}");
        if status == 200 {
            assert!(content_type.starts_with(expect), "step {i}: {content_type}");
        } else {
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem["code"], expect, "step {i}: {problem}");
        }
    }
    assert!(!driven.is_finished(), "all on one connection");
    // Each allowed query once (repeats are cache hits), with its own parameters and the pin
    // of the grant that decided it (analysts for 10800, analysts-everything for 10801).
    let sent: Vec<String> = upstream
        .getreport_requests()
        .iter()
        .map(|r| r.path_and_query().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "/getreport?Format=json&ReportId=10800&Units=Previous%20month&Compression=gzip",
            "/getreport?CSVHeader=yes&Format=csv&ReportId=10800&Units=Previous%20month&Compression=gzip",
            "/getreport?CSVHeader=yes&Format=csv&ReportId=10801&Compression=gzip",
        ]
    );
}
