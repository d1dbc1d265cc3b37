//! Graceful shutdown of the real binary: on SIGTERM or SIGINT casegate stops accepting, lets
//! requests in flight finish (HTTP/1.1 and HTTP/2), and exits 0; a request still running when
//! `server.shutdown_grace` ends is cut, and the exit is still 0.
#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use common::process::{ServeProcess, PATIENCE};
use common::*;

/// A fake iCasework whose GetReport answers only once the test adds permits to the gate.
async fn gated_upstream() -> (FakeUpstream, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    let upstream = FakeUpstream::with(on_getreport_async(move |r| {
        let gate = held.clone();
        async move {
            gate.acquire().await.unwrap().forget();
            default_handler(&r)
        }
    }))
    .await;
    (upstream, gate)
}

async fn serve(upstream: &FakeUpstream, grace: &str) -> (tempfile::TempDir, ServeProcess) {
    let toml = config_toml(&upstream.base_url(), "", "").replace(
        "listen = \"127.0.0.1:0\"\n\n[upstream]",
        &format!("listen = \"127.0.0.1:0\"\nshutdown_grace = \"{grace}\"\n\n[upstream]"),
    );
    assert!(toml.contains("shutdown_grace"), "{toml}");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config_dir(dir.path(), &toml, &[]);
    let process = ServeProcess::start(&path).await;
    (dir, process)
}

fn report_request(gateway: std::net::SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!(
        "http://{gateway}/getreport?ReportId=10800&Format=json"
    ))
    .header("authorization", format!("Bearer {}", caller_token()))
    .body(Full::default())
    .unwrap()
}

/// Waits until iCasework has received `n` GetReport requests (they are then in flight).
async fn until_upstream_has(upstream: &FakeUpstream, n: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while upstream.getreport_requests().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests never reached iCasework"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn requests_in_flight_finish(signal: &str) {
    let (upstream, gate) = gated_upstream().await;
    let (_dir, mut gateway) = serve(&upstream, "60s").await;
    let addr = gateway.public;
    // One request over HTTP/1.1 and one over HTTP/2, both waiting for iCasework.
    let h1 = tokio::spawn(try_send(report_request(addr)));
    let h2_client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let h2 = tokio::spawn(async move {
        let response = h2_client.request(report_request(addr)).await?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body).await;
        Ok::<_, BoxError>((parts.status, body?.to_bytes()))
    });
    until_upstream_has(&upstream, 2).await;

    gateway.signal(signal);
    gateway
        .wait_for_log(&[
            "shutting down: waiting for requests in flight",
            "\"public\"",
        ])
        .await;
    // The listeners are closed: new connections are refused at once, for the API and the
    // admin endpoints alike.
    for addr in [gateway.public, gateway.admin] {
        let refused = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{addr}"
        );
    }
    assert!(
        gateway.running(),
        "exited with requests in flight:\n{}",
        gateway.log()
    );

    // iCasework answers now; both callers get the whole report.
    gate.add_permits(2);
    let got = h1.await.unwrap().expect("the HTTP/1.1 request completes");
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(!got.aborted);
    assert_eq!(got.text(), EXAMPLE_JSON);
    let (status, body) = h2.await.unwrap().expect("the HTTP/2 request completes");
    assert_eq!(status, 200);
    assert_eq!(body, EXAMPLE_JSON);

    // And casegate exits 0 once they are done, long before the 60 s grace.
    let status = gateway.exit_status(PATIENCE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    assert!(
        !gateway.log().contains("after the shutdown grace period"),
        "{}",
        gateway.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    requests_in_flight_finish("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_requests_in_flight_finish_then_exits_0() {
    requests_in_flight_finish("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_grace_is_cut_and_the_exit_is_still_0() {
    let (upstream, _gate) = gated_upstream().await;
    let (_dir, mut gateway) = serve(&upstream, "1s").await;
    let pending = tokio::spawn(try_send(report_request(gateway.public)));
    until_upstream_has(&upstream, 1).await;

    gateway.signal("TERM");
    let status = gateway.exit_status(PATIENCE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    gateway
        .wait_for_log(&[
            "requests still in flight after the shutdown grace period",
            "\"connections\":1",
        ])
        .await;
    // iCasework never answered: the caller sees the connection close without a response.
    let cut = pending.await.unwrap();
    assert!(cut.is_err(), "{cut:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_do_not_hold_the_shutdown() {
    let (upstream, gate) = gated_upstream().await;
    gate.add_permits(1);
    let (_dir, mut gateway) = serve(&upstream, "60s").await;
    // A pooled client keeps its connection open after the answer.
    let client = client();
    let response = client
        .request(report_request(gateway.public))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);

    gateway.signal("TERM");
    let status = gateway.exit_status(PATIENCE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_at_once() {
    let (upstream, _gate) = gated_upstream().await;
    // A grace longer than the test waits: only the second signal can end it in time.
    let (_dir, mut gateway) = serve(&upstream, "1h").await;
    let pending = tokio::spawn(try_send(report_request(gateway.public)));
    until_upstream_has(&upstream, 1).await;

    gateway.signal("TERM");
    gateway
        .wait_for_log(&[
            "shutting down: waiting for requests in flight",
            "\"public\"",
        ])
        .await;
    assert!(gateway.running(), "exited with a request in flight");
    gateway.signal("INT");
    let status = gateway.exit_status(PATIENCE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    gateway
        .wait_for_log(&["second signal: exiting without waiting for requests in flight"])
        .await;
    assert!(pending.await.unwrap().is_err());
}
