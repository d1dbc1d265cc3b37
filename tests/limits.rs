//! Callers' quotas end to end over real HTTP: 429 with Retry-After and a problem body, the
//! RateLimit fields on every response of a limited caller (errors included), separate quotas
//! for cache hits and for requests to iCasework, per-report quotas, callers keyed by a claim,
//! and the configuration's defaults. Rates are per hour, so nothing refills during a test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;

/// A gateway in front of `upstream` with `policy`, and `extra` TOML appended to the
/// configuration (a `[limits]` section, say).
async fn gateway(upstream: &FakeUpstream, policy: &str, extra: &str) -> TestGateway {
    let toml = format!("{}\n{extra}", config_toml(&upstream.base_url(), "", ""));
    TestGateway::start_with_files(&toml, &[("policy.toml", policy)]).await
}

/// A GET of `path` with `token`.
async fn get_as(gateway: &TestGateway, path: &str, token: &str) -> Got {
    send(
        Request::get(gateway.url(path))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await
}

/// A token with these claims besides `iss`, `aud`, `iat` and `exp`.
fn token_with(claims: serde_json::Value) -> String {
    let serde_json::Value::Object(claims) = claims else {
        panic!("claims are an object")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut all =
        serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600});
    all.as_object_mut().unwrap().extend(claims);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &all,
        &jsonwebtoken::EncodingKey::from_secret(CALLER_SECRET.as_bytes()),
    )
    .unwrap()
}

/// `(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)`, when present.
fn fields(got: &Got) -> Option<(u64, u64, u64)> {
    let n = |name| got.header(name).map(|v| v.parse::<u64>().unwrap());
    match (
        n("ratelimit-limit"),
        n("ratelimit-remaining"),
        n("ratelimit-reset"),
    ) {
        (Some(l), Some(r), Some(s)) => Some((l, r, s)),
        (None, None, None) => None,
        partial => panic!("some RateLimit fields only: {partial:?}"),
    }
}

const JSON: &str = "/getreport?ReportId=10800&Format=json";
const OTHER: &str = "/getreport?ReportId=10801&Format=json";

#[tokio::test]
async fn over_quota_is_429_with_retry_after_and_fields_after_every_request() {
    let upstream = FakeUpstream::start().await;
    let policy = r#"
[[grant]]
name = "metered"
reports = "all"
who = { sub = "metered" }
[grant.limits]
rate = "3/hour"
cache_ttl = "0s"
"#;
    let gateway = gateway(&upstream, policy, "").await;
    let token = token_for("metered");
    // One unit comes back every 20 minutes: the bucket is full again 20 minutes per unit used.
    for (remaining, reset) in [(2, 1200), (1, 2400), (0, 3600)] {
        let got = get_as(&gateway, JSON, &token).await;
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(fields(&got), Some((3, remaining, reset)));
    }
    let got = get_as(&gateway, JSON, &token).await;
    assert_eq!(got.status, 429);
    assert_eq!(got.header("content-type"), Some("application/problem+json"));
    assert_eq!(got.header("retry-after"), Some("1200"));
    // On a refusal Reset is the moment Retry-After names.
    assert_eq!(fields(&got), Some((3, 0, 1200)));
    let problem = got.json();
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["retry_after"], 1200);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("retry in 1200 seconds"), "{detail}");
    assert!(!detail.contains("metered"), "{detail}");
    assert!(got.header("x-request-id").is_some());
    assert_eq!(
        upstream.getreport_requests().len(),
        3,
        "the refused request stayed here"
    );
}

#[tokio::test]
async fn a_caller_without_limits_gets_no_ratelimit_fields() {
    let upstream = FakeUpstream::start().await;
    let gateway = gateway(&upstream, POLICY, "").await;
    for _ in 0..5 {
        let got = get(&gateway.url(JSON)).await;
        assert_eq!(got.status, 200);
        assert_eq!(fields(&got), None);
    }
    // Nor do requests refused before the quotas (no grant).
    let got = get_as(&gateway, JSON, &token_for("stranger")).await;
    assert_eq!(got.status, 403);
    assert_eq!(fields(&got), None);
}

