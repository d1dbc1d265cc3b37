//! Column redaction end to end: the gateway in front of the sandbox, real tokens, a grant that
//! drops, masks and hashes customer columns; every format, with and without gzip on either side;
//! and bodies that are not the promised shape, which must never leak.

mod common;

use casegate::sandbox::{self, SandboxConfig, DEMO_API_KEY, DEMO_SECRET_KEY};
use common::*;

const REDACTING_POLICY: &str = r#"
[hashing]
key = { file = "hash-key" }
length = 16

[[grant]]
name = "analysts"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.columns]
drop = ["Customer.*"]
hash = ["Customer.EmailAddress"]
mask = ["Customer.Phone"]
mask_with = "[withheld]"
"#;
const HASH_KEY: &str = "test-hash-key-0123456789abcdef0123456789abcdef";

/// Customer values of the sandbox's large report, read straight from the sandbox's renderer,
/// without those that also occur in a kept column (a Category of "Resident" also stands in the
/// Team "Resident Experience Team", so finding it proves nothing).
fn customer_values() -> Vec<String> {
    let body = sandbox::report_body(sandbox::REPORT_LARGE, "json").unwrap();
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&body).unwrap();
    let strings = |customer: bool| {
        rows.iter()
            .flat_map(|row| row.iter())
            .filter(move |(k, _)| k.starts_with("Customer.") == customer)
            .filter_map(|(_, v)| v.as_str())
    };
    let mut values: Vec<String> = strings(true)
        .filter(|v| v.len() >= 6 && !v.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    values.sort();
    values.dedup();
    let kept: String = strings(false).collect::<Vec<_>>().join("\n");
    let finder = aho_corasick::AhoCorasick::new(&values).unwrap();
    let in_kept: std::collections::HashSet<usize> = finder
        .find_overlapping_iter(&kept)
        .map(|m| m.pattern().as_usize())
        .collect();
    values
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !in_kept.contains(i))
        .map(|(_, v)| v)
        .collect()
}

async fn sandbox_gateway(config: SandboxConfig) -> (TestGateway, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sandbox::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let toml = config_toml(&url, "", "")
        .replace("environment = \"production\"", "environment = \"uat\"")
        .replace("account = \"exampleco\"", "account = \"sandbox\"");
    let gateway = TestGateway::start_with_files(
        &toml,
        &[
            ("api-key", DEMO_API_KEY),
            ("secret-key", DEMO_SECRET_KEY),
            ("policy.toml", REDACTING_POLICY),
            ("hash-key", HASH_KEY),
        ],
    )
    .await;
    (gateway, stop)
}

