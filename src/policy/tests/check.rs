//! `casegate check`: every problem a policy can have, each reported with its line.

use super::*;

/// Runs `text` and returns each problem's line and message.
fn problems(text: &str) -> Vec<(usize, String)> {
    let dir = Dir::new();
    match dir.parse(text) {
        Ok(_) => Vec::new(),
        Err(problems) => {
            for p in problems.iter() {
                assert!(p.file.ends_with("policy.toml"), "{p}");
            }
            problems
                .iter()
                .map(|p| (p.line, p.message.clone()))
                .collect()
        }
    }
}

/// A case's name, its policy, and the problems as (line, part of the message).
type Case = (&'static str, &'static str, &'static [(usize, &'static str)]);

/// Each case: a policy and the problems it must report as (line, part of the message). Problems
/// are reported in line order; within a line, in the order listed here. Lines count from the
/// first line of the text.
#[rustfmt::skip]
const CASES: &[Case] = &[
    ("unknown top-level key",
"[[grant]]
name = \"a\"
reports = \"all\"
who = { sub = \"a\" }
[hashes]
", &[(5, "unknown field `hashes`")]),
    ("unknown grant key",
"[[grant]]
name = \"a\"
report = [1]
", &[(3, "unknown field `report`")]),
    ("unknown columns key",
"[[grant]]
name = \"a\"
reports = \"all\"
who = { sub = \"a\" }
[grant.columns]
redact = [\"x\"]
", &[(6, "unknown field `redact`")]),
    ("unknown matcher key",
"[[grant]]
name = \"a\"
reports = \"all\"
who = { groups = { includes = \"g\" } }
", &[(4, "unknown field `includes`")]),
    ("a list as a matcher",
"[[grant]]
name = \"a\"
reports = \"all\"
who = { sub = [\"a\", \"b\"] }
", &[(4, "a list is not a claim matcher")]),
    ("no grants", "", &[(1, "the policy has no [[grant]]")]),
    ("duplicate grant names, in any case",
"[[grant]]
name = \"analytics\"
reports = [1]
who = { sub = \"a\" }

[[grant]]
name = \"Analytics\"
reports = [2]
who = { sub = \"a\" }
", &[(7, "grant name \"Analytics\" is already used by the grant on line 2")]),
    ("bad names and a missing one",
"[[grant]]
name = \"has space\"
reports = [1]
who = { sub = \"a\" }

[[grant]]
reports = [1]
who = { sub = \"b\" }
", &[(2, "a grant's name must be"), (6, "a grant needs a name")]),
    ("bad ReportIds",
"[[grant]]
name = \"a\"
who = { sub = \"a\" }
reports = [
  10800,
  0,
  \"abc\",
  -5,
  1000000000000000000,
  true,
  \"0010801\",
  10800,
]
", &[(6, "a ReportId must be a report number"), (7, "a ReportId must be"), (8, "a ReportId must be"),
     (9, "a ReportId must be"), (10, "a ReportId must be"), (12, "report 10800 is listed twice")]),
    ("reports neither all nor a list",
"[[grant]]
name = \"a\"
who = { sub = \"a\" }
reports = \"everything\"
", &[(4, "reports must be \"all\" or a list")]),
    ("empty report list: never applies",
"[[grant]]
name = \"a\"
who = { sub = \"a\" }
reports = []
", &[(4, "reports is empty, so the grant can never apply")]),
    ("missing who and reports",
"[[grant]]
name = \"a\"
", &[(1, "grant \"a\" has no who"), (1, "grant \"a\" has no reports")]),
    ("empty who",
"[[grant]]
name = \"a\"
reports = [1]
who = {}
", &[(1, "who is empty")]),
    ("tables made by dotted keys and headers",
"[[grant]]
name = \"a\"
reports = [1]
who.sub = \"a\"
limits.rate = \"1/s\"
parameters.forbid = [\"Keywords\"]
[grant.parameters.pin]
Units = \"Today\"
[grant.columns]
drop = [\"X\"]
", &[]),
    ("matchers that can never match",
"[[grant]]
name = \"a\"
reports = [1]
[grant.who]
groups = { one_of = [] }
iss = { contains = \"https://idp\" }
sub = 42
aud = { one_of = [\"x\"], contains = \"y\" }
ratio = 1.5
", &[(8, "exactly one of equals, one_of, contains"), (5, "one_of for claim groups is empty: this matcher can never match"),
     (6, "this matcher on iss can never match: it is a string, never an array"),
     (9, "numbers with a fraction do not compare reliably"),
     (7, "this matcher on sub can never match: it is always a string")]),
    ("formats",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
formats = [\"json\", \"yaml\", \"JSON\"]

[[grant]]
name = \"b\"
reports = [1]
who = { sub = \"b\" }
formats = []
", &[(5, "a format must be one of csv, json, xml"), (5, "format json is listed twice"),
     (11, "formats is empty, so every request it applies to would be refused")]),
    ("a grant shadowed by an earlier one with the same who and more reports",
"[[grant]]
name = \"broad\"
reports = [1, 2, 3]
formats = [\"json\"]
who = { iss = \"i\", sub = \"a\" }

[[grant]]
name = \"narrow\"
reports = [2]
formats = [\"csv\"]
who = { sub = \"a\", iss = \"i\" }
", &[(8, "grant \"narrow\" can never apply: grant \"broad\" (line 1) comes first")]),
    ("a grant shadowed by an earlier one with fewer conditions",
"[[grant]]
name = \"everyone-at-idp\"
reports = \"all\"
who = { iss = { one_of = [\"i\", \"j\"] } }

[[grant]]
name = \"svc\"
reports = [1]
who = { iss = \"i\", sub = \"svc\" }
", &[(7, "grant \"svc\" can never apply: grant \"everyone-at-idp\" (line 1)")]),
    ("not shadowed: narrow first, or other reports, or another caller",
"[[grant]]
name = \"svc\"
reports = [1]
who = { iss = \"i\", sub = \"svc\" }

[[grant]]
name = \"everyone-at-idp\"
reports = [1, 2]
who = { iss = \"i\" }

[[grant]]
name = \"more-reports\"
reports = [1, 2, 3]
who = { iss = \"i\" }

[[grant]]
name = \"other-issuer\"
reports = [1]
who = { iss = \"j\", sub = { one_of = [\"svc\", \"svc2\"] } }

[[grant]]
name = \"wider-one-of\"
reports = [1]
who = { iss = { one_of = [\"j\", \"k\"] }, sub = \"svc\" }
", &[]),
    ("contradictory column rules",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.columns]
drop = [\"Customer.Phone\", \"Customer.*\", \"Customer.Fax\"]
mask = [\"customer.phone\", \"bad name\"]
hash = [\"CUSTOMER.*\"]
mask_with = \"a\\u0007b\"

[hashing]
key = { file = \"hash-key\" }
", &[(7, "contradictory column rules: customer.phone is in both columns.drop and columns.mask (line 6 and here)"),
     (7, "columns.mask entry may hold only letters"),
     (8, "contradictory column rules: CUSTOMER.* is in both columns.drop and columns.hash"),
     (9, "columns.mask_with must be at most 256 characters, without control characters")]),
    ("allow-list mode with drop entries, and a pattern both allowed and dropped",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.columns]
allow = [\"CaseDetails.*\", \"Customer.FullName\"]
drop = [\"customer.fullname\"]
", &[(7, "columns.drop contradicts allow-list mode"),
     (7, "contradictory column rules: customer.fullname is both allowed and dropped (line 6 and here)")]),
    ("an empty allow list and a pattern listed twice",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.columns]
allow = []

[[grant]]
name = \"b\"
reports = [1]
who = { sub = \"b\" }
columns = { drop = [\"X.*\", \"x.*\"] }
", &[(6, "columns.allow is empty, so every column would be dropped"),
     (12, "column pattern x.* is listed twice in columns.drop (also on line 12)")]),
    ("hash rules without a key",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.columns]
hash = [\"Customer.EmailAddress\"]
", &[(6, "columns.hash needs the policy's hashing key")]),
    ("a hashing key that cannot be read, is too short, or is missing; a bad length",
"[hashing]
key = { env = \"CASEGATE_TEST_SURELY_UNSET_HASH_KEY\" }
length = 4
", &[(3, "hashing.length must be from 8 to 64"), (2, "environment variable CASEGATE_TEST_SURELY_UNSET_HASH_KEY is not set"),
     (1, "the policy has no [[grant]]")]),
    ("a short key",
"[hashing]
key = { file = \"short-key\" }
[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
columns = { hash = [\"x\"] }
", &[(2, "hashing.key must be at least 32 bytes long")]),
    ("no key in [hashing]",
"[hashing]
length = 12
[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
", &[(2, "hashing.key is required")]),
    ("parameter rules",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.parameters]
forbid = [
  \"Keywords\",
  \"keywords\",
  \"Colour\",
  \"Nothing*\",
  \"ReportId\",
  \"Format\",
  \"AttributeFilter*\",
]
[grant.parameters.pin]
Units = \"Fortnight\"
AttributeFilter2 = \"36512\"
Format = \"json\"
Compression = \"gzip\"
Colour = \"red\"
Multiples = true
From = \"2023-02-29\"
", &[(8, "parameters.forbid lists keywords twice (also on line 7)"),
     (9, "parameters.forbid: \"Colour\" is not a GetReport parameter"),
     (10, "\"Nothing*\" matches no GetReport parameter"),
     (11, "ReportId cannot be forbidden"),
     (12, "Format cannot be forbidden"),
     (17, "AttributeFilter2 is both pinned and forbidden (by parameters.forbid entry \"AttributeFilter*\" on line 13)"),
     (20, "parameters.pin: \"Colour\" is not a GetReport parameter"),
     (19, "Compression cannot be pinned"),
     (18, "Format cannot be pinned"),
     (22, "the pinned value is not valid: From is not a real calendar date"),
     (21, "the pinned value of Multiples must be a string"),
     (16, "the pinned value is not valid: Units must be one of")]),
    ("a parameter pinned twice",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
[grant.parameters.pin]
Units = \"Today\"
units = \"Today\"
", &[(7, "Units is pinned twice (also on line 6")]),
    ("limits",
"[[grant]]
name = \"a\"
reports = [1]
who = { sub = \"a\" }
limits = { rate = \"100 per minute\", burst = 0, cache_ttl = \"2d\" }

[[grant]]
name = \"b\"
reports = [1]
who = { sub = \"b\" }
[grant.limits]
burst = 10
cache_ttl = \"soon\"
", &[(5, "limits.rate must look like \"100/minute\""), (5, "limits.burst must be from 1 to 1000000"),
     (5, "limits.cache_ttl must be a duration"), (12, "limits.burst needs limits.rate"),
     (13, "limits.cache_ttl must be a duration")]),
];

#[test]
fn every_problem_is_reported_with_its_line() {
    for (case, text, want) in CASES {
        let got = problems(text);
        let mut want = want.to_vec();
        want.sort_by_key(|(line, _)| *line);
        let shown = got
            .iter()
            .map(|(line, m)| format!("  {line}: {m}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(got.len(), want.len(), "{case}: got\n{shown}");
        for ((line, message), (want_line, want_message)) in got.iter().zip(&want) {
            assert!(
                *line == *want_line && message.contains(want_message),
                "{case}: want {want_line}: {want_message}, got\n{shown}"
            );
        }
    }
}

#[test]
fn a_valid_policy_with_every_key() {
    let dir = Dir::new();
    let policy = dir.policy(
        r#"
[hashing]
key = { file = "hash-key" }
length = 12

[[grant]]
name = "everything"
description = "every key"
reports = [10801, "10800"]
formats = ["CSV", "json"]
who = { iss = "https://idp", sub = { one_of = ["a", "b"] }, groups = { contains = "g" }, level = { equals = 2 } }
[grant.columns]
drop = ["Customer.*"]
mask = ["Customer.Phone"]
hash = ["Customer.EmailAddress"]
mask_with = "[x]"
[grant.parameters]
forbid = ["Keywords"]
pin = { Units = "Today" }
[grant.limits]
rate = "10/s"
burst = 20
cache_ttl = "0s"
"#,
    );
    let g = &policy.grants()[0];
    assert_eq!((g.name.as_str(), g.line), ("everything", 6));
    assert_eq!(g.description.as_deref(), Some("every key"));
    assert_eq!(
        g.reports,
        Reports::Only(vec![
            ReportId::new(10800).unwrap(),
            ReportId::new(10801).unwrap()
        ])
    );
    assert_eq!(g.formats, [params::Format::Csv, params::Format::Json]);
    assert_eq!(g.who.matchers().len(), 4);
    assert_eq!(g.columns.hash_key().map(HashKey::length), Some(12));
    assert_eq!(g.columns.mask_with(), "[x]");
    assert_eq!(g.parameters.forbidden(), [Param::Keywords]);
    assert_eq!(g.parameters.pins()[0].canonical.as_deref(), Some("Today"));
    let rate = g.limits.rate.unwrap();
    assert_eq!((rate.requests, rate.per.as_secs(), rate.burst), (10, 1, 20));
    assert_eq!(g.limits.cache_ttl, Some(std::time::Duration::ZERO));
    assert!(!format!("{policy:?}").contains("0123456789abcdef"));
}

#[test]
fn an_unreadable_file_is_one_problem() {
    let dir = Dir::new();
    let problems = Policy::load(&dir.path()).unwrap_err();
    assert_eq!(problems.len(), 1);
    let p = problems.iter().next().unwrap();
    assert_eq!(p.line, 1);
    assert!(p.message.starts_with("cannot read the policy file"), "{p}");
}