#[tokio::test]
async fn cache_hits_and_requests_to_icasework_have_separate_quotas() {
    let upstream = FakeUpstream::start().await;
    let policy = r#"
[[grant]]
name = "reader"
reports = "all"
who = { sub = "reader" }
[grant.limits]
rate = "5/hour"
miss_rate = "1/hour"
cache_ttl = "1h"
"#;
    let gateway = gateway(&upstream, policy, "").await;
    let token = token_for("reader");
    // A miss spends both quotas; the fields show the one closer to running out.
    let got = get_as(&gateway, JSON, &token).await;
    assert_eq!(
        (got.status.as_u16(), got.header("x-cache")),
        (200, Some("MISS"))
    );
    assert_eq!(fields(&got), Some((1, 0, 3600)));
    // A hit spends the request quota only.
    let got = get_as(&gateway, JSON, &token).await;
    assert_eq!(
        (got.status.as_u16(), got.header("x-cache")),
        (200, Some("HIT"))
    );
    assert_eq!(fields(&got), Some((5, 3, 1440)));
    // Another report would go to iCasework: refused, while hits go on.
    let got = get_as(&gateway, OTHER, &token).await;
    assert_eq!(got.status, 429);
    assert_eq!(got.header("retry-after"), Some("3600"));
    assert_eq!(fields(&got), Some((1, 0, 3600)));
    let detail = got.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("go to iCasework"), "{detail}");
    let got = get_as(&gateway, JSON, &token).await;
    assert_eq!(
        (got.status.as_u16(), got.header("x-cache")),
        (200, Some("HIT"))
    );
    assert_eq!(fields(&got), Some((5, 1, 2880)));
    assert_eq!(upstream.getreport_requests().len(), 1);
    let metrics = casegate::metrics::metrics().render();
    assert!(
        metrics.contains("casegate_rate_limited_total{scope=\"miss\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn waiting_for_another_requests_fill_spends_no_miss_quota() {
    // iCasework holds its answer until the test lets it go.
    let release = Arc::new(AtomicBool::new(false));
    let gate = release.clone();
    let upstream = FakeUpstream::with(Arc::new(move |r: Recorded| {
        let gate = gate.clone();
        Box::pin(async move {
            if r.uri.path() == "/getreport" {
                while !gate.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            default_handler(&r)
        })
    }))
    .await;
    let policy = r#"
[[grant]]
name = "reader"
reports = "all"
who = { sub = "reader" }
[grant.limits]
rate = "10/hour"
miss_rate = "1/hour"
cache_ttl = "1h"
"#;
    let gateway = Arc::new(gateway(&upstream, policy, "").await);
    let token = token_for("reader");
    let leader = tokio::spawn({
        let (gateway, token) = (gateway.clone(), token.clone());
        async move { get_as(&gateway, JSON, &token).await }
    });
    // The leader's fill is at iCasework before the others ask.
    while upstream.getreport_requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let followers: Vec<_> = (0..4)
        .map(|_| {
            let (gateway, token) = (gateway.clone(), token.clone());
            tokio::spawn(async move { get_as(&gateway, JSON, &token).await })
        })
        .collect();
    // Give the followers time to join the fill; they would pass the gate either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.store(true, Ordering::SeqCst);
    let leader = leader.await.unwrap();
    assert_eq!(
        (leader.status.as_u16(), leader.header("x-cache")),
        (200, Some("MISS"))
    );
    for follower in followers {
        let got = follower.await.unwrap();
        assert_eq!(got.status, 200, "{}", got.text());
        assert_ne!(got.header("x-cache"), Some("BYPASS"));
    }
    assert_eq!(upstream.getreport_requests().len(), 1);
}

#[tokio::test]
async fn each_report_has_its_own_quota_within_the_callers() {
    let upstream = FakeUpstream::start().await;
    let policy = r#"
[[grant]]
name = "reader"
reports = "all"
who = { sub = "reader" }
[grant.limits]
rate = "10/hour"
report_rate = "2/hour"
cache_ttl = "0s"
"#;
    let gateway = gateway(&upstream, policy, "").await;
    let token = token_for("reader");
    assert_eq!(
        fields(&get_as(&gateway, JSON, &token).await),
        Some((2, 1, 1800))
    );
    assert_eq!(
        fields(&get_as(&gateway, JSON, &token).await),
        Some((2, 0, 3600))
    );
    let got = get_as(&gateway, JSON, &token).await;
    assert_eq!(got.status, 429);
    assert_eq!(got.header("retry-after"), Some("1800"));
    let detail = got.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("for this report"), "{detail}");
    // Another report is still open; the caller's total counted all four requests.
    let got = get_as(&gateway, OTHER, &token).await;
    assert_eq!(got.status, 200);
    assert_eq!(fields(&got), Some((2, 1, 1800)));
    assert_eq!(upstream.getreport_requests().len(), 3);
}

#[tokio::test]
async fn callers_sharing_the_named_claim_share_the_quota() {
    let upstream = FakeUpstream::start().await;
    let policy = r#"
[[grant]]
name = "orgs"
reports = "all"
who = { iss = "https://idp.test.casegate" }
[grant.limits]
key = "org"
rate = "2/hour"
cache_ttl = "0s"
"#;
    let gateway = gateway(&upstream, policy, "").await;
    let acme = |sub: &str| token_with(serde_json::json!({"sub": sub, "org": "acme"}));
    assert_eq!(
        fields(&get_as(&gateway, JSON, &acme("app-1")).await),
        Some((2, 1, 1800))
    );
    assert_eq!(
        fields(&get_as(&gateway, JSON, &acme("app-2")).await),
        Some((2, 0, 3600))
    );
    let got = get_as(&gateway, JSON, &acme("app-3")).await;
    assert_eq!(got.status, 429);
    let body = got.text();
    for secret in ["acme", "app-1", "app-2", "app-3", "orgs"] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    // Another organisation, and a token without the claim (keyed by its subject), are apart.
    let other = token_with(serde_json::json!({"sub": "app-1", "org": "other"}));
    assert_eq!(
        fields(&get_as(&gateway, JSON, &other).await),
        Some((2, 1, 1800))
    );
    let bare = token_with(serde_json::json!({"sub": "app-1"}));
    assert_eq!(
        fields(&get_as(&gateway, JSON, &bare).await),
        Some((2, 1, 1800))
    );
}

#[tokio::test]
async fn errors_from_below_carry_the_fields_too() {
    let upstream = FakeUpstream::with(on_getreport(|_| response(503, &[], "down"))).await;
    let policy = r#"
[[grant]]
name = "reader"
reports = "all"
who = { sub = "reader" }
[grant.limits]
rate = "3/hour"
cache_ttl = "0s"
"#;
    let gateway = gateway(&upstream, policy, "").await;
    let got = get_as(&gateway, JSON, &token_for("reader")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_error");
    assert_eq!(fields(&got), Some((3, 2, 1200)));
    assert_eq!(got.header("retry-after"), None);
}

#[tokio::test]
async fn the_configured_defaults_apply_where_a_grant_sets_no_rate() {
    let upstream = FakeUpstream::start().await;
    let policy = r#"
[[grant]]
name = "own-rate"
reports = "all"
who = { sub = "own" }
[grant.limits]
rate = "5/hour"
cache_ttl = "0s"

[[grant]]
name = "defaults"
reports = "all"
who = { sub = "plain" }
[grant.limits]
cache_ttl = "0s"
"#;
    let limits = "[limits]\nrate = \"10/hour\"\nburst = 1\n";
    let gateway = gateway(&upstream, policy, limits).await;
    let plain = token_for("plain");
    assert_eq!(
        fields(&get_as(&gateway, JSON, &plain).await),
        Some((1, 0, 360))
    );
    let got = get_as(&gateway, JSON, &plain).await;
    assert_eq!(
        (got.status.as_u16(), got.header("retry-after")),
        (429, Some("360"))
    );
    assert_eq!(
        fields(&get_as(&gateway, JSON, &token_for("own")).await),
        Some((5, 4, 720))
    );
}
