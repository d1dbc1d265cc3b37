//! The response cache end to end: a fake iCasework whose answers and delays the test controls
//! and whose requests it counts, real tokens, real grants with column rules.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;

/// What the fake iCasework does next.
#[derive(Default)]
struct Control {
    /// 0: the report; 1: 503; 2: 8052 (not shared); 3: 8051 (not found).
    mode: AtomicU32,
    delay_ms: AtomicU64,
    /// Goes into the report, so a refreshed body can be told from the old one.
    version: AtomicU32,
}

const OK: u32 = 0;
const OUTAGE: u32 = 1;
const NOT_SHARED: u32 = 2;
const NOT_FOUND: u32 = 3;

async fn upstream(control: Arc<Control>) -> FakeUpstream {
    FakeUpstream::with(Arc::new(move |r: Recorded| {
        let control = control.clone();
        Box::pin(async move {
            if r.uri.path() == "/token" {
                return token_response(3600);
            }
            let delay = control.delay_ms.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            match control.mode.load(Ordering::SeqCst) {
                OUTAGE => response(503, &[], "down"),
                NOT_SHARED => icasework_error(400, "8052", "Report not shared"),
                NOT_FOUND => icasework_error(400, "8051", "Report not found"),
                _ => {
                    let v = control.version.load(Ordering::SeqCst);
                    response(
                        200,
                        &[("content-type", "application/json")],
                        format!(
                            "[{{\"CaseDetails.CaseId\":\"case-v{v}\",\"Customer.FullName\":\"Bloggs, Fred\"}}]"
                        ),
                    )
                }
            }
        })
    }))
    .await
}

/// Three callers: `analyst` (customer columns dropped), `lead` (everything, may force a
/// refresh), `test-caller` (everything, may not); `stranger` has no grant.
fn policy(ttl: &str) -> String {
    format!(
        r#"
[[grant]]
name = "analysts"
reports = "all"
[grant.who]
sub = "analyst"
[grant.columns]
drop = ["Customer.*"]
[grant.limits]
cache_ttl = "{ttl}"

[[grant]]
name = "leads"
reports = "all"
[grant.who]
sub = "lead"
[grant.limits]
cache_ttl = "{ttl}"
cache_refresh = true

[[grant]]
name = "tests"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.limits]
cache_ttl = "{ttl}"
"#
    )
}

struct Setup {
    control: Arc<Control>,
    upstream: FakeUpstream,
    gateway: TestGateway,
}

async fn setup(ttl: &str, cache: &str) -> Setup {
    let control = Arc::new(Control::default());
    let upstream = upstream(control.clone()).await;
    // One fill, one upstream request: these tests count them (retries: tests/protection.rs).
    let toml = format!(
        "{}\n[cache]\n{cache}\n",
        config_toml(
            &upstream.base_url(),
            "[upstream.protection]\nretries = 0",
            ""
        )
    );
    let gateway = TestGateway::start_with_files(&toml, &[("policy.toml", &policy(ttl))]).await;
    Setup {
        control,
        upstream,
        gateway,
    }
}

impl Setup {
    fn calls(&self) -> usize {
        self.upstream.getreport_requests().len()
    }

    async fn get_as(&self, sub: &str, path: &str, headers: &[(&str, &str)]) -> Got {
        let mut request = Request::get(self.gateway.url(path))
            .header("authorization", format!("Bearer {}", token_for(sub)));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        send_as_is(request.body(Full::<Bytes>::default()).unwrap()).await
    }

    async fn get(&self, headers: &[(&str, &str)]) -> Got {
        self.get_as("test-caller", REPORT, headers).await
    }
}

const REPORT: &str = "/reports/10800?Format=json";

