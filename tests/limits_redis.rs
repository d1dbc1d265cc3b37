//! Quotas shared by replicas through a real redis-server (`[limits.redis]`): each test starts its
//! own on a free port of 127.0.0.1, and two real `casegate serve` processes sharing it, as two
//! replicas behind a load balancer would (each process has its own limiter state; only Redis
//! joins them). The Lua GCRA itself is tested through `Limiter` in this process.
//!
//! redis-server must be installed (see `common::redis_server`): without it these tests fail,
//! they are never skipped. Rates are per hour, so nothing refills during a test.

mod common;

use std::time::{Duration, Instant};

use casegate::auth::Identity;
use casegate::limit::{CallerId, Key, LimitConfig, Limiter, Scope, SharedConfig};
use casegate::policy::Rate;
use common::redis_server::RedisServer;
use common::replica::GatewayProcess;
use common::*;
use redis::AsyncCommands;

/// Ten requests an hour for the test caller, in bursts of up to ten.
const METERED: &str = r#"
[[grant]]
name = "tests"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.limits]
rate = "10/hour"
"#;

const FALLBACKS: &str = "casegate_rate_limit_backend_fallbacks_total";
const SHARED: &str = "casegate_rate_limit_shared";

/// `[limits.redis]` for two replicas. A loaded test machine must not turn sharing off by being
/// slow, hence the long operation timeout.
fn limits_redis(redis: &RedisServer) -> String {
    format!(
        "[limits.redis]\nurl = \"{}\"\nreplicas = 2\noperation_timeout = \"2s\"\n",
        redis.url()
    )
}

/// Two replicas in front of `upstream` with `policy`, sharing quotas through `redis`, once
/// both answer from Redis.
async fn replicas(
    dir: &tempfile::TempDir,
    upstream: &FakeUpstream,
    redis: &RedisServer,
    upstream_extra: &str,
    policy: &str,
) -> (GatewayProcess, GatewayProcess) {
    for (name, content) in [
        ("api-key", API_KEY),
        ("secret-key", SECRET_KEY),
        ("caller-hmac", CALLER_SECRET),
        ("policy.toml", policy),
        ("admin-token", ADMIN_TOKEN),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let toml = format!(
        "{}\n{}",
        config_toml(&upstream.base_url(), upstream_extra, ""),
        limits_redis(redis)
    );
    let a = GatewayProcess::start(dir.path(), "a", &toml).await;
    let b = GatewayProcess::start(dir.path(), "b", &toml).await;
    a.wait_for_metric(SHARED, 1.0).await;
    b.wait_for_metric(SHARED, 1.0).await;
    (a, b)
}

/// Sends `n` requests to each of `a` and `b`, alternating; returns the statuses in order.
async fn alternate(a: &GatewayProcess, b: &GatewayProcess, n: usize, path: &str) -> Vec<Got> {
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(a.get(path).await);
        got.push(b.get(path).await);
    }
    got
}

fn count(got: &[Got], status: u16) -> usize {
    got.iter().filter(|g| g.status == status).count()
}

