//! The rate limiter's cost per request on the cache-hit path, where it is most of what a
//! request costs besides authentication: 1,000 distinct callers, every key warm (already in the
//! limiter), rates high enough that no check is refused.
//!
//! - `check`: one `Limiter::check` of a caller's quota (governor's GCRA on the keyed map).
//! - `hit_path`: what the limit layer does for a hit with a per-caller and a per-report quota:
//!   the plan (the caller's key digest), both checks (`Limiter::check_each`: with Redis, one
//!   round trip for both), and the tighter state for the fields.
//!
//! Each twice: `local` (the quotas in this process; the check future answers at once, so it is
//! polled once) and `redis` (`[limits.redis]`: the quotas in a redis-server this bench starts on
//! a free port of 127.0.0.1, without persistence; one EVALSHA round trip over loopback per
//! check, awaited on a current-thread Tokio runtime). Redis rows fail rather than report a
//! figure if any check fell back to the local share. redis-server must be on PATH (Debian:
//! `apt-get install redis-server`).
//!
//! `cargo bench --bench limits -- --warm-up-time 1 --measurement-time 3`

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use casegate::auth::Identity;
use casegate::limit::{
    CallerId, Denied, Key, LimitConfig, Limiter, Plan, Scope, SharedConfig, State,
};
use casegate::params::ReportId;
use casegate::policy::{Grant, Policy, Rate};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use futures_util::FutureExt;

const CALLERS: usize = 1_000;

fn identities() -> Vec<Identity> {
    (0..CALLERS)
        .map(|n| {
            let claims = serde_json::json!({
                "iss": "https://login.example.org/",
                "sub": format!("svc-reporting-{n:04}"),
                "org": format!("org-{}", n % 50),
            });
            let serde_json::Value::Object(claims) = claims else {
                unreachable!()
            };
            Identity::from_claims(claims)
        })
        .collect()
}

fn grant() -> Arc<Grant> {
    let text = r#"
[[grant]]
name = "reporting"
reports = "all"
who = { iss = "https://login.example.org/" }
[grant.limits]
rate = "1000000/second"
report_rate = "1000000/second"
"#;
    let policy = Policy::parse(Path::new("policy.toml"), text).unwrap();
    policy.grants()[0].clone()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter");
    let local = Limiter::new(&LimitConfig::default());
    rows(
        &mut group,
        "local",
        |key, rate| local.check(key, rate).now_or_never().unwrap(),
        |quotas| local.check_each(quotas).now_or_never().unwrap(),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = runtime.block_on(redis_server::RedisServer::start());
    let shared = {
        let _in_runtime = runtime.enter();
        Limiter::new(&LimitConfig {
            redis: Some(SharedConfig {
                connection: redis::IntoConnectionInfo::into_connection_info(redis.url()).unwrap(),
                namespace: "bench".into(),
                // The round trip is measured, not the fallback.
                operation_timeout: Duration::from_secs(1),
                replicas: 2,
            }),
            ..LimitConfig::default()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shared.shared_status().unwrap().reachable {
        assert!(
            Instant::now() < deadline,
            "the limiter did not reach redis-server"
        );
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
    }
    let fallbacks = || {
        casegate::metrics::metrics()
            .rate_limit_backend_fallbacks
            .get()
    };
    let before = fallbacks();
    rows(
        &mut group,
        "redis",
        |key, rate| runtime.block_on(shared.check(key, rate)),
        |quotas| runtime.block_on(shared.check_each(quotas)),
    );
    assert_eq!(
        fallbacks(),
        before,
        "some Redis checks fell back to the local share: the redis rows are not Redis's"
    );
    group.finish();
}

/// `check/{backend}/1k_keys` and `hit_path/{backend}/1k_callers`, with `check` spending one
/// unit of a quota in that backend and `check_each` one of each (as the limit layer does).
fn rows(
    group: &mut BenchmarkGroup<'_, WallTime>,
    backend: &str,
    check: impl Fn(&Key, &Rate) -> Result<State, Denied>,
    check_each: impl Fn(&[(Key, Rate)]) -> Result<Option<State>, Denied>,
) {
    let rate = Rate::parse("1000000/second").unwrap();
    let identities = identities();
    let keys: Vec<Key> = identities
        .iter()
        .map(|id| Key {
            scope: Scope::Caller,
            caller: CallerId::of("reporting", id, None),
            report: 0,
        })
        .collect();
    for key in &keys {
        check(key, &rate).unwrap();
    }
    let mut n = 0;
    group.bench_function(format!("check/{backend}/1k_keys"), |b| {
        b.iter(|| {
            n = (n + 1) % CALLERS;
            check(&keys[n], &rate)
        })
    });

    let grant = grant();
    let defaults = LimitConfig::default();
    let report = ReportId::new(10800).unwrap();
    let spend = |id: &Identity| {
        let plan = Plan::new(&grant, id, report, &defaults);
        let quotas: Vec<(Key, Rate)> = plan.requests().collect();
        check_each(&quotas).unwrap()
    };
    for id in &identities {
        spend(id);
    }
    group.bench_function(format!("hit_path/{backend}/1k_callers"), |b| {
        b.iter(|| {
            n = (n + 1) % CALLERS;
            spend(&identities[n])
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
