//! Decisions: default deny, first applying grant wins, formats, forbidden and pinned parameters,
//! the problem response, and a property check of first-match-wins.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::error::Error;

/// Grants in an order that shows first-match-wins: "narrow" comes before "broad-a", both for
/// sub "a"; "group" matches on an array claim; "level" on a number; "admins" on a boolean.
const ORDERED: &str = r#"
[[grant]]
name = "narrow"
reports = [1]
formats = ["json"]
who = { iss = "https://idp", sub = "a" }

[[grant]]
name = "broad-a"
reports = "all"
formats = ["csv", "json"]
who = { iss = "https://idp", sub = "a" }

[[grant]]
name = "group"
reports = [1, 2]
who = { groups = { contains = "g" } }

[[grant]]
name = "level"
reports = [3]
who = { level = { one_of = [2, 3] } }

[[grant]]
name = "admins"
reports = [4]
who = { admin = true, iss = { one_of = ["https://idp", "https://idp2"] } }
"#;

/// The grant that decided, or the denial's code and the grant that refused.
fn outcome(policy: &Policy, claims: Value, q: &str) -> (String, Option<String>) {
    match policy.decide(&caller(claims), &query(q)) {
        Decision::Allow { grant, .. } => ("allow".into(), Some(grant.name.clone())),
        Decision::Deny(d) => (d.code().into(), d.grant.map(|g| g.name.clone())),
    }
}

#[test]
fn the_first_applying_grant_decides() {
    let dir = Dir::new();
    let policy = dir.policy(ORDERED);
    #[rustfmt::skip]
    let table: &[(Value, &str, &str, Option<&str>)] = &[
        (json!({"iss": "https://idp", "sub": "a"}), "ReportId=1&Format=json", "allow", Some("narrow")),
        // "narrow" applies and refuses csv; "broad-a" would allow it but is not consulted.
        (json!({"iss": "https://idp", "sub": "a"}), "ReportId=1&Format=csv", "format_not_allowed", Some("narrow")),
        // "narrow" does not cover report 2: skipped, "broad-a" decides.
        (json!({"iss": "https://idp", "sub": "a"}), "ReportId=2&Format=csv", "allow", Some("broad-a")),
        (json!({"iss": "https://idp", "sub": "a"}), "ReportId=2", "format_not_allowed", Some("broad-a")),
        // Another issuer: neither sub-"a" grant matches.
        (json!({"iss": "https://evil", "sub": "a"}), "ReportId=2&Format=csv", "no_grant", None),
        (json!({"sub": "b", "groups": ["x", "g"]}), "ReportId=2", "allow", Some("group")),
        (json!({"sub": "b", "groups": "g"}), "ReportId=2", "no_grant", None),
        (json!({"sub": "b", "groups": []}), "ReportId=2", "no_grant", None),
        (json!({"sub": "a", "iss": "https://idp", "groups": ["g"]}), "ReportId=1&Format=xml", "format_not_allowed", Some("narrow")),
        (json!({"level": 3}), "ReportId=3", "allow", Some("level")),
        (json!({"level": 3.0}), "ReportId=3", "allow", Some("level")),
        (json!({"level": "3"}), "ReportId=3", "no_grant", None),
        (json!({"level": 4}), "ReportId=3", "no_grant", None),
        (json!({"iss": "https://idp2", "admin": true}), "ReportId=4", "allow", Some("admins")),
        (json!({"iss": "https://idp2", "admin": "true"}), "ReportId=4", "no_grant", None),
        (json!({"iss": "https://idp2", "admin": false}), "ReportId=4", "no_grant", None),
        (json!({"iss": "https://idp2"}), "ReportId=4", "no_grant", None),
        (json!({}), "ReportId=1", "no_grant", None),
    ];
    for (claims, q, code, grant) in table {
        let got = outcome(&policy, claims.clone(), q);
        assert_eq!(
            got,
            ((*code).into(), grant.map(str::to_owned)),
            "{claims} {q}"
        );
    }
}

#[test]
fn default_deny_tells_what_to_do_and_nothing_else() {
    let dir = Dir::new();
    let policy = dir.policy(ORDERED);
    let who = caller(json!({"iss": "https://idp", "sub": "zed"}));
    let Decision::Deny(denial) = policy.decide(&who, &query("ReportId=10800")) else {
        panic!("allowed")
    };
    assert_eq!(denial.reason, DenyReason::NoGrant);
    assert_eq!(denial.code(), "no_grant");
    assert_eq!(
        denial.detail(),
        "no grant allows this caller to read report 10800; ask the gateway's operators for access"
    );
    let considered: Vec<(&str, &str)> = denial
        .considered
        .iter()
        .map(|(g, why)| (g.as_str(), why.as_str()))
        .collect();
    assert_eq!(
        considered,
        [
            (
                "narrow",
                "who does not match: claim sub does not equal \"a\""
            ),
            (
                "broad-a",
                "who does not match: claim sub does not equal \"a\""
            ),
            ("group", "who does not match: claim groups is missing"),
            ("level", "who does not match: claim level is missing"),
            ("admins", "who does not match: claim admin is missing"),
        ]
    );
    // A grant whose who matches but whose reports do not cover the report.
    let who = caller(json!({"level": 2}));
    let Decision::Deny(denial) = policy.decide(&who, &query("ReportId=9")) else {
        panic!("allowed")
    };
    assert_eq!(denial.considered[3].1, "does not cover report 9");
    assert!(!denial.detail().contains("level") && !denial.detail().contains('3'));
}