#[tokio::test]
async fn miss_then_hit_with_validators() {
    let s = setup("60s", "").await;
    let first = s.get(&[]).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.header("age"), Some("0"));
    let control = first.header("cache-control").unwrap();
    assert!(control.starts_with("private, max-age="), "{control}");
    let max_age: u64 = control["private, max-age=".len()..].parse().unwrap();
    assert!((58..=60).contains(&max_age), "{control}");
    let etag = first.header("etag").unwrap().to_owned();

    let second = s.get(&[]).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), Some(&*etag));
    assert_eq!(s.calls(), 1, "one upstream request for both");

    // The caller holds it already: 304, no body, still no upstream request.
    let not_modified = s.get(&[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(&*etag));
    let changed = s.get(&[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(changed.status, 200);

    // gzip is another representation: its own bytes and ETag, the same report inside.
    let gz = s.get(&[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("x-cache"), Some("HIT"));
    assert_ne!(gz.header("etag"), Some(&*etag));
    assert_eq!(gunzip(&gz.body), first.text());
    let by_parameter = s
        .get_as("test-caller", &format!("{REPORT}&Compression=gzip"), &[])
        .await;
    assert_eq!(by_parameter.header("content-encoding"), Some("gzip"));
    assert_eq!(
        by_parameter.header("x-cache"),
        Some("HIT"),
        "Compression is not part of the key"
    );
    assert_eq!(s.calls(), 1);

    // Every answer names its own request, hits from a kept head included.
    let answers = [&first, &second, &not_modified, &changed, &gz, &by_parameter];
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|got| {
            got.header("x-request-id")
                .expect("every answer has a request id")
        })
        .collect();
    assert_eq!(ids.len(), answers.len(), "{ids:?}");
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let s = setup(
        "1s",
        "stale_while_revalidate = \"0s\"\nstale_if_error = \"0s\"",
    )
    .await;
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("MISS"));
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("HIT"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.control.version.store(2, Ordering::SeqCst);
    let after = s.get(&[]).await;
    assert_eq!(after.header("x-cache"), Some("MISS"));
    assert!(after.text().contains("case-v2"));
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_serves_at_once_and_refreshes_once() {
    let s = setup("1s", "stale_while_revalidate = \"30s\"").await;
    assert!(s.get(&[]).await.text().contains("case-v0"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.control.version.store(1, Ordering::SeqCst);
    // The refresh takes 2 s; stale answers must not wait for it (a generous margin, not a
    // latency measurement).
    s.control.delay_ms.store(2000, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let stale = futures_util::future::join_all((0..5).map(|_| s.get(&[]))).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "served without waiting"
    );
    for got in &stale {
        assert_eq!(got.header("x-cache"), Some("STALE"));
        assert!(got.text().contains("case-v0"));
        assert_eq!(got.header("cache-control"), Some("private, max-age=0"));
    }
    // The refresh lands once its upstream request completes.
    let mut fresh = s.get(&[]).await;
    for _ in 0..100 {
        if fresh.text().contains("case-v1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        fresh = s.get(&[]).await;
    }
    assert_eq!(
        s.calls(),
        2,
        "one background refresh for all the stale hits"
    );
    assert_eq!(fresh.header("x-cache"), Some("HIT"));
    assert!(fresh.text().contains("case-v1"));
}

#[tokio::test]
async fn stale_if_error_covers_outages_not_refusals() {
    let s = setup(
        "1s",
        "stale_while_revalidate = \"0s\"\nstale_if_error = \"60s\"",
    )
    .await;
    assert_eq!(s.get(&[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.control.mode.store(OUTAGE, Ordering::SeqCst);
    let stale = s.get(&[]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("x-cache"), Some("STALE"));
    assert!(stale.text().contains("case-v0"));
    // A report no longer shared is not an outage: the refusal is passed on.
    s.control.mode.store(NOT_SHARED, Ordering::SeqCst);
    let refused = s.get(&[]).await;
    assert_ne!(refused.status, 200, "{}", refused.text());
    assert_eq!(s.calls(), 3);
}

#[tokio::test]
async fn without_stale_if_error_an_outage_is_an_error() {
    let s = setup(
        "1s",
        "stale_while_revalidate = \"0s\"\nstale_if_error = \"0s\"",
    )
    .await;
    assert_eq!(s.get(&[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.control.mode.store(OUTAGE, Ordering::SeqCst);
    let got = s.get(&[]).await;
    assert_eq!(got.status, 502, "{}", got.text());
}

#[tokio::test]
async fn a_zero_ttl_grant_bypasses_the_cache() {
    let s = setup("0s", "").await;
    for _ in 0..2 {
        let got = s.get(&[("accept-encoding", "gzip")]).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.header("x-cache"), Some("BYPASS"));
        assert_eq!(got.header("content-encoding"), Some("gzip"));
        assert!(gunzip(&got.body).contains("case-v0"));
    }
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn report_not_found_is_remembered_briefly() {
    let s = setup("60s", "negative_ttl = \"1s\"").await;
    s.control.mode.store(NOT_FOUND, Ordering::SeqCst);
    let first = s.get(&[]).await;
    let second = s.get(&[]).await;
    assert_eq!(first.status, second.status);
    assert_ne!(first.status, 200);
    assert_eq!(
        first.json()["upstream_code"],
        second.json()["upstream_code"]
    );
    assert_eq!(s.calls(), 1, "the second 8051 came from the negative cache");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.control.mode.store(OK, Ordering::SeqCst);
    assert_eq!(s.get(&[]).await.status, 200);
    assert_eq!(s.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_request() {
    let s = setup("60s", "").await;
    s.control.delay_ms.store(300, Ordering::SeqCst);
    let all = futures_util::future::join_all((0..100).map(|_| s.get(&[]))).await;
    assert!(all.iter().all(|g| g.status == 200));
    assert!(all.iter().all(|g| g.body == all[0].body));
    assert_eq!(s.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_share_the_leaders_failure() {
    let s = setup("60s", "").await;
    s.control.delay_ms.store(300, Ordering::SeqCst);
    s.control.mode.store(OUTAGE, Ordering::SeqCst);
    let all = futures_util::future::join_all((0..100).map(|_| s.get(&[]))).await;
    assert!(
        all.iter().all(|g| g.status == 502),
        "every caller gets the error"
    );
    assert_eq!(s.calls(), 1, "no stampede of retries");
    // Errors are not cached.
    s.control.mode.store(OK, Ordering::SeqCst);
    s.control.delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(s.get(&[]).await.status, 200);
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn callers_never_get_a_body_redacted_for_others() {
    let s = setup("60s", "").await;
    let lead = s.get_as("lead", REPORT, &[]).await;
    assert!(lead.text().contains("Bloggs, Fred"));
    let analyst = s.get_as("analyst", REPORT, &[]).await;
    assert_eq!(analyst.status, 200);
    assert_eq!(
        analyst.header("x-cache"),
        Some("MISS"),
        "another profile, another entry"
    );
    assert!(!analyst.text().contains("Bloggs"), "{}", analyst.text());
    assert!(analyst.text().contains("case-v0"));
    // Callers with the same rules share: test-caller keeps everything, as the lead does.
    let same_rules = s.get(&[]).await;
    assert_eq!(same_rules.header("x-cache"), Some("HIT"));
    assert_eq!(same_rules.body, lead.body);
    let stranger = s.get_as("stranger", REPORT, &[]).await;
    assert_eq!(stranger.status, 403);
    assert!(!stranger.text().contains("case-v0"));
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn no_cache_refreshes_only_where_the_grant_allows() {
    let s = setup("60s", "").await;
    s.get(&[]).await;
    s.control.version.store(1, Ordering::SeqCst);
    let ignored = s.get(&[("cache-control", "no-cache")]).await;
    assert_eq!(ignored.header("x-cache"), Some("HIT"));
    assert_eq!(s.calls(), 1);
    // The lead's grant allows it (and shares the test caller's profile and entry).
    let forced = s
        .get_as("lead", REPORT, &[("cache-control", "no-cache")])
        .await;
    assert_eq!(forced.header("x-cache"), Some("MISS"));
    assert!(forced.text().contains("case-v1"));
    assert_eq!(s.calls(), 2);
    assert!(
        s.get(&[]).await.text().contains("case-v1"),
        "the refresh replaced the entry"
    );
}

#[tokio::test]
async fn bodies_larger_than_an_entry_stream_through() {
    let s = setup("60s", "max_entry_bytes = \"40 B\"").await;
    for _ in 0..2 {
        let got = s.get(&[]).await;
        assert_eq!(got.status, 200);
        assert!(!got.aborted);
        assert_eq!(got.header("x-cache"), Some("BYPASS"));
        assert!(got.text().ends_with("\"}]"), "{}", got.text());
        assert!(got.text().contains("case-v0"));
    }
    assert_eq!(s.calls(), 2);
}

/// Found by schemathesis (tests/openapi.rs): callers that joined a fill whose body turned out
/// too large to cache waited for a handover only the leader gets, and hung until they gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_of_a_body_larger_than_an_entry_all_get_it() {
    let s = setup("60s", "max_entry_bytes = \"40 B\"").await;
    s.control.delay_ms.store(300, Ordering::SeqCst);
    let all = tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::join_all((0..8).map(|_| s.get(&[]))),
    )
    .await
    .expect("every caller is answered");
    for got in &all {
        assert_eq!(got.status, 200);
        assert!(!got.aborted);
        assert_eq!(got.header("x-cache"), Some("BYPASS"));
        assert!(got.text().contains("case-v0"), "{}", got.text());
    }
    // The leader's fill, and one request of each follower's own.
    assert!(s.calls() >= 2, "{} calls", s.calls());
}

/// `POST /cache/purge[?report=N]` on the admin listener, with `token`.
async fn purge(s: &Setup, query: &str, token: Option<&str>) -> Got {
    let mut request = Request::post(format!(
        "http://{}/cache/purge{query}",
        s.gateway.admin_addr
    ));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send_as_is(request.body(Full::<Bytes>::default()).unwrap()).await
}

#[tokio::test]
async fn purge_by_report_or_everything_on_the_admin_listener() {
    let s = setup("60s", "").await;
    let other = "/reports/10801?Format=json";
    s.get(&[]).await;
    s.get_as("test-caller", other, &[]).await;
    assert_eq!(s.calls(), 2);

    // Only with the admin token; the public listener has no such endpoint.
    assert_eq!(purge(&s, "", None).await.status, 401);
    assert_eq!(purge(&s, "", Some("wrong")).await.status, 401);
    let public = send(
        Request::post(s.gateway.url("/cache/purge"))
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await;
    assert_eq!(public.status, 404);
    assert_eq!(
        purge(&s, "?report=abc", Some(ADMIN_TOKEN)).await.status,
        400
    );
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("HIT"));

    let one = purge(&s, "?report=10800", Some(ADMIN_TOKEN)).await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["purged"], 1);
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("MISS"));
    assert_eq!(
        s.get_as("test-caller", other, &[]).await.header("x-cache"),
        Some("HIT")
    );
    assert_eq!(s.calls(), 3);

    let all = purge(&s, "", Some(ADMIN_TOKEN)).await;
    assert_eq!(all.json()["purged"], 2);
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("MISS"));
    assert_eq!(
        s.get_as("test-caller", other, &[]).await.header("x-cache"),
        Some("MISS")
    );
    assert_eq!(s.calls(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casegate_purge_calls_the_admin_listener() {
    let s = setup("60s", "").await;
    s.get(&[]).await;
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("HIT"));
    // The CLI reads the gateway's configuration; point it at the port the test bound.
    let dir = s.gateway.dir().to_owned();
    let toml = std::fs::read_to_string(dir.join("casegate.toml"))
        .unwrap()
        .replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"{}\"", s.gateway.admin_addr),
        );
    std::fs::write(dir.join("cli.toml"), toml).unwrap();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_casegate"))
                .args(args)
                .output()
                .unwrap()
        })
    };
    let config = dir.join("cli.toml").display().to_string();
    let out = run(vec![
        "purge".into(),
        "--config".into(),
        config.clone(),
        "--report".into(),
        "10800".into(),
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["purged"], 1);
    assert_eq!(s.get(&[]).await.header("x-cache"), Some("MISS"));
    let neither = run(vec!["purge".into(), "--config".into(), config])
        .await
        .unwrap();
    assert!(!neither.status.success(), "--report or --all is required");
}
