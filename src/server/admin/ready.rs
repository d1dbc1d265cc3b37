//! Readiness: whether this replica can serve reports now. Each check reports its own state, so an
//! SRE sees which dependency is missing; secrets and report data never appear.
//!
//! Not ready (503) when the policy has no grants, no issuer has keys, or casegate's iCasework
//! credential can neither be used nor obtained. Redis down (the cache's or the limits') is
//! `degraded` but still ready: the gateway serves from its own cache and iCasework without it,
//! and keeps each quota's local share; so is an audit file that cannot be written (the events
//! are counted as lost meanwhile).

use std::time::Duration;

use serde_json::{json, Value};

use super::Admin;
use crate::limit::SharedStatus;
use crate::upstream::credential::Credential;

/// How long the credential check may take (a token request when none is cached).
const CREDENTIAL_CHECK: Duration = Duration::from_secs(5);

pub(super) async fn check(admin: &Admin) -> (bool, Value) {
    let grants = admin.policy.current().grants().len();
    let policy_ok = grants > 0;

    let issuers: Vec<Value> = admin
        .verifier
        .key_status()
        .into_iter()
        .map(|(issuer, loaded)| json!({ "issuer": issuer, "keys_loaded": loaded }))
        .collect();
    let keys_ok = issuers.iter().any(|i| i["keys_loaded"] == true);

    let (credential_ok, credential) = match admin.upstream.credential() {
        Credential::KeySignature(_) => (true, json!({ "ok": true, "scheme": "key_signature" })),
        Credential::OAuth(source) => {
            match tokio::time::timeout(CREDENTIAL_CHECK, source.token()).await {
                Ok(Ok(_)) => (true, json!({ "ok": true, "scheme": "oauth" })),
                Ok(Err(e)) => (
                    false,
                    json!({ "ok": false, "scheme": "oauth", "error": e.to_string() }),
                ),
                Err(_) => (
                    false,
                    json!({ "ok": false, "scheme": "oauth", "error": "the token endpoint did not answer in time" }),
                ),
            }
        }
    };

    let redis = admin
        .cache
        .as_ref()
        .and_then(|c| c.shared_status())
        .map(redis_check);
    let limits_redis = admin.limiter.shared_status().map(redis_check);
    // The audit file failing is degraded, not unready: see README, "Audit log".
    let audit_ok = crate::audit::writes_ok();
    let degraded = !audit_ok
        || [&redis, &limits_redis]
            .iter()
            .any(|check| check.as_ref().is_some_and(|r| r["ok"] == false));

    let ready = policy_ok && keys_ok && credential_ok;
    let status = match (ready, degraded) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let mut checks = json!({
        "policy": { "ok": policy_ok, "grants": grants },
        "token_keys": { "ok": keys_ok, "issuers": issuers },
        "upstream_credential": credential,
        "audit": { "ok": audit_ok },
    });
    if let Some(redis) = redis {
        checks["redis"] = redis;
    }
    if let Some(redis) = limits_redis {
        checks["limits_redis"] = redis;
    }
    (ready, json!({ "status": status, "checks": checks }))
}

/// A Redis link's check: connected, or degraded (served without it).
fn redis_check(status: SharedStatus) -> Value {
    json!({
        "ok": status.reachable,
        "state": if status.reachable { "connected" } else { "degraded" },
        "errors_total": status.errors_total,
    })
}
