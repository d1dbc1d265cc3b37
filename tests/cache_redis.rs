//! The shared cache tier against a real redis-server: each test starts its own on a free port of
//! 127.0.0.1 (no persistence) and two or three gateways in this process, each with its own
//! in-process cache, as replicas behind a load balancer would be.
//!
//! redis-server must be installed (see `common::redis_server`): without it these tests fail,
//! they are never skipped.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use casegate::cache::ResponseCache;
use common::redis_server::RedisServer;
use common::*;
use http::Request;
use http_body_util::Full;
use redis::AsyncCommands;

/// 32 random bytes each, base64 (`openssl rand -base64 32`).
const K1: &str = "0puhPFI2XPVQ6/XDQH2icp40jyaXMmsCo8P5NyMfYhY=";
const K2: &str = "rT5CBIBXBie4WuWUUjrI/deOM8bzpxfoYBUTcomDiKM=";
const HASH_KEY: &str = "test-hash-key-0123456789abcdef0123456789abcdef";

/// Cached for a minute; the customer's name is replaced by its pseudonym.
const HASHING_POLICY: &str = r#"
[hashing]
key = { file = "hash-key" }
length = 16

[[grant]]
name = "tests"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.columns]
hash = ["Customer.FullName"]
[grant.limits]
cache_ttl = "60s"
cache_refresh = true
"#;

/// Cached for a minute, every column kept: the entries hold personal data.
const PLAIN_POLICY: &str = r#"
[[grant]]
name = "tests"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.limits]
cache_ttl = "60s"
"#;

/// Redis settings of the tests: a loaded test machine must not turn the tier off by being slow
/// (the outage test sets its own).
const STEADY: &str = "operation_timeout = \"1s\"";

/// A gateway in front of `upstream` sharing `redis`, with the encryption keys named in `keys`
/// (the first seals) and `extra` settings of `[cache.redis]`, once it has reached Redis.
async fn replica(
    upstream: &FakeUpstream,
    redis: &RedisServer,
    keys: &[&str],
    policy: &str,
    extra: &str,
) -> TestGateway {
    let gateway = start_replica(upstream, redis, keys, policy, extra).await;
    wait_until("the replica reaches Redis", || {
        shared(&gateway).shared_status().unwrap().reachable
    })
    .await;
    gateway
}

/// [`replica`], without waiting for Redis.
async fn start_replica(
    upstream: &FakeUpstream,
    redis: &RedisServer,
    keys: &[&str],
    policy: &str,
    extra: &str,
) -> TestGateway {
    let keys: Vec<String> = keys
        .iter()
        .map(|id| format!("{{ id = \"{id}\", secret = {{ file = \"{id}\" }} }}"))
        .collect();
    let toml = format!(
        "{}\n[cache.redis]\nurl = \"{}\"\nkeys = [{}]\n{extra}\n",
        config_toml(&upstream.base_url(), "", ""),
        redis.url(),
        keys.join(", ")
    );
    let files = [
        ("policy.toml", policy),
        ("hash-key", HASH_KEY),
        ("k1", K1),
        ("k2", K2),
    ];
    TestGateway::start_with_files(&toml, &files).await
}

