//! Protecting iCasework, over real HTTP: the concurrency cap, the global rate, iCasework's
//! Retry-After honoured for everyone, and the circuit breaker. Retries: tests/retry.rs.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;

/// The default answer after `delay`.
fn slow(delay: Duration) -> Handler {
    on_getreport_async(move |r| async move {
        tokio::time::sleep(delay).await;
        default_handler(&r)
    })
}

async fn pair(handler: Handler, protection: &str) -> (FakeUpstream, TestGateway) {
    start_pair(handler, &format!("[upstream.protection]\n{protection}"), "").await
}

const REPORT: &str = "/getreport?ReportId=10800&Format=json";

fn code(got: &Got) -> String {
    got.json()["code"].as_str().unwrap_or_default().to_owned()
}

fn retry_after(got: &Got) -> u64 {
    got.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", got.headers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_callers_never_exceed_the_cap_upstream() {
    let (upstream, gateway) = pair(
        slow(Duration::from_millis(25)),
        "max_concurrent = 8\nqueue_timeout = \"60s\"",
    )
    .await;
    let url = gateway.url(REPORT);
    let all = join_all((0..200).map(|_| get(&url))).await;
    assert!(all.iter().all(|g| g.status == 200), "all served in time");
    assert_eq!(upstream.getreport_requests().len(), 200);
    let peak = upstream.in_flight_peak.load(Ordering::SeqCst);
    assert!(peak <= 8, "iCasework saw {peak} requests at once");
    assert!(peak >= 2, "the callers did overlap: {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_over_the_cap_wait_a_bounded_time_then_get_503() {
    let (upstream, gateway) = pair(
        slow(Duration::from_millis(1500)),
        "max_concurrent = 2\nqueue_timeout = \"200ms\"",
    )
    .await;
    let url = gateway.url(REPORT);
    let timed = |url: String| async move {
        let started = Instant::now();
        let got = get(&url).await;
        (got, started.elapsed())
    };
    let all = join_all((0..6).map(|_| timed(url.clone()))).await;
    let served = all.iter().filter(|(g, _)| g.status == 200).count();
    assert_eq!(served, 2, "one per slot");
    for (got, elapsed) in all.iter().filter(|(g, _)| g.status != 200) {
        assert_eq!(got.status, 503);
        assert_eq!(code(got), "upstream_busy");
        assert_eq!(retry_after(got), 1);
        assert!(got.json()["detail"]
            .as_str()
            .unwrap()
            .contains("not your request"));
        assert!(
            *elapsed < Duration::from_millis(1200),
            "{elapsed:?}: bounded wait"
        );
    }
    assert_eq!(upstream.getreport_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_rate_spaces_requests_and_refuses_what_cannot_wait() {
    // 5 a second, burst 5: ten callers at once take about a second, all served.
    let (upstream, gateway) = pair(
        default_handler_arc(),
        "rate = \"5/second\"\nqueue_timeout = \"5s\"",
    )
    .await;
    let url = gateway.url(REPORT);
    let started = Instant::now();
    let all = join_all((0..10).map(|_| get(&url))).await;
    assert!(all.iter().all(|g| g.status == 200));
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.getreport_requests().len(), 10);

    // 2 a minute: the third caller would wait 30 s, more than queue_timeout: 503 at once.
    let (upstream, gateway) = pair(
        default_handler_arc(),
        "rate = \"2/minute\"\nqueue_timeout = \"100ms\"",
    )
    .await;
    let url = gateway.url(REPORT);
    assert_eq!(get(&url).await.status, 200);
    assert_eq!(get(&url).await.status, 200);
    let started = Instant::now();
    let refused = get(&url).await;
    assert_eq!(refused.status, 503);
    assert_eq!(code(&refused), "upstream_busy");
    assert!(
        (20..=30).contains(&retry_after(&refused)),
        "{:?}",
        refused.headers
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(upstream.getreport_requests().len(), 2);
}

#[tokio::test]
async fn a_429_with_retry_after_holds_every_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let (upstream, gateway) = pair(
        on_getreport(move |r| match seen.fetch_add(1, Ordering::SeqCst) {
            0 => response(429, &[("retry-after", "2")], "slow down"),
            _ => default_handler(r),
        }),
        "",
    )
    .await;
    let url = gateway.url(REPORT);
    let first = get(&url).await;
    assert_eq!(first.status, 503);
    assert_eq!(code(&first), "upstream_throttled");
    assert_eq!(retry_after(&first), 2);
    for _ in 0..3 {
        let held = get(&url).await;
        assert_eq!(held.status, 503, "everyone waits");
        assert_eq!(code(&held), "upstream_throttled");
        assert!((1..=2).contains(&retry_after(&held)));
    }
    assert_eq!(
        upstream.getreport_requests().len(),
        1,
        "nothing sent while held"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&url).await.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_burst_opens_the_breaker_and_one_probe_closes_it() {
    let failing = Arc::new(AtomicBool::new(true));
    let down = failing.clone();
    let (upstream, gateway) = pair(
        on_getreport_async(move |r| {
            let down = down.load(Ordering::SeqCst);
            async move {
                if down {
                    return response(503, &[], "down");
                }
                // The probe takes a while, so the callers beside it find it running.
                tokio::time::sleep(Duration::from_millis(300)).await;
                default_handler(&r)
            }
        }),
        "retries = 0\nbreaker_failures = 3\nbreaker_open_for = \"300ms\"",
    )
    .await;
    let url = gateway.url(REPORT);
    for _ in 0..3 {
        let got = get(&url).await;
        assert_eq!(
            (got.status.as_u16(), code(&got)),
            (502, "upstream_error".into())
        );
    }
    let started = Instant::now();
    let fast = get(&url).await;
    assert_eq!(fast.status, 503);
    assert_eq!(code(&fast), "upstream_circuit_open");
    assert_eq!(retry_after(&fast), 1, "300 ms, rounded up");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(upstream.getreport_requests().len(), 3, "open: nothing sent");

    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all = join_all((0..5).map(|_| get(&url))).await;
    let probes = all.iter().filter(|g| g.status == 200).count();
    assert_eq!(probes, 1, "half-open: a single probe");
    for got in all.iter().filter(|g| g.status != 200) {
        assert_eq!(code(got), "upstream_circuit_open");
    }
    assert_eq!(upstream.getreport_requests().len(), 4);
    // The probe succeeded: closed again.
    let all = join_all((0..3).map(|_| get(&url))).await;
    assert!(all.iter().all(|g| g.status == 200));
    assert_eq!(upstream.getreport_requests().len(), 7);
}

#[tokio::test]
async fn stale_answers_cover_an_open_breaker() {
    let failing = Arc::new(AtomicBool::new(false));
    let down = failing.clone();
    let upstream = FakeUpstream::with(on_getreport(move |r| {
        if down.load(Ordering::SeqCst) {
            response(503, &[], "down")
        } else {
            default_handler(r)
        }
    }))
    .await;
    let toml = format!(
        "{}\n[cache]\nstale_while_revalidate = \"0s\"\nstale_if_error = \"60s\"\n",
        config_toml(
            &upstream.base_url(),
            "[upstream.protection]\nretries = 0\nbreaker_failures = 1\nbreaker_open_for = \"60s\"",
            "",
        )
    );
    let policy = POLICY.replace("cache_ttl = \"0s\"", "cache_ttl = \"1s\"");
    let gateway = TestGateway::start_with_files(&toml, &[("policy.toml", &policy)]).await;
    let url = gateway.url(REPORT);
    assert_eq!(get(&url).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        // The first meets the 503 (and opens the breaker); the others its fast failure.
        let got = get(&url).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.header("x-cache"), Some("STALE"));
    }
    assert_eq!(upstream.getreport_requests().len(), 2);
}
