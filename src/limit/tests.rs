//! The limiter core on a fake clock: exact at the burst boundaries, refills, separate quotas,
//! keys from claims or subjects, and memory that idle keys give back.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use serde_json::{json, Value};

use super::local::Local;
use super::*;
use crate::auth::Identity;
use crate::params::ReportId;
use crate::policy::{Grant, Policy};

const HOUR: Duration = Duration::from_secs(3600);

fn rate(s: &str) -> Rate {
    Rate::parse(s).unwrap()
}

fn with_burst(s: &str, burst: u32) -> Rate {
    Rate { burst, ..rate(s) }
}

fn local(clock: &FakeRelativeClock, max_keys: usize) -> Local<FakeRelativeClock> {
    Local::new(clock.clone(), max_keys, Duration::from_secs(60))
}

fn identity(claims: Value) -> Identity {
    let Value::Object(claims) = claims else {
        panic!("claims are an object")
    };
    Identity::from_claims(claims)
}

fn caller(n: u64) -> CallerId {
    CallerId::of(
        "g",
        &identity(json!({"iss": "https://idp", "sub": format!("s{n}")})),
        None,
    )
}

fn key(scope: Scope, n: u64, report: u64) -> Key {
    Key {
        scope,
        caller: caller(n),
        report,
    }
}

fn state(limit: u32, remaining: u32, reset_secs: u64) -> State {
    State {
        limit,
        remaining,
        reset: Duration::from_secs(reset_secs),
    }
}

#[test]
fn burst_requests_pass_and_the_next_waits_exactly_one_interval() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let (k, r) = (key(Scope::Caller, 1, 0), rate("3/hour"));
    assert_eq!(limiter.check(&k, &r), Ok(state(3, 2, 1200)));
    assert_eq!(limiter.check(&k, &r), Ok(state(3, 1, 2400)));
    assert_eq!(limiter.check(&k, &r), Ok(state(3, 0, 3600)));
    let denied = limiter.check(&k, &r).unwrap_err();
    assert_eq!(denied.scope, Scope::Caller);
    assert_eq!(denied.retry_after, Duration::from_secs(1200));
    assert_eq!(denied.state, state(3, 0, 1200));
    // Refused requests spend nothing: the wait does not grow.
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        limiter.check(&k, &r).unwrap_err().retry_after,
        Duration::from_secs(600)
    );
}

#[test]
fn a_burst_above_the_rate_then_one_per_interval() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let (k, r) = (key(Scope::Caller, 1, 0), with_burst("2/minute", 5));
    for remaining in (0..5).rev() {
        assert_eq!(limiter.check(&k, &r).map(|s| s.remaining), Ok(remaining));
    }
    assert_eq!(
        limiter.check(&k, &r).unwrap_err().retry_after,
        Duration::from_secs(30)
    );
}

#[test]
fn units_come_back_at_the_rate() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let (k, r) = (key(Scope::Caller, 1, 0), rate("3/hour"));
    for _ in 0..3 {
        limiter.check(&k, &r).unwrap();
    }
    clock.advance(Duration::from_secs(1199));
    assert_eq!(
        limiter.check(&k, &r).unwrap_err().retry_after,
        Duration::from_secs(1)
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(limiter.check(&k, &r), Ok(state(3, 0, 3600)));
    assert!(limiter.check(&k, &r).is_err());
    // A whole period later the whole burst is back.
    clock.advance(HOUR);
    assert_eq!(limiter.check(&k, &r), Ok(state(3, 2, 1200)));
}

#[test]
fn keys_and_scopes_have_separate_buckets() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let r = rate("1/hour");
    // The same rate for several scopes shares one governor limiter, never one bucket.
    limiter.check(&key(Scope::Caller, 1, 0), &r).unwrap();
    assert!(limiter.check(&key(Scope::Caller, 1, 0), &r).is_err());
    limiter.check(&key(Scope::Miss, 1, 0), &r).unwrap();
    limiter.check(&key(Scope::Report, 1, 10800), &r).unwrap();
    limiter.check(&key(Scope::Report, 1, 10801), &r).unwrap();
    limiter.check(&key(Scope::Caller, 2, 0), &r).unwrap();
    assert_eq!(limiter.keys(), 5);
}

