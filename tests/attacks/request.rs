//! Request attacks with a genuine token: parameter pollution, path tricks, header tricks.

use super::{case, path, Case, Send};

/// A row naming the parameter its problem must name.
fn named(name: &'static str, p: &str, code: &'static str, parameter: &'static str) -> Case {
    naming(parameter, query(name, p, code))
}

fn query(name: &'static str, p: &str, code: &'static str) -> Case {
    case(name, path(format!("/getreport?{p}")), 400, code)
}

/// A raw HTTP/1.1 GET of `target` with the genuine token and `extra` header lines.
fn raw(target: &str, extra: &str) -> Send {
    raw_with_host(target, "Host: gateway.test\r\n", extra)
}

/// The same with the `Host` lines given (none, two, a bad one).
fn raw_with_host(target: &str, host: &str, extra: &str) -> Send {
    Send::Raw(format!(
        "GET {target} HTTP/1.1\r\n{host}Authorization: Bearer {{token}}\r\n{extra}Connection: close\r\n\r\n"
    ))
}

/// Refused by hyper before casegate sees a request: a bare 400, without a problem body.
fn by_hyper(name: &'static str, send: Send) -> Case {
    Case {
        code: None,
        ..case(name, send, 400, "")
    }
}

/// The report with these headers (`None`: without that header).
fn report_with(headers: Vec<(&'static str, Option<String>)>) -> Send {
    get_with("/getreport?ReportId=10800", headers)
}

fn get_with(path: impl Into<String>, headers: Vec<(&'static str, Option<String>)>) -> Send {
    Send::Get(path.into(), headers)
}

/// `parameter` named by the problem too.
fn naming(parameter: &'static str, case: Case) -> Case {
    Case {
        parameter: Some(parameter),
        ..case
    }
}

#[rustfmt::skip] // a table: one row per line
pub(crate) fn pollution() -> Vec<Case> {
    let long_value = "x".repeat(1100);
    let long_query = format!("ReportId=1{}", "&Keywords=a".repeat(500));
    vec![
        // The same parameter twice, in any spelling.
        named("ReportId twice", "ReportId=1&ReportId=1", "duplicate_parameter", "ReportId"),
        named("ReportId in two cases", "ReportId=1&reportid=2", "duplicate_parameter", "ReportId"),
        named("REPORTID and ReportId", "REPORTID=2&ReportId=1", "duplicate_parameter", "ReportId"),
        named("Format twice, one empty", "ReportId=1&Format=xml&format=", "duplicate_parameter", "Format"),
        named("Format twice", "ReportId=1&Format=json&FORMAT=xml", "duplicate_parameter", "Format"),
        named("Keywords twice", "ReportId=1&Keywords=a&keywords=b", "duplicate_parameter", "Keywords"),
        // What only casegate chooses: the account and the credential.
        named("db", "ReportId=1&db=other", "forbidden_parameter", "db"),
        named("DB", "ReportId=1&DB=other", "forbidden_parameter", "db"),
        named("db empty", "ReportId=1&db=", "forbidden_parameter", "db"),
        named("db without a value", "ReportId=1&db", "forbidden_parameter", "db"),
        named("db first", "db=other&ReportId=1", "forbidden_parameter", "db"),
        named("db percent-encoded name", "ReportId=1&%64%62=other", "forbidden_parameter", "db"),
        named("Key", "ReportId=1&Key=k", "forbidden_parameter", "Key"),
        named("KEY empty", "ReportId=1&KEY=", "forbidden_parameter", "Key"),
        named("Signature", "ReportId=1&signature=s", "forbidden_parameter", "Signature"),
        named("access_token", "ReportId=1&access_token=t", "forbidden_parameter", "access_token"),
        named("Access_Token", "ReportId=1&Access_Token=t", "forbidden_parameter", "access_token"),
        // Control characters.
        named("CRLF in a value", "ReportId=1&Keywords=a%0D%0AHost:%20evil", "control_character", "Keywords"),
        named("LF in a value", "ReportId=1&Keywords=a%0Ab", "control_character", "Keywords"),
        named("NUL in a value", "ReportId=1&Keywords=a%00", "control_character", "Keywords"),
        named("NUL after ReportId", "ReportId=1%00", "control_character", "ReportId"),
        named("TAB in a value", "ReportId=1&Keywords=a%09b", "control_character", "Keywords"),
        query("CRLF in a name", "ReportId=1&Key%0D%0Awords=a", "control_character"),
        query("NUL in a name", "ReportId=1&d%00b=x", "control_character"),
        // Separators smuggled in percent-encoded, or other separators.
        named("& and = encoded in ReportId", "ReportId=1%26db%3Dother", "invalid_parameter", "ReportId"),
        named("& and = encoded in Format", "ReportId=1&Format=json%26db%3Dother", "invalid_parameter", "Format"),
        named("; as a separator", "ReportId=1;db=other", "invalid_parameter", "ReportId"),
        query("= encoded in a name", "ReportId%3D1", "unknown_parameter"),
        query("& encoded in a name", "ReportId=1&Keywords%26db=x", "unknown_parameter"),
        // Names that only look like ours.
        query("unknown name", "ReportId=1&Colour=red", "unknown_parameter"),
        query("array-style name", "ReportId=1&ReportId[]=2", "unknown_parameter"),
        query("Kelvin sign K in Key", "ReportId=1&%E2%84%AAey=k", "unknown_parameter"),
        query("fullwidth db", "ReportId=1&%EF%BD%84%EF%BD%82=x", "unknown_parameter"),
        // Sizes and encodings.
        named("overlong value", &format!("ReportId=1&Keywords={long_value}"), "value_too_long", "Keywords"),
        query("overlong query", &long_query, "query_too_long"),
        query("60 KiB query", &format!("ReportId=1&Keywords={}", "a".repeat(60 * 1024)), "query_too_long"),
        query("invalid percent-escape", "ReportId=1&Keywords=%ZZ", "malformed_query"),
        query("non-UTF-8 %FF", "ReportId=1&Keywords=%FF", "malformed_query"),
        query("overlong UTF-8 for /", "ReportId=1&Keywords=%C0%AF", "malformed_query"),
        query("broken UTF-8 sequence", "ReportId=1&Keywords=%C3%28", "malformed_query"),
        by_hyper("raw non-UTF-8 byte in the query", raw("/getreport?ReportId=1&Keywords={ff}", "")),
    ]
}

#[rustfmt::skip] // a table: one row per line
pub(crate) fn paths() -> Vec<Case> {
    let not_found = |name, p: &str| case(name, path(p), 404, "not_found");
    vec![
        not_found("the root", "/"),
        not_found("double slash", "//getreport?ReportId=10800"),
        not_found("dot-dot after", "/getreport/..?ReportId=10800"),
        not_found("dot segment before", "/./getreport?ReportId=10800"),
        not_found("trailing slash", "/getreport/?ReportId=10800"),
        not_found("other letter case", "/GetReport?ReportId=10800"),
        not_found("encoded slash after", "/getreport%2F?ReportId=10800"),
        not_found("encoded name", "/%67etreport?ReportId=10800"),
        not_found("NUL in the path", "/getreport%00?ReportId=10800"),
        not_found("backslash", "/getreport%5C..%5C?ReportId=10800"),
        not_found("the token endpoint", "/token"),
        not_found("metrics on the public listener", "/metrics"),
        not_found("purge on the public listener", "/cache/purge"),
        not_found("reports without an id", "/reports/"),
        not_found("reports with two segments", "/reports/10800/10801"),
        not_found("dot-dot after a report", "/reports/10800/.."),
        not_found("climbing out of /reports", "/reports/../getreport?ReportId=10800"),
        naming("ReportId", case("encoded slash in the report id", path("/reports/10800%2F..%2F10801"), 400, "invalid_parameter")),
        naming("ReportId", case("parameters in the report id", path("/reports/10800;db=other"), 400, "invalid_parameter")),
        naming("ReportId", case("ReportId in the path and the query", path("/reports/10800?ReportId=10801"), 400, "duplicate_parameter")),
        case("absolute form smuggling db", raw("http://evil.example/getreport?ReportId=10800&db=other", ""), 400, "forbidden_parameter"),
        case("absolute form to another path", raw("http://evil.example/token", ""), 404, "not_found"),
    ]
}

#[rustfmt::skip] // a table: one row per line
pub(crate) fn headers() -> Vec<Case> {
    let token = crate::common::caller_token();
    let no_auth = || ("authorization", None);
    let host = |lines: &str| raw_with_host("/getreport?ReportId=10800", lines, "");
    vec![
        case("two Authorization headers", raw("/getreport?ReportId=10800", "Authorization: Bearer {token}\r\n"), 401, "token_malformed"),
        case("two Authorization headers, the second Basic", raw("/getreport?ReportId=10800", "Authorization: Basic dXNlcjpwYXNz\r\n"), 401, "token_malformed"),
        case("two tokens in one header", report_with(vec![("authorization", Some(format!("Bearer {token}, Bearer {token}")))]), 401, "token_malformed"),
        case("token only in access_token", get_with(format!("/getreport?ReportId=10800&access_token={token}"), vec![no_auth()]), 401, "token_missing"),
        case("token only in a cookie", report_with(vec![no_auth(), ("cookie", Some(format!("access_token={token}")))]), 401, "token_missing"),
        case("token in X-Forwarded-Authorization", report_with(vec![no_auth(), ("x-forwarded-authorization", Some(format!("Bearer {token}")))]), 401, "token_missing"),
        naming("db", case("forwarded host with a forbidden parameter", get_with("/getreport?ReportId=10800&db=other", vec![("x-forwarded-host", Some("evil.example".into())), ("forwarded", Some("host=evil.example".into()))]), 400, "forbidden_parameter")),
        case("two Host headers", host("Host: gateway.test\r\nHost: evil.example\r\n"), 400, "invalid_host"),
        case("no Host in HTTP/1.1", host(""), 400, "invalid_host"),
        case("Host with userinfo", host("Host: user@gateway.test\r\n"), 400, "invalid_host"),
        case("Host with a path", host("Host: evil.example/x\r\n"), 400, "invalid_host"),
        by_hyper("header folded over two lines", raw("/getreport?ReportId=10800", "X-Note: a\r\n b\r\n")),
        by_hyper("CR inside a header value", raw("/getreport?ReportId=10800", "X-Note: a\rb\r\n")),
    ]
}

/// A name, a path, request headers, and the query iCasework must see.
pub(crate) type Contained = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// Tricks that are no request error, so they are served, but only as the canonical request:
/// each row is a path, headers, and the exact query iCasework must see (`Compression=gzip`
/// is casegate's own). Separators inside a free-text value stay inside it, encoded.
#[rustfmt::skip] // a table: one row per line
pub(crate) fn contained() -> Vec<Contained> {
    let plain = "Format=xml&ReportId=10800&Compression=gzip";
    vec![
        ("& and = encoded in Keywords", "/getreport?ReportId=10800&Keywords=a%26db%3Dother", vec![], "Format=xml&Keywords=a%26db%3Dother&ReportId=10800&Compression=gzip"),
        ("; in Keywords", "/getreport?ReportId=10800&Keywords=a;db=other", vec![], "Format=xml&Keywords=a%3Bdb%3Dother&ReportId=10800&Compression=gzip"),
        ("# encoded in Keywords", "/getreport?ReportId=10800&Keywords=a%23b", vec![], "Format=xml&Keywords=a%23b&ReportId=10800&Compression=gzip"),
        ("X-Forwarded-Host", "/getreport?ReportId=10800", vec![("x-forwarded-host", "evil.example")], plain),
        ("Forwarded host", "/getreport?ReportId=10800", vec![("forwarded", "host=evil.example")], plain),
        ("X-Original-URL", "/getreport?ReportId=10800", vec![("x-original-url", "/token?db=other")], plain),
        ("X-Rewrite-URL", "/getreport?ReportId=10800", vec![("x-rewrite-url", "/getreport?ReportId=1&db=other")], plain),
        ("Host of another site", "/getreport?ReportId=10800", vec![("host", "evil.example")], plain),
    ]
}
