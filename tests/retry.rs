//! Retries of transient iCasework failures, over real HTTP: which failures, how long apart,
//! never once the response has started, and never beyond the retry budget.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPORT: &str = "/getreport?ReportId=10800&Format=json";

async fn pair(handler: Handler, protection: &str) -> (FakeUpstream, TestGateway) {
    start_pair(handler, &format!("[upstream.protection]\n{protection}"), "").await
}

/// GetReport answers `status` (with `headers`) `failures` times, then the default answer.
fn failing_first(
    failures: usize,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> Handler {
    let calls = AtomicUsize::new(0);
    on_getreport(move |r| {
        if calls.fetch_add(1, Ordering::SeqCst) < failures {
            response(status, headers, "failure")
        } else {
            default_handler(r)
        }
    })
}

#[tokio::test]
async fn a_502_503_or_504_is_retried_with_backoff() {
    for status in [502, 503, 504] {
        let (upstream, gateway) = pair(
            failing_first(2, status, &[]),
            "retries = 2\nretry_backoff = \"10ms\"",
        )
        .await;
        let got = get(&gateway.url(REPORT)).await;
        assert_eq!(got.status, 200, "upstream {status} twice, then 200");
        assert_eq!(upstream.getreport_requests().len(), 3);
    }
    // One retry too few: the caller gets the failure.
    let (upstream, gateway) = pair(
        failing_first(3, 503, &[]),
        "retries = 2\nretry_backoff = \"10ms\"",
    )
    .await;
    let got = get(&gateway.url(REPORT)).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_error");
    assert_eq!(upstream.getreport_requests().len(), 3);
}

#[tokio::test]
async fn refusals_and_other_errors_are_not_retried() {
    for (status, headers, code) in [
        (
            400u16,
            &[
                ("x-application-error-code", "8099"),
                ("x-application-error-info", "bad value"),
            ][..],
            "upstream_refused",
        ),
        (500, &[][..], "upstream_error"),
        (404, &[][..], "upstream_error"),
    ] {
        let (upstream, gateway) = pair(
            failing_first(1, status, headers),
            "retries = 2\nretry_backoff = \"10ms\"",
        )
        .await;
        let got = get(&gateway.url(REPORT)).await;
        assert_eq!(got.json()["code"], code, "upstream {status}");
        assert_eq!(
            upstream.getreport_requests().len(),
            1,
            "upstream {status}: no retry"
        );
    }
}

/// A GetReport server on raw TCP: the first `closes` connections are closed as soon as the
/// request has arrived, before any response head; later ones get the example report.
async fn closing_upstream(closes: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if counted.fetch_add(1, Ordering::SeqCst) < closes {
                    return; // dropped: the connection closes without an answer
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{EXAMPLE_JSON}",
                    EXAMPLE_JSON.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn a_connection_closed_before_the_response_head_is_retried() {
    let (addr, requests) = closing_upstream(2).await;
    let toml = config_toml(
        &format!("http://{addr}"),
        "[upstream.protection]\nretries = 2\nretry_backoff = \"10ms\"",
        "scheme = \"key_signature\"",
    );
    let gateway = TestGateway::start(&toml).await;
    let got = get(&gateway.url(REPORT)).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.text(), EXAMPLE_JSON);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_retry_after_within_the_cap_is_waited_for_and_a_longer_one_is_passed_on() {
    let (upstream, gateway) = pair(
        failing_first(1, 503, &[("retry-after", "1")]),
        "retry_backoff = \"10ms\"\nretry_backoff_max = \"2s\"",
    )
    .await;
    let started = Instant::now();
    assert_eq!(get(&gateway.url(REPORT)).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.getreport_requests().len(), 2);

    let (upstream, gateway) = pair(
        failing_first(1, 503, &[("retry-after", "30")]),
        "retry_backoff = \"10ms\"\nretry_backoff_max = \"2s\"",
    )
    .await;
    let got = get(&gateway.url(REPORT)).await;
    assert_eq!(got.status, 503);
    assert_eq!(got.json()["code"], "upstream_throttled");
    assert_eq!(got.header("retry-after"), Some("30"));
    assert_eq!(
        upstream.getreport_requests().len(),
        1,
        "not retried: beyond the cap"
    );
}

/// A 200 whose body sends its first rows, stalls, then breaks.
fn breaking_body() -> Body {
    let stream = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((
                Ok(http_body::Frame::data(Bytes::from_static(
                    b"[{\"a\":\"1\"},",
                ))),
                1,
            )),
            1 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Some((
                    Err::<http_body::Frame<Bytes>, BoxError>("upstream broke".into()),
                    2,
                ))
            }
            _ => None,
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

#[tokio::test]
async fn nothing_is_retried_once_the_response_has_started() {
    let (upstream, gateway) = pair(
        on_getreport(|_| {
            let mut r = http::Response::new(breaking_body());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }),
        "retries = 2\nretry_backoff = \"10ms\"",
    )
    .await;
    let got = get(&gateway.url(REPORT)).await;
    assert_eq!(got.status, 200, "the head was already sent");
    assert!(got.aborted, "the caller sees a broken transfer");
    assert_eq!(&got.body[..], b"[{\"a\":\"1\"},");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.getreport_requests().len(), 1);
}

#[tokio::test]
async fn retries_stay_within_the_budget() {
    // Every answer a 503; the breaker kept out of the way.
    let (upstream, gateway) = pair(
        on_getreport(|_| response(503, &[], "down")),
        "retries = 2\nretry_backoff = \"1ms\"\nretry_backoff_max = \"2ms\"\nretry_budget = 0.1\nbreaker_failures = 10000",
    )
    .await;
    let url = gateway.url(REPORT);
    let requests = 100;
    for _ in 0..requests {
        assert_eq!(get(&url).await.status, 502);
    }
    let retries = upstream.getreport_requests().len() - requests;
    // 10 % of the requests, plus the floor of one retry a second over the 10-second window;
    // without a budget there would be 200.
    assert!(retries <= requests / 10 + 10, "{retries} retries");
    assert!(retries >= 10, "the budget allows some: {retries}");
    let metrics = casegate::metrics::metrics().render();
    assert!(metrics.contains("casegate_upstream_retries_total{outcome=\"budget_exhausted\"}"));
}
