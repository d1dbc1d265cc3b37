//! Authentication and the policy over real HTTP: nothing reaches iCasework without a valid
//! token and a grant that allows the request.

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
async fn requests_without_a_valid_token_are_401_and_never_reach_upstream() {
    let (upstream, gateway) = gateway_with(POLICY).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = token(serde_json::json!({"sub": "test-caller"}));
    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let none_alg = {
        let b64 = |v: serde_json::Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            b64(serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(
                serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "test-caller", "exp": now + 600})
            )
        )
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "token_missing"),
        (
            "not bearer",
            Some(format!("Basic {valid}")),
            "token_malformed",
        ),
        (
            "garbage",
            Some("Bearer not.a.jwt".into()),
            "token_malformed",
        ),
        (
            "bad signature",
            Some(format!("Bearer {tampered}")),
            "token_bad_signature",
        ),
        (
            "alg none",
            Some(format!("Bearer {none_alg}")),
            "token_alg_none",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                token(serde_json::json!({"sub": "test-caller", "exp": now - 3600}))
            )),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                token(serde_json::json!({"sub": "test-caller", "nbf": now + 3600}))
            )),
            "token_not_yet_valid",
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                token(serde_json::json!({"sub": "test-caller", "iss": "https://evil.example"}))
            )),
            "token_unknown_issuer",
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                token(serde_json::json!({"sub": "test-caller", "aud": "someone-else"}))
            )),
            "token_wrong_audience",
        ),
        (
            "oversized",
            Some(format!("Bearer {}", "a".repeat(9000))),
            "token_oversized",
        ),
    ];
    for (name, authorization, code) in &cases {
        let got = get_with(
            &gateway,
            "/getreport?ReportId=10800",
            authorization.as_deref(),
        )
        .await;
        assert_eq!(got.status, 401, "{name}: {}", got.text());
        assert_eq!(got.json()["code"], *code, "{name}");
        let challenge = got.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer "), "{name}: {challenge}");
        if *code != "token_missing" {
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "{name}: {challenge}"
            );
        }
        assert!(
            !got.text().contains("test-caller"),
            "{name}: a claim leaked into the error"
        );
    }
    assert!(
        upstream.all().is_empty(),
        "a refused request reached upstream"
    );
}

#[tokio::test]
async fn tokens_only_come_from_the_authorization_header() {
    let (upstream, gateway) = gateway_with(POLICY).await;
    let path = format!("/getreport?ReportId=10800&access_token={}", caller_token());
    let got = get_with(&gateway, &path, None).await;
    assert_eq!(got.status, 401);
    let two = http::Request::get(gateway.url("/getreport?ReportId=10800"))
        .header("authorization", format!("Bearer {}", caller_token()))
        .header("authorization", format!("Bearer {}", caller_token()))
        .body(Default::default())
        .unwrap();
    let got = send_as_is(two).await;
    assert_eq!(got.status, 401);
    assert_eq!(got.json()["code"], "token_malformed");
    assert!(upstream.all().is_empty());
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