/// A grant from a policy written in TOML.
fn grant(limits: &str) -> Arc<Grant> {
    let text = format!(
        "[[grant]]\nname = \"g\"\nreports = \"all\"\nwho = {{ sub = {{ one_of = [\"a\", \"b\"] }} }}\n\
         [grant.limits]\n{limits}\n"
    );
    let policy = Policy::parse(Path::new("policy.toml"), &text).unwrap_or_else(|p| panic!("{p}"));
    policy.grants()[0].clone()
}

fn report(n: u64) -> ReportId {
    ReportId::new(n).unwrap()
}

#[test]
fn plans_take_the_grant_rates_else_the_defaults() {
    let who = identity(json!({"iss": "https://idp", "sub": "a"}));
    let none = LimitConfig::default();
    assert!(!Plan::new(&grant(""), &who, report(1), &none).is_limited());

    let defaults = LimitConfig {
        rate: Some(rate("100/minute")),
        miss_rate: Some(rate("10/minute")),
        ..LimitConfig::default()
    };
    let plan = Plan::new(
        &grant("rate = \"5/s\"\nburst = 7"),
        &who,
        report(1),
        &defaults,
    );
    assert_eq!(plan.caller.map(|(_, r)| r), Some(with_burst("5/s", 7)));
    assert_eq!(plan.report, None);
    assert_eq!(plan.miss.map(|(_, r)| r), Some(rate("10/minute")));
    let plan = Plan::new(
        &grant("report_rate = \"3/hour\""),
        &who,
        report(10800),
        &defaults,
    );
    let (report_key, report_rate) = plan.report.unwrap();
    assert_eq!(
        (report_key.scope, report_key.report),
        (Scope::Report, 10800)
    );
    assert_eq!(report_rate, rate("3/hour"));
    // The caller's total comes first, so a caller over it adds no per-report key.
    let scopes: Vec<Scope> = plan.requests().map(|(k, _)| k.scope).collect();
    assert_eq!(scopes, [Scope::Caller, Scope::Report]);
}

#[test]
fn per_report_quotas_leave_other_reports_alone() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let who = identity(json!({"iss": "https://idp", "sub": "a"}));
    let g = grant("rate = \"10/hour\"\nreport_rate = \"2/hour\"");
    let spend = |id| {
        let plan = Plan::new(&g, &who, report(id), &LimitConfig::default());
        plan.requests()
            .map(|(k, r)| limiter.check(&k, &r))
            .collect::<Result<Vec<_>, _>>()
    };
    spend(10800).unwrap();
    spend(10800).unwrap();
    assert_eq!(spend(10800).unwrap_err().scope, Scope::Report);
    // Another report has its own two; the caller's total (10) counts all of them.
    let states = spend(10801).unwrap();
    assert_eq!(states[0], state(10, 6, 4 * 360));
    assert_eq!(states[1], state(2, 1, 1800));
}

#[test]
fn hit_and_miss_quotas_are_separate() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 100);
    let who = identity(json!({"iss": "https://idp", "sub": "a"}));
    let g = grant("rate = \"3/hour\"\nmiss_rate = \"1/hour\"");
    let plan = Plan::new(&g, &who, report(1), &LimitConfig::default());
    let (caller_key, caller_rate) = plan.caller.unwrap();
    let (miss_key, miss_rate) = plan.miss.unwrap();
    assert_eq!(limiter.check(&miss_key, &miss_rate), Ok(state(1, 0, 3600)));
    assert_eq!(
        limiter.check(&miss_key, &miss_rate).unwrap_err().scope,
        Scope::Miss
    );
    // Misses spent do not touch the request quota, which hits keep spending.
    for remaining in [2, 1, 0] {
        assert_eq!(
            limiter
                .check(&caller_key, &caller_rate)
                .map(|s| s.remaining),
            Ok(remaining)
        );
    }
    assert_eq!(
        limiter.check(&caller_key, &caller_rate).unwrap_err().scope,
        Scope::Caller
    );
}