fn plain(got: &Got) -> String {
    if got.header("content-encoding") == Some("gzip") {
        gunzip(&got.body)
    } else {
        got.text()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_customer_value_leaves_in_any_format_or_encoding() {
    let values = customer_values();
    assert!(values.len() > 1000, "the sandbox report has customer data");
    let leaks = aho_corasick::AhoCorasick::new(&values).unwrap();
    // Every `Customer.` column is dropped, masked or hashed; the header counts them.
    let example = sandbox::report_body(sandbox::REPORT_EXAMPLE, "json").unwrap();
    let row: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&example).unwrap();
    let withheld = row[0].keys().filter(|k| k.starts_with("Customer.")).count();
    assert!(withheld > 20);
    // Both shapes of gzip from iCasework; every format; gzip to the caller once.
    let cases: [(bool, &[(&str, &str)]); 2] = [
        (true, &[("xml", ""), ("csv", "&CSVHeader=yes")]),
        (false, &[("json", "&Compression=gzip")]),
    ];
    for (gzip_header, requests) in cases {
        let (gateway, _stop) = sandbox_gateway(SandboxConfig {
            gzip_content_encoding: gzip_header,
            ..SandboxConfig::default()
        })
        .await;
        for (format, extra) in requests {
            let path = format!("/reports/10801?Format={format}{extra}");
            let got = get(&gateway.url(&path)).await;
            assert_eq!(got.status, 200, "{path}: {}", got.text());
            assert!(!got.aborted, "{path}");
            let text = plain(&got);
            assert!(text.contains("CaseDetails.CaseId"), "{path}: columns kept");
            assert!(text.contains("[withheld]"), "{path}: phone masked");
            let count = withheld.to_string();
            assert_eq!(got.header("x-columns-withheld"), Some(&*count), "{path}");
            if let Some(found) = leaks.find(&text) {
                panic!("{path}: {:?} leaked", &values[found.pattern().as_usize()]);
            }
        }
    }
}

#[tokio::test]
async fn csv_header_is_fetched_always_and_removed_when_not_asked() {
    let (gateway, _stop) = sandbox_gateway(SandboxConfig::default()).await;
    let without = plain(&get(&gateway.url("/reports/10800?Format=csv")).await);
    let with = plain(&get(&gateway.url("/reports/10800?Format=csv&CSVHeader=yes")).await);
    assert!(with.starts_with("CaseDetails.TotalRedress,"), "{with}");
    assert!(
        !with.contains("Customer.FullName"),
        "dropped columns leave the header too"
    );
    assert!(with.contains("Customer.EmailAddress") && with.contains("Customer.Phone"));
    assert_eq!(with.lines().count(), 2);
    assert_eq!(without.lines().count(), 1, "{without}");
    assert_eq!(with.lines().nth(1), without.lines().next());
}

#[tokio::test]
async fn csv_fields_naming_a_withheld_column_is_403() {
    let (gateway, _stop) = sandbox_gateway(SandboxConfig::default()).await;
    let got =
        get(&gateway
            .url("/reports/10800?Format=csv&CSVFields=CaseDetails.CaseId,Customer.FullName"))
        .await;
    assert_eq!(got.status, 403);
    assert_eq!(got.json()["code"], "column_withheld");
    assert!(got.json()["detail"]
        .as_str()
        .unwrap()
        .contains("customer.fullname"));
}

#[tokio::test]
async fn gzip_for_callers_who_ask_by_parameter_or_header() {
    let (gateway, _stop) = sandbox_gateway(SandboxConfig::default()).await;
    let by_header = send(
        http::Request::get(gateway.url("/reports/10800?Format=json"))
            .header("accept-encoding", "gzip")
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(by_header.header("content-encoding"), Some("gzip"));
    let by_param = get(&gateway.url("/reports/10800?Format=json&Compression=gzip")).await;
    assert_eq!(by_param.header("content-encoding"), Some("gzip"));
    let neither = get(&gateway.url("/reports/10800?Format=json")).await;
    assert_eq!(neither.header("content-encoding"), None);
    assert_eq!(gunzip(&by_header.body), neither.text());
    assert_eq!(gunzip(&by_param.body), neither.text());
}

/// A fake iCasework whose report is `body`, sent in `chunks` frames.
async fn bad_upstream(body: &'static [u8]) -> (FakeUpstream, TestGateway) {
    let (upstream, gateway) = start_pair(
        on_getreport(move |_| response(200, &[("content-type", "text/xml")], body)),
        "",
        "",
    )
    .await;
    std::fs::write(gateway.dir().join("hash-key"), HASH_KEY).unwrap();
    std::fs::write(gateway.dir().join("policy.toml"), REDACTING_POLICY).unwrap();
    gateway.policy.reload().unwrap();
    (upstream, gateway)
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_fail_closed() {
    let cases: [&'static [u8]; 3] = [
        b"<?xml version=\"1.0\"?><Other><Row><Customer.FullName>Fred Bloggs</Customer.FullName></Row></Other>",
        b"<Rows><Row><Customer.FullName><b>Fred Bloggs</b></Customer.FullName></Row></Rows>",
        b"<Rows><Row><Customer.FullName>Fred Bloggs</Customer.FullName></Row>",
    ];
    for body in cases {
        let (_upstream, gateway) = bad_upstream(body).await;
        let before = failures(&gateway).await;
        let request = http::Request::get(gateway.url("/reports/10800"))
            .header("authorization", format!("Bearer {}", caller_token()))
            .body(Default::default())
            .unwrap();
        let Ok(got) = try_send(request).await else {
            continue; // the connection was cut before even the head arrived: nothing leaked
        };
        let text = got.text();
        assert!(!text.contains("Bloggs"), "leaked: {text}");
        assert!(
            got.status == 502 || got.aborted,
            "a broken body must be a 502 or an aborted transfer: {} {text}",
            got.status
        );
        if got.status == 502 {
            assert_eq!(got.json()["code"], "redaction_failed");
        }
        assert!(failures(&gateway).await > before, "counted");
    }
}

/// `casegate_redaction_failures_total` for XML, summed over stages, from the admin listener.
async fn failures(gateway: &TestGateway) -> u64 {
    let text = get(&format!("http://{}/metrics", gateway.admin_addr))
        .await
        .text();
    text.lines()
        .filter(|l| l.starts_with("casegate_redaction_failures_total{format=\"xml\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