const TERMS: &str = r#"
[[grant]]
name = "terms"
reports = [7]
formats = ["csv", "json"]
who = { sub = "a" }

[grant.parameters]
forbid = ["Keywords", "attributefilter*", "Compression"]
pin = { units = "previous MONTH", Multiples = 5, CSVDelimitor = ";", FromTime = "2024-01-01T10:00:00.5" }
"#;

/// The canonical query sent upstream, or the denial's code and parameter.
type Outcome = Result<&'static str, (&'static str, Param)>;

#[test]
fn forbidden_and_pinned_parameters() {
    let dir = Dir::new();
    let policy = dir.policy(TERMS);
    let who = caller(json!({"sub": "a"}));
    #[rustfmt::skip]
    let table: &[(&str, Outcome)] = &[
        ("ReportId=7&Format=csv",
         Ok("CSVDelimitor=%3B&Format=csv&FromTime=2024-01-01%2010%3A00%3A00&Multiples=5&ReportId=7&Units=Previous%20month")),
        // The caller's own spelling of a pinned value is fine once normalised.
        ("ReportId=7&Format=csv&Units=Previous+month&Multiples=005&csvdelimitor=%3B&FromTime=2024-01-01+10:00:00&From=2024-01-01",
         Ok("CSVDelimitor=%3B&Format=csv&From=2024-01-01&FromTime=2024-01-01%2010%3A00%3A00&Multiples=5&ReportId=7&Units=Previous%20month")),
        ("ReportId=7&Format=csv&Keywords=x", Err(("parameter_forbidden", Param::Keywords))),
        ("ReportId=7&Format=csv&AttributeFilter2=x", Err(("parameter_forbidden", Param::AttributeFilter2))),
        ("ReportId=7&Format=csv&Compression=gzip", Err(("parameter_forbidden", Param::Compression))),
        ("ReportId=7&Format=csv&Units=Today", Err(("parameter_pinned", Param::Units))),
        ("ReportId=7&Format=csv&Multiples=6", Err(("parameter_pinned", Param::Multiples))),
        ("ReportId=7&Format=csv&CSVDelimitor=,", Ok("CSVDelimitor=%3B&Format=csv&FromTime=2024-01-01%2010%3A00%3A00&Multiples=5&ReportId=7&Units=Previous%20month")),
        ("ReportId=7&Format=csv&CSVDelimitor=|", Err(("parameter_pinned", Param::CsvDelimitor))),
        // Forbidden parameters are checked before pins.
        ("ReportId=7&Format=csv&Units=Today&Keywords=x", Err(("parameter_forbidden", Param::Keywords))),
        // The format before either.
        ("ReportId=7&Keywords=x", Err(("format_not_allowed", Param::Format))),
    ];
    for (q, want) in table {
        match (policy.decide(&who, &query(q)), want) {
            (Decision::Allow { query, grant }, Ok(canonical)) => {
                let mut out = String::new();
                query.canonical.write_query(&mut out);
                assert_eq!(out, *canonical, "{q}");
                assert_eq!(grant.name, "terms");
            }
            (Decision::Deny(d), Err((code, param))) => {
                assert_eq!(d.code(), *code, "{q}");
                if d.reason != DenyReason::FormatNotAllowed(params::Format::Xml) {
                    assert_eq!(d.parameter(), Some(*param), "{q}");
                    assert!(
                        d.detail().starts_with(&format!("{param} "))
                            || d.detail().contains(&format!(" {param} ")),
                        "{q}: {}",
                        d.detail()
                    );
                }
                assert_eq!(d.grant.map(|g| g.name.clone()).as_deref(), Some("terms"));
            }
            (got, want) => panic!("{q}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn denials_become_403_problems() {
    let dir = Dir::new();
    let policy = dir.policy(TERMS);
    let who = caller(json!({"sub": "a"}));
    #[rustfmt::skip]
    let table: &[(&str, &str, Option<&str>, &str)] = &[
        ("ReportId=8", "no_grant", None, "no grant allows this caller to read report 8; ask the gateway's operators for access"),
        ("ReportId=7", "format_not_allowed", None, "this caller may not read report 7 as xml; ask for Format csv or json"),
        ("ReportId=7&Format=json&Keywords=x", "parameter_forbidden", Some("Keywords"), "this caller may not send Keywords for report 7; remove it and try again"),
        ("ReportId=7&Format=json&Units=Today", "parameter_pinned", Some("Units"), "Units is fixed for this caller by the gateway's policy; leave it out (the gateway sets it) and try again"),
    ];
    for (q, code, parameter, detail) in table {
        let Decision::Deny(denial) = policy.decide(&who, &query(q)) else {
            panic!("{q}: allowed")
        };
        let response = Error::from(denial).into_response("req-1");
        assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            response.into_body(),
        ))
        .unwrap()
        .unwrap()
        .to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], 403);
        assert_eq!(body["code"], *code);
        assert_eq!(body["type"], format!("urn:casegate:problem:{code}"));
        assert_eq!(body["detail"], *detail);
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body.get("parameter").and_then(Value::as_str), *parameter);
        assert!(
            !body.to_string().contains("terms"),
            "no grant names: {body}"
        );
    }
}

