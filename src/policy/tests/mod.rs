//! The policy end to end: `check` problems with their lines (`check.rs`), decisions
//! (`decide.rs`), and the example policy.

mod check;
mod decide;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::params::{self, GetReportQuery, Param};

/// A folder with a policy's key file, `hash-key` (32 bytes and a newline).
pub(super) struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub(super) fn new() -> Dir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hash-key"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("short-key"), "too short\n").unwrap();
        Dir { dir }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.path().join("policy.toml")
    }

    pub(super) fn parse(&self, text: &str) -> Result<Policy, Problems> {
        Policy::parse(&self.path(), text)
    }

    pub(super) fn policy(&self, text: &str) -> Policy {
        self.parse(text).unwrap_or_else(|p| panic!("{p}"))
    }
}

/// A verified caller with these claims; `iss` and `sub` are taken from them.
pub(super) fn caller(claims: Value) -> Identity {
    let Value::Object(claims) = claims else {
        panic!("claims are a JSON object")
    };
    Identity::from_claims(claims)
}

pub(super) fn query(q: &str) -> GetReportQuery {
    params::parse(Some(q), None, &params::Limits::default()).unwrap()
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/example.toml")
}

#[test]
fn the_example_policy_loads_and_decides_as_its_comments_say() {
    let policy = Policy::load(&example_path()).unwrap_or_else(|p| panic!("{p}"));
    let names: Vec<&str> = policy.grants().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["casework-leads", "analytics"]);
    let analytics = &policy.grants()[1];
    use ColumnAction as C;
    for (column, want) in [
        ("Customer.FullName", C::Drop),
        ("Customer.EmailAddress", C::Hash),
        ("customer.phone", C::Mask),
        ("CaseDetails.CaseId", C::Keep),
    ] {
        assert_eq!(analytics.columns.action(column), want, "{column}");
    }
    assert_eq!(analytics.columns.hash_key().map(HashKey::length), Some(16));
    let leads = &policy.grants()[0];
    assert_eq!(leads.columns.mode(), ColumnMode::AllowList);
    assert_eq!(leads.columns.action("Customer.EmailAddress"), C::Drop);
    assert_eq!(leads.columns.mask_with(), "[withheld]");

    let svc = caller(serde_json::json!({
        "iss": "https://idp.example.org", "sub": "svc-analytics", "azp": "analytics-exporter",
    }));
    let lead = caller(serde_json::json!({
        "iss": "https://idp.example.org", "sub": "fred", "groups": ["staff", "casework-leads"],
    }));
    let table = [
        (&svc, "ReportId=10800&Format=csv", Ok("analytics")),
        (&svc, "ReportId=10800", Err("format_not_allowed")),
        (&svc, "ReportId=10802&Format=json", Err("no_grant")),
        (
            &svc,
            "ReportId=10801&Format=json&Keywords=x",
            Err("parameter_forbidden"),
        ),
        (
            &svc,
            "ReportId=10801&Format=json&AttributeFilter3=x",
            Err("parameter_forbidden"),
        ),
        (
            &svc,
            "ReportId=10801&Format=json&Units=Today",
            Err("parameter_pinned"),
        ),
        (&lead, "ReportId=4242&Keywords=x", Ok("casework-leads")),
    ];
    for (who, q, want) in table {
        let got = match policy.decide(who, &query(q)) {
            Decision::Allow { grant, .. } => Ok(grant.name.clone()),
            Decision::Deny(d) => Err(d.code()),
        };
        assert_eq!(got, want.map(str::to_owned), "{q}");
    }
    let shown = format!("{policy:?}");
    assert!(
        shown.contains("[REDACTED]") && !shown.contains("sandbox-hash-key"),
        "{shown}"
    );
}