fn shared(gateway: &TestGateway) -> &ResponseCache {
    gateway.cache.as_ref().expect("the cache is on")
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get_gzip(url: &str) -> Got {
    send(
        Request::get(url)
            .header("accept-encoding", "gzip")
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await
}

fn hits(gateway: &TestGateway) -> u64 {
    let counters = shared(gateway).shared_counters().unwrap();
    counters.hits.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_call_icasework_once_and_serve_the_same_bytes() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let a = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let b = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let path = "/reports/10800?Format=json";

    let first = get(&a.url(path)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-cache"), Some("MISS"));
    // B's own cache misses; Redis answers.
    let second = get(&b.url(path)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(upstream.getreport_requests().len(), 1);
    assert_eq!(hits(&b), 1);
    assert_eq!(first.body, second.body);
    assert_eq!(first.header("etag"), second.header("etag"));
    assert!(first.text().contains("CaseDetails.CaseId"));
    assert!(!first.text().contains("Bloggs"), "hashed: {}", first.text());
    // The gzip representation too, byte for byte, and both replicas answer from memory now.
    let (gz_a, gz_b) = (get_gzip(&a.url(path)).await, get_gzip(&b.url(path)).await);
    assert_eq!(gz_a.header("x-cache"), Some("HIT"));
    assert_eq!(gz_b.header("x-cache"), Some("HIT"));
    assert_eq!(gz_a.body, gz_b.body);
    assert_eq!(gz_a.header("etag"), gz_b.header("etag"));
    assert_eq!(gunzip(&gz_a.body), first.text());
    assert_eq!(upstream.getreport_requests().len(), 1);

    // A caller who may force a refresh (no-cache) gets one from iCasework, not Redis's copy.
    let refreshed = send(
        Request::get(b.url(path))
            .header("cache-control", "no-cache")
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_two_replicas_wait_for_one_fill() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::with(slow_on("/getreport", Duration::from_millis(500))).await;
    let a = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let b = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let path = "/reports/10800?Format=json";
    let (url_a, url_b) = (a.url(path), b.url(path));
    let (x, y) = tokio::join!(get(&url_a), get(&url_b));
    assert_eq!((x.status.as_u16(), y.status.as_u16()), (200, 200));
    assert_eq!(x.body, y.body);
    assert_eq!(x.header("etag"), y.header("etag"));
    assert_eq!(
        upstream.getreport_requests().len(),
        1,
        "the lock held the other replica back"
    );
    let waited = |g: &TestGateway| {
        let counters = shared(g).shared_counters().unwrap();
        counters.waited.load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(waited(&a) + waited(&b), 1);
    assert_eq!(hits(&a) + hits(&b), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_no_plaintext_personal_data_or_parameter_value() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let a = replica(
        &upstream,
        &redis,
        &["k1"],
        PLAIN_POLICY,
        "namespace = \"casegate-test\"\noperation_timeout = \"1s\"",
    )
    .await;
    for path in [
        "/getreport?ReportId=10800&Format=json&Keywords=Wilhelmina%20Quux",
        "/getreport?ReportId=10800&Format=csv&AttributeFilter=Marguerite",
        "/getreport?ReportId=10800",
    ] {
        let got = get(&a.url(path)).await;
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        assert!(
            got.text().contains("Bloggs, Fred"),
            "{path}: the entry holds personal data"
        );
    }
    let stored = redis.dump().await;
    assert_eq!(redis.entry_names().await.len(), 3, "{stored:?}");
    let needles: [&[u8]; 6] = [
        b"Bloggs",
        b"Fred",
        b"453781",
        b"Wilhelmina",
        b"Quux",
        b"Marguerite",
    ];
    for (name, value) in &stored {
        assert!(name.starts_with("casegate-test:v1:"), "{name}");
        for needle in needles {
            let found = |hay: &[u8]| {
                hay.windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle))
            };
            assert!(
                !found(name.as_bytes()),
                "{name} names {:?}",
                String::from_utf8_lossy(needle)
            );
            assert!(
                !found(value),
                "{name} holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
        if name.contains(":v1:entry:") {
            assert!(value.starts_with(b"cg\x01\x02k1"), "{name}: sealed with k1");
        }
    }
    // The index of report 10800 names the three entries; Redis expires them with the entries.
    let mut conn = redis.connection().await.unwrap();
    let index: Vec<String> = conn
        .zrange("casegate-test:v1:report:10800", 0, -1)
        .await
        .unwrap();
    assert_eq!(index.len(), 3);
    // 60 s fresh + 300 s stale-if-error (the defaults): kept while servable. These queries
    // use the report's default (relative) timeframe, so their entries also end at the
    // account's midnight (Europe/London): the nearer of the two bounds them.
    let now = std::time::SystemTime::now();
    let limits = casegate::params::Limits::default();
    let query = casegate::params::parse(Some("ReportId=10800"), None, &limits).unwrap();
    let midnight =
        casegate::cache::window_end(&query.canonical, now, chrono_tz::Europe::London).unwrap();
    let to_midnight = midnight.duration_since(now).unwrap_or_default().as_millis();
    let bound = 360_000.min(i64::try_from(to_midnight).unwrap());
    for name in redis.entry_names().await {
        let ttl: i64 = conn.pttl(&name).await.unwrap();
        assert!(
            ttl > bound - 60_000 && ttl <= bound + 1_000,
            "{name}: {ttl} ms, bound {bound} ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_goes_on_while_redis_is_down_and_sharing_resumes_after() {
    let mut redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let extra = "operation_timeout = \"200ms\"";
    let a = replica(&upstream, &redis, &["k1"], HASHING_POLICY, extra).await;
    let b = replica(&upstream, &redis, &["k1"], HASHING_POLICY, extra).await;
    let url = |g: &TestGateway, report: u32| g.url(&format!("/reports/{report}?Format=json"));
    assert_eq!(get(&url(&a, 10800)).await.status, 200);
    assert_eq!(get(&url(&b, 10800)).await.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 1);

    redis.stop();
    let started = Instant::now();
    let hit = get(&url(&a, 10800)).await;
    assert_eq!(
        (hit.status.as_u16(), hit.header("x-cache")),
        (200, Some("HIT"))
    );
    for (gateway, report) in [(&a, 10801), (&b, 10801), (&b, 10802), (&a, 10802)] {
        let got = get(&url(gateway, report)).await;
        assert_eq!(got.status, 200, "{}", got.text());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?} for five requests");
    // Nothing shared while Redis is away: every replica fetched for itself.
    assert_eq!(upstream.getreport_requests().len(), 5);
    for g in [&a, &b] {
        wait_until("Redis is reported unreachable", || {
            !shared(g).shared_status().unwrap().reachable
        })
        .await;
        let status = shared(g).shared_status().unwrap();
        assert!(
            status.errors_total > 0 && status.last_error_at.is_some(),
            "{status:?}"
        );
    }

    // Back on the same port: both replicas reconnect by themselves and share again.
    redis.restart().await;
    for g in [&a, &b] {
        wait_until("the replica reconnects", || {
            shared(g).shared_status().unwrap().reachable
        })
        .await;
    }
    assert_eq!(get(&url(&a, 10803)).await.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 6);
    let shared_again = get(&url(&b, 10803)).await;
    assert_eq!(shared_again.status, 200);
    assert_eq!(
        upstream.getreport_requests().len(),
        6,
        "B got A's entry from Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_an_unknown_key_is_a_miss() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let path = "/reports/10800?Format=json";
    let old = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let written = get(&old.url(path)).await;
    assert_eq!(written.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 1);

    // k2 seals from now on; k1 still opens what it sealed.
    let rotated = replica(&upstream, &redis, &["k2", "k1"], HASHING_POLICY, STEADY).await;
    let read = get(&rotated.url(path)).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, written.body);
    assert_eq!(upstream.getreport_requests().len(), 1);

    // k1 retired: its entries are misses, filled again (and sealed with k2).
    let retired = replica(&upstream, &redis, &["k2"], HASHING_POLICY, STEADY).await;
    let refetched = get(&retired.url(path)).await;
    assert_eq!(refetched.status, 200);
    assert_eq!(refetched.body, written.body);
    assert_eq!(upstream.getreport_requests().len(), 2);
    let unreadable = shared(&retired)
        .shared_counters()
        .unwrap()
        .unreadable
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(unreadable >= 1);
    let names = redis.entry_names().await;
    let mut conn = redis.connection().await.unwrap();
    let value: Vec<u8> = conn.get(&names[0]).await.unwrap();
    assert!(value.starts_with(b"cg\x01\x02k2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_the_shared_entries_too() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let a = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let b = replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    for report in [10800, 10801] {
        let got = get(&a.url(&format!("/reports/{report}?Format=json"))).await;
        assert_eq!(got.status, 200);
    }
    assert_eq!(redis.entry_names().await.len(), 2);

    assert_eq!(shared(&a).purge(Some(10800)).await, 1);
    assert_eq!(redis.entry_names().await.len(), 1);
    let mut conn = redis.connection().await.unwrap();
    assert!(!conn
        .exists::<_, bool>("casegate:v1:report:10800")
        .await
        .unwrap());
    // B finds 10801 in Redis, but must fetch 10800 again.
    assert_eq!(get(&b.url("/reports/10801?Format=json")).await.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 2);
    assert_eq!(get(&b.url("/reports/10800?Format=json")).await.status, 200);
    assert_eq!(upstream.getreport_requests().len(), 3);

    // Everything: no key of the namespace is left.
    shared(&b).purge(None).await;
    let left: Vec<String> = conn.keys("casegate:*").await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starts_and_serves_before_redis_is_there() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let upstream = FakeUpstream::start().await;
    let a = start_replica(&upstream, &redis, &["k1"], HASHING_POLICY, STEADY).await;
    let started = Instant::now();
    for report in [10800, 10801, 10800] {
        let got = get(&a.url(&format!("/reports/{report}?Format=json"))).await;
        assert_eq!(got.status, 200, "{}", got.text());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?} for three requests");
    assert_eq!(upstream.getreport_requests().len(), 2);
    assert!(!shared(&a).shared_status().unwrap().reachable);

    redis.restart().await;
    wait_until("the replica connects", || {
        shared(&a).shared_status().unwrap().reachable
    })
    .await;
    let got = get(&a.url("/reports/10802?Format=json")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        redis.entry_names().await.len(),
        1,
        "stored once Redis is there"
    );
}
