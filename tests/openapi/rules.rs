//! The described parameters against the validator (`casegate::params::parse`): the same names,
//! and values judged the same way, over a corpus of edge cases.

use casegate::params::{parse, Limits, Param};
use chrono::NaiveDate;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use regex::Regex;
use serde_json::Value;

use super::spec::{self, resolve};

#[test]
fn every_getreport_parameter_is_described_on_both_routes_and_nothing_else() {
    let spec = spec::load();
    let all: Vec<String> = Param::ALL.iter().map(|p| p.name().to_owned()).collect();
    for method in ["get", "head"] {
        let mut query = spec::names_in(&spec, "/getreport", method, "query");
        query.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(query, want, "{method} /getreport");

        let mut query = spec::names_in(&spec, "/reports/{ReportId}", method, "query");
        query.sort();
        want.retain(|n| n != "ReportId");
        assert_eq!(query, want, "{method} /reports/{{ReportId}}");
        assert_eq!(
            spec::names_in(&spec, "/reports/{ReportId}", method, "path"),
            ["ReportId"]
        );
    }
}

/// What the description says of `value` for the parameter `described`: the schema's `enum`
/// (in any letter case, as the descriptions say), `pattern`, `maxLength` and `format: date`;
/// an empty value is allowed where `allowEmptyValue` says so.
fn described_accepts(spec: &Value, described: &Value, value: &str) -> bool {
    if value.is_empty() {
        return described["allowEmptyValue"] == true;
    }
    let schema = resolve(spec, &described["schema"]);
    if let Some(max) = schema["maxLength"].as_u64() {
        if value.chars().count() as u64 > max {
            return false;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        let description = described["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("any letter case"),
            "{}: say that its values match in any letter case",
            described["name"]
        );
        if !allowed
            .iter()
            .any(|a| a.as_str().unwrap().eq_ignore_ascii_case(value))
        {
            return false;
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        if !re.is_match(value) {
            return false;
        }
    }
    if schema["format"] == "date" && NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err() {
        return false;
    }
    true
}

/// Refusals the descriptions state in words because a schema cannot: a date and time that
/// does not exist, a column named twice in CSVFields, and a value within 1024 characters but
/// over 1024 bytes.
fn stated_in_words(name: &str, value: &str) -> bool {
    let not_a_real_date_time = matches!(name, "FromTime" | "UntilTime")
        && [
            "2023-02-29 00:00:00",
            "2024-01-31 24:00:00",
            "2024-04-31T10:00:00",
        ]
        .contains(&value);
    let column_twice = name == "CSVFields" && ["a,A", "x, x"].contains(&value);
    not_a_real_date_time || column_twice || value.len() > 1024
}

fn corpus() -> Vec<String> {
    let fixed = [
        "",
        " ",
        "0",
        "00",
        "1",
        "7",
        "010800",
        "10800",
        "999999999999999999",
        "0999999999999999999",
        "1000000000000000000",
        "-1",
        "+1",
        "1.5",
        "1e3",
        "abc",
        "csv",
        "CSV",
        "Json",
        "xml",
        "XML ",
        "html",
        "yes",
        "YES",
        "true",
        "True",
        "no",
        "false",
        "gzip",
        "GZip",
        "deflate",
        ",",
        "|",
        ";",
        "\"",
        "ab",
        "\t",
        "é",
        "Today",
        "TODAY",
        "today ",
        "Year to date",
        "year TO date",
        "Next days",
        "Previous municipal year",
        "Years",
        "99999",
        "100000",
        "100001",
        "0100000",
        "000001",
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "2024-1-01",
        "2024-01-31x",
        "0000-01-01",
        "2024-01-31 23:59:59",
        "2024-01-31T23:59:59",
        "2024-01-31T23:59:59.123456789",
        "2024-01-31T23:59:59.1234567890",
        "2024-01-31 23:59:59.1",
        "2024-01-31 24:00:00",
        "2023-02-29 00:00:00",
        "2024-04-31T10:00:00",
        "2024-01-31T23:59",
        "a,b",
        "a,,b",
        " a , b ",
        "a,A",
        "x, x",
        "a b",
        "CaseDetails.CaseId",
        "Customer.*",
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{9f}",
        "a\u{a0}b",
        "line\nbreak",
        "%",
        "100%",
        "+",
        "a+b",
    ];
    let mut all: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
    all.extend(["x".repeat(1024), "x".repeat(1025), "é".repeat(600)]);
    all
}

#[test]
fn described_parameter_rules_agree_with_the_validator() {
    let spec = spec::load();
    let limits = Limits::default();
    let mut checked = 0;
    for described in spec::parameters(&spec, "/getreport", "get") {
        if described["in"] != "query" {
            continue;
        }
        let name = described["name"].as_str().unwrap();
        for value in corpus() {
            let encoded = utf8_percent_encode(&value, NON_ALPHANUMERIC).to_string();
            let query = match name {
                "ReportId" => format!("ReportId={encoded}"),
                _ => format!("ReportId=10800&{name}={encoded}"),
            };
            let gateway = parse(Some(&query), None, &limits);
            let says = described_accepts(&spec, described, &value);
            // Anything the description refuses, the gateway refuses (what schemathesis's
            // negative tests rely on)...
            assert!(
                says || gateway.is_err(),
                "{name}={value:?}: the description refuses it, the gateway accepts it"
            );
            // ...and what it allows, the gateway accepts, but for rules stated in words.
            if let (true, Err(e)) = (says, &gateway) {
                assert!(
                    stated_in_words(name, &value),
                    "{name}={value:?}: the description allows it, the gateway refuses it: {e}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Param::ALL.len() * corpus().len());

    // The path's ReportId, which the gateway takes as sent (schemathesis sends digits as they are).
    let path = spec::parameters(&spec, "/reports/{ReportId}", "get")
        .into_iter()
        .find(|p| p["in"] == "path")
        .unwrap();
    for value in corpus()
        .iter()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        let gateway = parse(None, Some(value), &limits);
        assert_eq!(
            described_accepts(&spec, path, value),
            gateway.is_ok(),
            "/reports/{value}"
        );
    }
}
