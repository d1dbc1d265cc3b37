//! The admin listener's operations endpoints: liveness, readiness with a detail per check, and
//! metrics; purging is tested with the cache (tests/cache.rs).

mod common;

use common::*;

async fn admin_get(gateway: &TestGateway, path: &str) -> Got {
    get(&format!("http://{}{path}", gateway.admin_addr)).await
}

#[tokio::test]
async fn alive_and_ready_with_every_check_listed() {
    let (_upstream, gateway) = start_pair(default_handler_arc(), "", "").await;
    let health = admin_get(&gateway, "/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "alive");

    let ready = admin_get(&gateway, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    let body = ready.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["policy"]["ok"], true);
    assert_eq!(body["checks"]["token_keys"]["ok"], true);
    assert_eq!(body["checks"]["upstream_credential"]["ok"], true);
    assert!(body["checks"].get("redis").is_none(), "no Redis configured");

    let metrics = admin_get(&gateway, "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    // The public listener serves none of these.
    assert_eq!(get(&gateway.url("/readyz")).await.status, 404);
}

#[tokio::test]
async fn not_ready_while_the_upstream_credential_cannot_be_obtained() {
    let refused = on_token(|_| icasework_error(400, "19002", "Invalid assertion"));
    let (_upstream, gateway) = start_pair(refused, "", "").await;
    let ready = admin_get(&gateway, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let body = ready.json();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["upstream_credential"]["ok"], false);
    assert_eq!(
        body["checks"]["policy"]["ok"], true,
        "only the failing check fails"
    );
    let text = ready.text();
    assert!(
        !text.contains(API_KEY) && !text.contains(SECRET_KEY),
        "{text}"
    );
    // Liveness does not depend on iCasework: restarting would not help.
    assert_eq!(admin_get(&gateway, "/healthz").await.status, 200);
}
