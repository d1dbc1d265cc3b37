//! The token endpoint, bearer tokens, and Key + Signature.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use super::super::getreport::signature_for;
use super::super::{SandboxConfig, DEMO_API_KEY, DEMO_SECRET_KEY};
use super::{assertion, demo_assertion, now, start, JWT_BEARER};

#[tokio::test]
async fn token_production_shape_then_bearer_is_accepted() {
    let sandbox = start(SandboxConfig::default()).await;
    let reply = sandbox
        .post_token("/token", &demo_assertion(&sandbox.url("/token")))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    let token = json["access_token"].as_str().unwrap();
    assert_ne!(token, sandbox.token().await, "tokens are random");
    let reply = sandbox.get("/getreport?ReportId=10800", Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Upstream also takes the token as a parameter (the gateway must never send it that way).
    let reply = sandbox
        .get(
            &format!("/getreport?ReportId=10800&access_token={token}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    sandbox.stop().await;
}

#[tokio::test]
async fn token_uat_shape_with_exp_and_the_db_parameter() {
    let sandbox = start(SandboxConfig::default()).await;
    let url = sandbox.url("/token?db=sandbox");
    let claims = json!({ "iss": DEMO_API_KEY, "aud": url, "iat": now(), "exp": now() + 3600 });
    let reply = sandbox
        .post_token("/token?db=sandbox", &assertion(&claims, DEMO_SECRET_KEY))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let token = json["access_token"].as_str().unwrap();
    let reply = sandbox
        .get("/getreport?db=sandbox&ReportId=10800", Some(token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    sandbox.stop().await;
}

#[tokio::test]
async fn bad_assertions_are_invalid_grant() {
    let sandbox = start(SandboxConfig::default()).await;
    let production = sandbox.url("/token");
    let uat = sandbox.url("/token?db=sandbox");
    let signed = |claims: serde_json::Value| assertion(&claims, DEMO_SECRET_KEY);
    let (iat, expired) = (now() - 7200, now() - 3600);
    let cases = [
        // The production URL as the audience of a UAT-shaped call, and the other way round.
        ("/token?db=sandbox", demo_assertion(&production)),
        ("/token", demo_assertion(&uat)),
        ("/token", demo_assertion("http://elsewhere.example/token")),
        // The wrong secret.
        (
            "/token",
            assertion(
                &json!({ "iss": DEMO_API_KEY, "aud": production, "iat": now() }),
                "x",
            ),
        ),
        // The wrong or no `iss`, no `iat`, an `exp` in the past.
        (
            "/token",
            signed(json!({ "iss": "other-key", "aud": production, "iat": now() })),
        ),
        ("/token", signed(json!({ "aud": production, "iat": now() }))),
        (
            "/token",
            signed(json!({ "iss": DEMO_API_KEY, "aud": production })),
        ),
        (
            "/token",
            signed(json!({ "iss": DEMO_API_KEY, "aud": production, "iat": iat, "exp": expired })),
        ),
        ("/token", "not.a.jwt".to_owned()),
    ];
    for (path, assertion) in &cases {
        let reply = sandbox.post_token(path, assertion).await;
        assert_eq!(
            reply.assert_error(StatusCode::BAD_REQUEST, "19002"),
            "invalid_grant"
        );
    }
    // A good assertion with the wrong grant type.
    let form = format!(
        "grant_type=client_credentials&assertion={}",
        demo_assertion(&production)
    );
    let reply = sandbox.request(Method::POST, "/token", None, &form).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "19002");
    let reply = sandbox
        .request(
            Method::POST,
            "/token",
            None,
            &format!("grant_type={JWT_BEARER}"),
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "19002");
    sandbox.stop().await;
}

#[tokio::test]
async fn wrong_account_is_an_empty_200() {
    let sandbox = start(SandboxConfig::default()).await;
    let url = sandbox.url("/token?db=someone-else");
    let reply = sandbox
        .post_token("/token?db=someone-else", &demo_assertion(&url))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("x-application-error-code"), None);
    let reply = sandbox.get("/token", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_missing_and_expired_tokens_are_8021() {
    let config = SandboxConfig {
        token_lifetime: Duration::from_secs(1),
        ..SandboxConfig::default()
    };
    let sandbox = start(config).await;
    let token = sandbox.token().await;
    assert_eq!(
        sandbox
            .get("/getreport?ReportId=10800", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    for bearer in [Some("made-up"), None] {
        let reply = sandbox.get("/getreport?ReportId=10800", bearer).await;
        assert_eq!(
            reply.assert_error(StatusCode::FORBIDDEN, "8021"),
            "Invalid token (6)"
        );
    }
    let reply = sandbox
        .get("/getreport?ReportId=10800&access_token=made-up", None)
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::FORBIDDEN, "8021"),
        "Invalid token (6)"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = sandbox.get("/getreport?ReportId=10800", Some(&token)).await;
    assert_eq!(
        reply.assert_error(StatusCode::FORBIDDEN, "8021"),
        "Invalid token (6)"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn key_and_signature() {
    let sandbox = start(SandboxConfig::default()).await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let good = signature_for("10800", &today, DEMO_SECRET_KEY);
    let reply = sandbox
        .get(
            &format!("/getreport?ReportId=10800&Key={DEMO_API_KEY}&Signature={good}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Names are case-insensitive.
    let reply = sandbox
        .get(
            &format!("/getreport?reportid=10800&KEY={DEMO_API_KEY}&signature={good}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let other_report = signature_for("10801", &today, DEMO_SECRET_KEY);
    let wrong_secret = signature_for("10800", &today, "wrong");
    let bad = [
        format!("Key=other-key&Signature={good}"),
        format!("Key={DEMO_API_KEY}&Signature={other_report}"),
        format!("Key={DEMO_API_KEY}&Signature={wrong_secret}"),
        format!("Key={DEMO_API_KEY}&Signature={}", good.to_uppercase()),
        format!("Key={DEMO_API_KEY}"),
    ];
    for credentials in &bad {
        let reply = sandbox
            .get(&format!("/getreport?ReportId=10800&{credentials}"), None)
            .await;
        assert_eq!(
            reply.assert_error(StatusCode::FORBIDDEN, "8021"),
            "Incorrect key or signature"
        );
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn signature_date_uses_the_configured_time_zone() {
    let zone = chrono_tz::Pacific::Kiritimati; // UTC+14: its date differs from UTC's half the day
    let config = SandboxConfig {
        signature_time_zone: zone,
        ..SandboxConfig::default()
    };
    let sandbox = start(config).await;
    let today = chrono::Utc::now()
        .with_timezone(&zone)
        .format("%Y-%m-%d")
        .to_string();
    let signature = signature_for("10802", &today, DEMO_SECRET_KEY);
    let reply = sandbox
        .get(
            &format!("/getreport?ReportId=10802&Key={DEMO_API_KEY}&Signature={signature}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    sandbox.stop().await;
}
