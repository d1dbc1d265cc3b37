//! The rate limiter's cost per request on the cache-hit path, where it is most of what a
//! request costs besides authentication: 1,000 distinct callers, every key warm (already in the
//! limiter), rates high enough that no check is refused.
//!
//! - `check`: one `Limiter::check` of a caller's quota (governor's GCRA on the keyed map).
//! - `hit_path`: what the limit layer does for a hit with a per-caller and a per-report quota:
//!   the plan (the caller's key digest), both checks, and the tighter state for the fields.
//!
//! The local backend answers at once, so each check future is polled once.
//!
//! `cargo bench --bench limits -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;
use std::sync::Arc;

use casegate::auth::Identity;
use casegate::limit::{CallerId, Key, LimitConfig, Limiter, Plan, Scope};
use casegate::params::ReportId;
use casegate::policy::{Grant, Policy, Rate};
use criterion::{criterion_group, criterion_main, Criterion};
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
    let limiter = Limiter::new(&LimitConfig::default());
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
    let check = |key: &Key, rate: &Rate| limiter.check(key, rate).now_or_never().unwrap();
    for key in &keys {
        check(key, &rate).unwrap();
    }
    let mut group = c.benchmark_group("limiter");
    let mut n = 0;
    group.bench_function("check/local/1k_keys", |b| {
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
        plan.requests()
            .map(|(key, rate)| check(&key, &rate).unwrap())
            .reduce(|a, b| a.tighter(b))
    };
    for id in &identities {
        spend(id);
    }
    group.bench_function("hit_path/local/1k_callers", |b| {
        b.iter(|| {
            n = (n + 1) % CALLERS;
            spend(&identities[n])
        })
    });
    // REDIS: the same two measurements against the shared backend (issue 6, item 6) go here,
    // as "check/redis/1k_keys" and "hit_path/redis/1k_callers", once that backend exists.
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