const PATH: &str = "/getreport?ReportId=10800&Format=json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_admit_a_quota_once_fall_back_to_their_shares_and_share_again() {
    let mut redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = replicas(&dir, &upstream, &redis, "", METERED).await;

    // Shared: ten between the two, not ten each.
    let got = alternate(&a, &b, 10, PATH).await;
    assert_eq!(count(&got, 200), 10, "statuses: {:?}", statuses(&got));
    assert_eq!(count(&got, 429), 10);
    assert!(got[..10].iter().all(|g| g.status == 200), "the first ten");
    assert_eq!(got[0].header("ratelimit-limit"), Some("10"));
    assert_eq!(got[0].header("ratelimit-remaining"), Some("9"));
    // The second replica sees what the first spent.
    assert_eq!(got[1].header("ratelimit-remaining"), Some("8"));
    assert_eq!(got[9].header("ratelimit-remaining"), Some("0"));
    for refused in &got[10..] {
        let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        // One unit comes back every 360 s.
        assert!((350..=360).contains(&retry), "Retry-After {retry}");
        assert_eq!(
            refused.header("ratelimit-reset"),
            refused.header("retry-after")
        );
        assert_eq!(refused.json()["code"], "rate_limited");
    }
    assert_eq!(a.metric(FALLBACKS).await, Some(0.0));
    assert_eq!(b.metric(FALLBACKS).await, Some(0.0));
    // Redis holds the caller's digest, never its subject, and forgets it once the bucket is full.
    let mut conn = redis.connection().await.unwrap();
    let names: Vec<String> = conn.keys("*").await.unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    assert!(name.starts_with("casegate:limit:v1:caller:"), "{name}");
    assert!(
        !name.contains("test-caller") && !name.contains("tests"),
        "{name}"
    );
    let digest = name.split(':').nth(4).unwrap().to_owned();
    assert_eq!(digest.len(), 32, "{name}");
    let ttl: i64 = conn.pttl(name).await.unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "PTTL {ttl}");

    // Redis stops: each replica admits its share, 10 / 2, and counts every local answer.
    redis.stop();
    let from_a: Vec<Got> = futures_util::future::join_all((0..10).map(|_| a.get(PATH))).await;
    let from_b: Vec<Got> = futures_util::future::join_all((0..10).map(|_| b.get(PATH))).await;
    for got in [&from_a, &from_b] {
        assert_eq!(count(got, 200), 5, "statuses: {:?}", statuses(got));
        assert_eq!(count(got, 429), 5);
        assert!(got.iter().all(|g| g.header("ratelimit-limit") == Some("5")));
    }
    for replica in [&a, &b] {
        assert_eq!(replica.metric(FALLBACKS).await, Some(10.0));
        assert_eq!(replica.metric(SHARED).await, Some(0.0));
        let (status, ready) = replica.ready().await;
        assert_eq!(status, 200, "degraded is still ready: {ready}");
        assert_eq!(ready["status"], "degraded", "{ready}");
        assert_eq!(
            ready["checks"]["limits_redis"]["state"], "degraded",
            "{ready}"
        );
    }

    // Redis is back (empty): both find it by themselves and the quota is exact again.
    redis.restart().await;
    a.wait_for_metric(SHARED, 1.0).await;
    b.wait_for_metric(SHARED, 1.0).await;
    let got = alternate(&a, &b, 10, PATH).await;
    assert_eq!(count(&got, 200), 10, "statuses: {:?}", statuses(&got));
    assert_eq!(count(&got, 429), 10);
    for replica in [&a, &b] {
        assert_eq!(replica.metric(FALLBACKS).await, Some(10.0), "shared again");
        let (_, ready) = replica.ready().await;
        assert_eq!(ready["status"], "ready", "{ready}");
        assert_eq!(ready["checks"]["limits_redis"]["state"], "connected");
    }

    // The outage was logged, without the caller or its digest (outside the audit events, whose
    // job is to name the caller).
    for replica in [&a, &b] {
        let log = replica
            .log()
            .lines()
            .filter(|l| !l.contains("\"target\":\"audit\""))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            log.contains("rate limits are answered from this replica's share"),
            "{log}"
        );
        assert!(
            !log.contains("test-caller") && !log.contains(&digest),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_icasework_the_global_rate_once() {
    let redis = RedisServer::start().await;
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Three requests an hour to iCasework across the replicas; the tests' policy caches
    // nothing, so every admitted request reaches it.
    let protection = "[upstream.protection]\nrate = \"3/hour\"\nqueue_timeout = \"1s\"\n";
    let (a, b) = replicas(&dir, &upstream, &redis, protection, POLICY).await;

    let got = alternate(&a, &b, 4, PATH).await;
    assert_eq!(count(&got, 200), 3, "statuses: {:?}", statuses(&got));
    assert_eq!(count(&got, 503), 5);
    assert_eq!(upstream.getreport_requests().len(), 3);
    let mut conn = redis.connection().await.unwrap();
    let names: Vec<String> = conn.keys("*").await.unwrap();
    assert_eq!(names, ["casegate:limit:v1:upstream:1200000000us3"]);
}

fn statuses(got: &[Got]) -> Vec<u16> {
    got.iter().map(|g| g.status.as_u16()).collect()
}

/// A limiter keeping its quotas in `redis`, once it answers from there.
async fn shared_limiter(redis: &RedisServer) -> Limiter {
    let config = LimitConfig {
        redis: Some(SharedConfig {
            connection: redis::IntoConnectionInfo::into_connection_info(redis.url()).unwrap(),
            namespace: "gcra-test".into(),
            operation_timeout: Duration::from_secs(2),
            replicas: 2,
        }),
        ..LimitConfig::default()
    };
    let limiter = Limiter::new(&config);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !limiter.shared_status().unwrap().reachable {
        assert!(Instant::now() < deadline, "the limiter did not reach Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    limiter
}

fn key(sub: &str, scope: Scope, report: u64) -> Key {
    let serde_json::Value::Object(claims) = serde_json::json!({"iss": "i", "sub": sub}) else {
        unreachable!()
    };
    Key {
        scope,
        caller: CallerId::of("g", &Identity::from_claims(claims), None),
        report,
    }
}

#[tokio::test]
async fn the_lua_gcra_admits_the_burst_then_refuses_until_the_next_unit() {
    let redis = RedisServer::start().await;
    let limiter = shared_limiter(&redis).await;
    let hourly = Rate::parse("3/hour").unwrap();
    let caller = key("a", Scope::Caller, 0);
    let interval = Duration::from_secs(1200);
    let near = |got: Duration, want: Duration| want - Duration::from_secs(5) < got && got <= want;

    // The burst: three at once, each leaving one less and a reset one interval further.
    for spent in 1..=3u32 {
        let state = limiter.check(&caller, &hourly).await.unwrap();
        assert_eq!((state.limit, state.remaining), (3, 3 - spent));
        assert!(near(state.reset, interval * spent), "{state:?}");
    }
    // The fourth waits one interval, and Reset says the same.
    let denied = limiter.check(&caller, &hourly).await.unwrap_err();
    assert_eq!(denied.scope, Scope::Caller);
    assert!(near(denied.retry_after, interval), "{denied:?}");
    assert_eq!(denied.state.remaining, 0);
    assert_eq!(denied.state.reset, denied.retry_after);
    // A refusal spends nothing: the wait does not grow.
    let again = limiter.check(&caller, &hourly).await.unwrap_err();
    assert!(again.retry_after <= denied.retry_after, "{again:?}");

    // Other keys (another caller, a per-report quota, another rate) have their own buckets.
    let other = key("b", Scope::Caller, 0);
    assert_eq!(limiter.check(&other, &hourly).await.unwrap().remaining, 2);
    let report = key("a", Scope::Report, 10800);
    assert_eq!(limiter.check(&report, &hourly).await.unwrap().remaining, 2);
    let daily = Rate::parse("5/day").unwrap();
    assert_eq!(limiter.check(&caller, &daily).await.unwrap().remaining, 4);

    // A faster rate refills: two at once, then one again after the Retry-After it was told.
    let fast = Rate {
        requests: 1,
        per: Duration::from_secs(2),
        burst: 2,
    };
    let quick = key("c", Scope::Miss, 0);
    limiter.check(&quick, &fast).await.unwrap();
    limiter.check(&quick, &fast).await.unwrap();
    let wait = limiter.check(&quick, &fast).await.unwrap_err().retry_after;
    assert!(wait <= Duration::from_secs(2), "{wait:?}");
    tokio::time::sleep(wait).await;
    assert_eq!(limiter.check(&quick, &fast).await.unwrap().remaining, 0);
    assert!(limiter.check(&quick, &fast).await.is_err());

    // Keys are namespaced, hold digests, and expire when their bucket is full again.
    let mut conn = redis.connection().await.unwrap();
    let mut names: Vec<String> = conn.keys("*").await.unwrap();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("gcra-test:limit:v1:")));
    assert!(names
        .iter()
        .any(|n| n.contains(":report:") && n.contains(":10800:")));
    for name in &names {
        let ttl: i64 = conn.pttl(name).await.unwrap();
        assert!(ttl > 0, "{name} has no TTL");
    }
}

#[tokio::test]
async fn without_redis_a_limiter_answers_from_its_share_and_counts_it() {
    let mut redis = RedisServer::start().await;
    let limiter = shared_limiter(&redis).await;
    redis.stop();
    let before = casegate::metrics::metrics()
        .rate_limit_backend_fallbacks
        .get();
    let hourly = Rate::parse("7/hour").unwrap();
    let caller = key("d", Scope::Caller, 0);
    // Two replicas: 7 / 2 rounded down, every 1028 s (two intervals of the whole quota).
    for remaining in (0..3).rev() {
        let state = limiter.check(&caller, &hourly).await.unwrap();
        assert_eq!((state.limit, state.remaining), (3, remaining));
    }
    let denied = limiter.check(&caller, &hourly).await.unwrap_err();
    let share_interval = Duration::from_secs(3600 * 2) / 7;
    assert!(denied.retry_after <= share_interval, "{denied:?}");
    assert!(denied.retry_after > share_interval - Duration::from_secs(5));
    let after = casegate::metrics::metrics()
        .rate_limit_backend_fallbacks
        .get();
    assert!(after - before >= 4, "{before} -> {after}");
    assert!(!limiter.shared_status().unwrap().reachable);
}

/// How many EVALSHA commands `redis` has run.
async fn evalsha_calls(redis: &RedisServer) -> u64 {
    let mut conn = redis.connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn a_requests_quotas_are_spent_in_one_round_trip_up_to_the_first_refusal() {
    let redis = RedisServer::start().await;
    let limiter = shared_limiter(&redis).await;
    let caller = (key("e", Scope::Caller, 0), Rate::parse("5/hour").unwrap());
    let report = (key("e", Scope::Report, 7), Rate::parse("1/hour").unwrap());
    // The script is loaded by the first call (NOSCRIPT, SCRIPT LOAD, EVALSHA again).
    limiter
        .check(&key("warm", Scope::Caller, 0), &caller.1)
        .await
        .unwrap();

    let before = evalsha_calls(&redis).await;
    let shown = limiter
        .check_each(&[caller, report])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(evalsha_calls(&redis).await - before, 1, "one round trip");
    // The tighter of the two: the report's, with nothing left.
    assert_eq!((shown.limit, shown.remaining), (1, 0));

    let denied = limiter.check_each(&[caller, report]).await.unwrap_err();
    assert_eq!(denied.scope, Scope::Report);
    let hour = Duration::from_secs(3600);
    assert!(denied.retry_after <= hour && denied.retry_after > hour - Duration::from_secs(5));
    // The caller's quota was spent by both requests (a quota refusing later does not give
    // back the ones before it), the report's only by the first.
    let state = limiter.check(&caller.0, &caller.1).await.unwrap();
    assert_eq!(state.remaining, 2, "5 - 3");
    // The caller refusing first leaves the report's quota untouched.
    let tight = (key("f", Scope::Caller, 0), Rate::parse("1/hour").unwrap());
    let its_report = (key("f", Scope::Report, 7), Rate::parse("3/hour").unwrap());
    limiter.check(&tight.0, &tight.1).await.unwrap();
    let denied = limiter.check_each(&[tight, its_report]).await.unwrap_err();
    assert_eq!(denied.scope, Scope::Caller);
    let mut conn = redis.connection().await.unwrap();
    let names: Vec<String> = conn.keys("gcra-test:limit:v1:report:*").await.unwrap();
    assert_eq!(names.len(), 1, "only e's report key: {names:?}");
}
