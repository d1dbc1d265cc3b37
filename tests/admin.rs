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

/// Waits up to 30 s for `/readyz` to answer `status`; returns its body.
async fn until_ready_is(gateway: &TestGateway, status: u16) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = admin_get(gateway, "/readyz").await;
        if ready.status == status {
            return ready.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stayed {} instead of {status}: {}",
            ready.status,
            ready.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readiness_follows_the_upstream_credential_down_and_back_up() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // Tokens live one second, so the gateway must keep asking the token endpoint.
    let failing = Arc::new(AtomicBool::new(false));
    let endpoint = failing.clone();
    let handler = on_token(move |_| {
        if endpoint.load(Ordering::SeqCst) {
            icasework_error(400, "19002", "Invalid assertion")
        } else {
            token_response(1)
        }
    });
    let (upstream, gateway) = start_pair(handler, "", "").await;
    let body = until_ready_is(&gateway, 200).await;
    assert_eq!(body["checks"]["upstream_credential"]["ok"], true);

    // The token endpoint starts refusing: once the token held has expired, not ready.
    failing.store(true, Ordering::SeqCst);
    let body = until_ready_is(&gateway, 503).await;
    assert_eq!(body["checks"]["upstream_credential"]["ok"], false);
    assert_eq!(body["checks"]["policy"]["ok"], true);

    // It recovers: ready again, with no restart.
    failing.store(false, Ordering::SeqCst);
    let body = until_ready_is(&gateway, 200).await;
    assert_eq!(body["checks"]["upstream_credential"]["ok"], true);
    assert!(upstream.token_requests().len() >= 3);
}