#[test]
fn explain_names_every_grant_tried_and_the_terms() {
    let dir = Dir::new();
    let policy = dir.policy(ORDERED);
    let who = caller(json!({"iss": "https://idp", "sub": "a", "email": "fred@example.org"}));
    let text = policy.explain(&who, &query("ReportId=2&Format=csv&Keywords=Fred"));
    for want in [
        "decision: ALLOWED by grant \"broad-a\" (line 8)",
        "  - \"narrow\": does not cover report 2",
        "  - \"broad-a\": applies and decides",
        "other parameters: Keywords",
        "claims present: email, iss, sub",
        "columns: every column is kept as it is",
        "limits: rate the gateway's default; per report the gateway's default; to iCasework the \
         gateway's default; quotas per caller by subject; cache TTL the gateway's default",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains("Fred") && !text.contains("fred@"), "{text}");
    // The free function works from the decision alone.
    let q = query("ReportId=2&Format=csv");
    let decision = policy.decide(&who, &q);
    let text = explain(&who, &q, &decision);
    assert!(
        text.contains("grants before the deciding one, if any, did not apply"),
        "{text}"
    );
}

/// A small grant for the property: `who` on `sub`, some of reports 1 to 3 (or all), formats.
fn arb_grant() -> impl Strategy<Value = (u8, Option<Vec<u64>>, Vec<params::Format>)> {
    use params::Format::{Csv, Json, Xml};
    (
        0u8..3,
        proptest::option::of(proptest::sample::subsequence(vec![1u64, 2, 3], 1..=3)),
        proptest::sample::subsequence(vec![Xml, Json, Csv], 1..=3),
    )
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]
    #[test]
    fn the_decision_is_the_first_applying_grants(
        grants in proptest::collection::vec(arb_grant(), 0..6),
        sub in 0u8..4,
        report in 1u64..5,
        format in proptest::sample::select(vec!["xml", "json", "csv"]),
    ) {
        let grants: Vec<Arc<Grant>> = grants
            .iter()
            .enumerate()
            .map(|(i, (who, reports, formats))| Arc::new(Grant {
                name: format!("g{i}"),
                description: None,
                line: i + 1,
                who: Who::new(vec![ClaimMatcher {
                    claim: "sub".into(),
                    matcher: Matcher::Equals(ClaimValue::String(format!("s{who}"))),
                }]),
                reports: match reports {
                    None => Reports::All,
                    Some(ids) => Reports::Only(ids.iter().filter_map(|&n| ReportId::new(n)).collect()),
                },
                formats: formats.clone(),
                columns: ColumnRules::default(),
                parameters: ParameterRules::default(),
                limits: Limits::default(),
            }))
            .collect();
        let policy = Policy { grants: grants.clone(), hash_key: None };
        let who = caller(json!({"sub": format!("s{sub}")}));
        let q = query(&format!("ReportId={report}&Format={format}"));
        let id = q.canonical.report_id();
        // The definition, written plainly.
        let first = grants
            .iter()
            .find(|g| g.who.matches(&who) && g.reports.covers(id));
        match (policy.decide(&who, &q), first) {
            (Decision::Allow { grant, query }, Some(first)) => {
                prop_assert!(Arc::ptr_eq(&grant, first));
                prop_assert!(first.formats.contains(&q.canonical.format()));
                prop_assert_eq!(query, q);
            }
            (Decision::Deny(d), Some(first)) => {
                prop_assert_eq!(d.reason, DenyReason::FormatNotAllowed(q.canonical.format()));
                prop_assert!(d.grant.is_some_and(|g| Arc::ptr_eq(&g, first)));
                prop_assert!(!first.formats.contains(&q.canonical.format()));
                prop_assert!(d.considered.iter().all(|(_, why)| why != "applies"));
            }
            (Decision::Deny(d), None) => {
                prop_assert_eq!(d.reason, DenyReason::NoGrant);
                prop_assert_eq!(d.considered.len(), grants.len());
            }
            (Decision::Allow { .. }, None) => prop_assert!(false, "allowed without a grant"),
        }
    }
}