#[test]
fn callers_are_keyed_by_the_named_claim_else_the_subject() {
    let id = |claims: Value, claim| CallerId::of("g", &identity(claims), claim);
    let org = Some("org");
    // Two subjects of one organisation share; another organisation does not.
    let a = id(json!({"iss": "i", "sub": "a", "org": "acme"}), org);
    assert_eq!(a, id(json!({"iss": "i", "sub": "b", "org": "acme"}), org));
    assert_ne!(a, id(json!({"iss": "i", "sub": "a", "org": "other"}), org));
    // Numbers and booleans count as their JSON text; nothing else does.
    assert_eq!(
        id(json!({"iss": "i", "sub": "a", "org": 42}), org),
        id(json!({"iss": "i", "sub": "b", "org": "42"}), org)
    );
    // A missing, empty, null or array claim falls back to the subject.
    let by_sub = id(json!({"iss": "i", "sub": "a"}), None);
    for claims in [
        json!({"iss": "i", "sub": "a"}),
        json!({"iss": "i", "sub": "a", "org": ""}),
        json!({"iss": "i", "sub": "a", "org": null}),
        json!({"iss": "i", "sub": "a", "org": ["acme"]}),
    ] {
        assert_eq!(id(claims, org), by_sub);
    }
    // A claim value equal to some subject is still another caller.
    assert_ne!(id(json!({"iss": "i", "sub": "x", "org": "a"}), org), by_sub);
    // The issuer and the grant are part of the key.
    assert_ne!(by_sub, id(json!({"iss": "j", "sub": "a"}), None));
    assert_ne!(
        by_sub,
        CallerId::of("h", &identity(json!({"iss": "i", "sub": "a"})), None)
    );
    let shown = format!(
        "{:?}",
        id(json!({"iss": "i", "sub": "svc-analytics"}), None)
    );
    assert!(!shown.contains("svc"), "{shown}");
}

#[test]
fn idle_keys_are_swept_so_many_callers_do_not_grow_memory() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 200_000);
    let (fast, slow) = (rate("10/s"), rate("3/hour"));
    for n in 0..100_000 {
        let r = if n % 2 == 0 { &fast } else { &slow };
        limiter.check(&key(Scope::Caller, n, 0), r).unwrap();
    }
    assert_eq!(limiter.keys(), 100_000);
    assert_eq!(limiter.sweep(), 100_000, "nothing is idle yet");
    // The fast keys' buckets are full again after a second and an interval; the slow keys'
    // after twenty minutes and an interval.
    clock.advance(Duration::from_millis(1100));
    assert_eq!(limiter.sweep(), 50_000);
    clock.advance(Duration::from_secs(2400));
    assert_eq!(limiter.sweep(), 0);
    // A swept key starts again with a full bucket.
    assert_eq!(
        limiter.check(&key(Scope::Caller, 1, 0), &slow),
        Ok(state(3, 2, 1200))
    );
}

#[test]
fn a_full_limiter_refuses_new_keys_and_keeps_serving_known_ones() {
    let clock = FakeRelativeClock::default();
    let limiter = local(&clock, 10);
    let r = rate("5/minute");
    for n in 0..10 {
        limiter.check(&key(Scope::Caller, n, 0), &r).unwrap();
    }
    assert!(limiter.is_full());
    let denied = limiter.check(&key(Scope::Caller, 99, 0), &r).unwrap_err();
    assert_eq!(denied.scope, Scope::Capacity);
    assert_eq!(denied.retry_after, Duration::from_secs(60));
    assert_eq!(
        limiter
            .check(&key(Scope::Caller, 3, 0), &r)
            .map(|s| s.remaining),
        Ok(3)
    );
    // Once keys go idle and are swept, new callers get in again.
    clock.advance(Duration::from_secs(120));
    assert_eq!(limiter.sweep(), 0);
    assert!(limiter.check(&key(Scope::Caller, 99, 0), &r).is_ok());
}

#[test]
fn the_tighter_state_is_the_one_shown() {
    let a = state(10, 4, 60);
    let b = state(3, 1, 1200);
    assert_eq!(a.tighter(b), b);
    assert_eq!(b.tighter(a), b);
    // Equal remaining: the later reset.
    assert_eq!(state(5, 1, 10).tighter(state(3, 1, 20)), state(3, 1, 20));
}
