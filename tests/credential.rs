//! casegate's own iCasework credential: token cached, renewed at expiry, one request for many
//! waiters, one retry on an invalid-token 403, and clear 502s when the token endpoint fails.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn oauth_token_count(gateway: &TestGateway) -> u64 {
    match gateway.gateway_upstream.credential() {
        casegate::upstream::credential::Credential::OAuth(source) => source.requests_sent(),
        _ => panic!("oauth expected"),
    }
}

#[tokio::test]
async fn the_assertion_is_an_hs256_jwt_for_the_token_url() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    let token_request = &upstream.token_requests()[0];
    assert_eq!(token_request.method, http::Method::POST);
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&token_request.body)
            .into_owned()
            .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let token_url = format!("{}/token", upstream.base_url());
    validation.set_audience(&[&token_url]);
    validation.set_issuer(&[API_KEY]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &form["assertion"],
        &jsonwebtoken::DecodingKey::from_secret(SECRET_KEY.as_bytes()),
        &validation,
    )
    .expect("a valid assertion signed with the secret key");
    let iat = claims.claims["iat"].as_u64().unwrap();
    assert_eq!(claims.claims["exp"].as_u64().unwrap(), iat + 3600);
    assert_eq!(claims.header.typ.as_deref(), Some("JWT"));
}

#[tokio::test]
async fn token_is_cached_across_requests() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    for _ in 0..5 {
        assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    }
    assert_eq!(upstream.token_requests().len(), 1);
    let seen = upstream.getreport_requests();
    assert!(seen
        .iter()
        .all(|r| r.header("authorization") == seen[0].header("authorization")));
}

#[tokio::test]
async fn token_is_renewed_at_expiry() {
    let (upstream, gateway) = start_pair(on_token(|_| token_response(2)), "", "").await;
    assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    assert_eq!(upstream.token_requests().len(), 1, "still fresh");
    // Lifetime 2 s: renewed from 1 s on (half-way, as the margin is larger than the lifetime).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    assert_eq!(upstream.token_requests().len(), 2, "renewed after expiry");
    let seen = upstream.getreport_requests();
    assert_ne!(
        seen[0].header("authorization"),
        seen[2].header("authorization")
    );
}

#[tokio::test]
async fn a_huge_expires_in_is_capped_not_a_crash() {
    let (upstream, gateway) = start_pair(on_token(|_| token_response(u64::MAX)), "", "").await;
    for _ in 0..2 {
        assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    }
    assert_eq!(
        upstream.token_requests().len(),
        1,
        "the token is used, capped at a day"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_share_one_token_request() {
    let (upstream, gateway) =
        start_pair(slow_on("/token", Duration::from_millis(300)), "", "").await;
    let gateway = Arc::new(gateway);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let url = gateway.url("/getreport?ReportId=1");
            tokio::spawn(async move { get(&url).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(upstream.token_requests().len(), 1);
    assert_eq!(oauth_token_count(&gateway), 1);
    assert_eq!(upstream.getreport_requests().len(), 50);
}

#[tokio::test]
async fn invalid_token_403_renews_once_and_retries_once() {
    // The first token issued is refused by GetReport; later ones are accepted.
    let first_token = Arc::new(std::sync::Mutex::new(None::<String>));
    let ft = first_token.clone();
    let (upstream, gateway) = start_pair(
        Arc::new(move |r| {
            let ft = ft.clone();
            Box::pin(async move {
                if r.uri.path() == "/getreport" {
                    let auth = r.header("authorization").unwrap_or("").to_owned();
                    let mut first = ft.lock().unwrap();
                    if first.get_or_insert(auth.clone()) == &auth {
                        return icasework_error(403, "8021", "Invalid token (6)");
                    }
                }
                default_handler(&r)
            })
        }),
        "",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(upstream.token_requests().len(), 2);
    assert_eq!(upstream.getreport_requests().len(), 2);
}

#[tokio::test]
async fn invalid_token_twice_is_a_502_after_one_retry() {
    let (upstream, gateway) = start_pair(
        on_getreport(|_| icasework_error(403, "8021", "Invalid token (6)")),
        "",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_credential");
    assert_eq!(upstream.getreport_requests().len(), 2, "exactly one retry");
}

#[tokio::test]
async fn token_endpoint_failures_are_clear_502s_and_never_leak_secrets() {
    let cases: Vec<(&str, Handler)> = vec![
        (
            "invalid_grant 19002",
            on_token(|_| icasework_error(400, "19002", "invalid_grant")),
        ),
        ("empty 200 (wrong db)", on_token(|_| response(200, &[], ""))),
        (
            "200 without access_token",
            on_token(|_| response(200, &[], "{\"token_type\":\"Bearer\"}")),
        ),
        ("token endpoint 500", on_token(|_| response(500, &[], ""))),
    ];
    for (name, handler) in cases {
        let (upstream, gateway) = start_pair(handler, "", "").await;
        let got = get(&gateway.url("/getreport?ReportId=1")).await;
        assert_eq!(got.status, 502, "{name}");
        let problem = got.json();
        assert_eq!(problem["code"], "upstream_credential", "{name}");
        let text = got.text();
        assert!(
            !text.contains(SECRET_KEY) && !text.contains(API_KEY),
            "{name}: {text}"
        );
        assert!(
            upstream.getreport_requests().is_empty(),
            "{name}: no GetReport without a token"
        );
    }
}

#[tokio::test]
async fn a_failed_token_request_is_not_repeated_by_every_waiting_caller() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let upstream = FakeUpstream::with(Arc::new(move |r| {
        let c = c.clone();
        Box::pin(async move {
            if r.uri.path() == "/token" {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                return response(400, &[("x-application-error-code", "19002")], "");
            }
            default_handler(&r)
        })
    }))
    .await;
    let gateway = Arc::new(
        TestGateway::start(&config_toml(
            &upstream.base_url(),
            "",
            "failure_backoff = \"5s\"",
        ))
        .await,
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let url = gateway.url("/getreport?ReportId=1");
            tokio::spawn(async move { get(&url).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 502);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_renewal_keeps_serving_the_unexpired_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (upstream, gateway) = start_pair(
        on_token(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                token_response(4) // renewed from 2 s on, expires at 4 s
            } else {
                response(500, &[], "")
            }
        }),
        "",
        "",
    )
    .await;
    assert_eq!(get(&gateway.url("/getreport?ReportId=1")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(
        got.status,
        200,
        "the old token is still valid: {}",
        got.text()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "a renewal was attempted");
    let seen = upstream.getreport_requests();
    assert_eq!(
        seen[0].header("authorization"),
        seen[1].header("authorization")
    );
}
