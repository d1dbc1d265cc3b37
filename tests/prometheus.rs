//! The Prometheus side of deploy/ checked with the real tooling (promtool, Debian package
//! `prometheus`; `.ci/run` installs it): a live scrape of the gateway passes
//! `promtool check metrics`, the alert rules pass `promtool check rules` and their unit tests,
//! and the Grafana dashboard is well formed with every query parsing as PromQL. The alert rules
//! and the dashboard may only name metrics the gateway registers (src/metrics.rs).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs promtool with `args`, feeding `stdin`; fails the test with the fix when it is missing.
fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install the Debian package `prometheus` \
                 (apt-get install -y prometheus), as .ci/run does"
            )
        });
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn scrape(gateway: &TestGateway) -> String {
    let metrics = get(&format!("http://{}/metrics", gateway.admin_addr)).await;
    assert_eq!(metrics.status, 200);
    metrics.text()
}

/// A few requests of different kinds, so that labelled series exist in the scrape.
async fn some_traffic(gateway: &TestGateway) {
    for query in ["ReportId=10800&Format=json", "ReportId=10800&Format=csv"] {
        let ok = get(&gateway.url(&format!("/getreport?{query}"))).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let no_token = Request::get(gateway.url("/getreport?ReportId=10800"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send_as_is(no_token).await.status, 401);
    let no_grant = Request::get(gateway.url("/getreport?ReportId=10800"))
        .header("authorization", format!("Bearer {}", token_for("stranger")))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send_as_is(no_grant).await.status, 403);
    assert_eq!(get(&gateway.url("/nowhere")).await.status, 404);
}

#[tokio::test]
async fn a_live_scrape_passes_promtool_check_metrics() {
    let (_upstream, gateway) = start_pair(default_handler_arc(), "", "").await;
    some_traffic(&gateway).await;
    let text = scrape(&gateway).await;
    assert!(
        text.contains("# TYPE casegate_cache_responses_total counter"),
        "the scrape holds the gateway's metrics:\n{text}"
    );
    let output = promtool(&["check", "metrics"], Some(&text));
    assert_success(&format!("promtool check metrics on\n{text}\n"), &output);
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    let rules = "deploy/prometheus/casegate.rules.yml";
    assert_success(
        "promtool check rules",
        &promtool(&["check", "rules", rules], None),
    );
    let output = promtool(
        &["test", "rules", "deploy/prometheus/casegate.rules.test.yml"],
        None,
    );
    assert_success("promtool test rules", &output);
    // promtool exits 0 when a file holds no test at all: make sure they ran.
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS"));
}

fn dashboard() -> serde_json::Value {
    let path = repo("deploy/grafana/casegate.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every panel, rows' collapsed children included.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(children) = panel["panels"].as_array() {
            all.extend(children);
        }
    }
    all
}

/// Every PromQL query of the dashboard: the panels' and the template variables'.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {:?} has a target without expr", panel["title"]));
            queries.push((panel["title"].as_str().unwrap().to_owned(), expr.to_owned()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            // label_values(EXPR, label) is Grafana's, not PromQL: its selector is.
            let selector = query
                .strip_prefix("label_values(")
                .and_then(|rest| rest.rsplit_once(','))
                .map(|(selector, _)| selector.to_owned())
                .unwrap_or_else(|| panic!("unexpected variable query {query}"));
            queries.push((format!("variable {}", variable["name"]), selector));
        }
    }
    queries
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_with_the_issues_panels() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "casegate-overview");
    let schema = dashboard["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");

    // The data source is a template variable, and every panel and query uses it.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let mut ids = BTreeSet::new();
    let mut titles = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("every panel has a title");
        titles.push(title.to_lowercase());
        assert!(
            ids.insert(panel["id"].as_u64().expect("id")),
            "panel ids are unique: {title}"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{title}: gridPos {grid}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    // The issue's list.
    for wanted in [
        "requests per second",
        "responses by status class",
        "error ratio",
        "p50 / p95 / p99",
        "cache hit ratio",
        "upstream requests by outcome",
        "upstream latency",
        "circuit breaker",
        "429",
        "denials",
        "redacted columns",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel about {wanted:?} in {titles:?}"
        );
    }
}

/// The dashboard's queries with Grafana's variables replaced by values PromQL accepts.
fn as_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$job", ".+")
        .replace("$instance", ".+")
}

#[test]
fn every_dashboard_query_parses_as_promql() {
    // promtool has no "parse this expression": a rule file of recording rules, one per query,
    // is checked by the real PromQL parser.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = dashboard_queries(&dashboard());
    for (i, (_, expr)) in queries.iter().enumerate() {
        let promql = as_promql(expr);
        assert!(!promql.contains('$'), "unknown variable left in {promql}");
        let quoted = serde_json::to_string(&promql).unwrap(); // JSON strings are YAML strings
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let output = promtool(&["check", "rules", file.to_str().unwrap()], None);
    assert_success(
        &format!("promtool check rules on the dashboard's queries\n{rules}"),
        &output,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{stdout}"
    );
}

/// Words that look like metric names (`casegate_...`), leaving out recording rules' names
/// (`job:casegate_...`) and words inside other identifiers.
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(found) = text[i..].find("casegate_") {
        let start = i + found;
        let mut end = start;
        while end < bytes.len() && word(bytes[end]) {
            end += 1;
        }
        let before = start.checked_sub(1).map(|j| bytes[j]);
        if !before.is_some_and(|b| word(b) || b == b':') {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

/// The metric names the gateway registers: every `"casegate_..."` literal in src/metrics.rs
/// and under src/metrics/, with a histogram's series suffixes.
fn registered_metrics() -> BTreeSet<String> {
    fn sources(path: &Path, found: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path.to_owned());
        }
    }
    let mut files = Vec::new();
    sources(&repo("src/metrics.rs"), &mut files);
    sources(&repo("src/metrics"), &mut files);
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for part in text.split("\"casegate_").skip(1) {
            let name = part.split('"').next().unwrap();
            for suffix in ["", "_bucket", "_sum", "_count"] {
                names.insert(format!("casegate_{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn rules_and_dashboard_name_only_metrics_the_gateway_registers() {
    let registered = registered_metrics();
    assert!(registered.contains("casegate_cache_responses_total"));
    let rules = std::fs::read_to_string(repo("deploy/prometheus/casegate.rules.yml")).unwrap();
    let mut used = metric_names(&rules);
    assert!(used.contains("casegate_upstream_circuit_state"), "{used:?}");
    for (_, expr) in dashboard_queries(&dashboard()) {
        used.extend(metric_names(&expr));
    }
    let unknown: Vec<_> = used.difference(&registered).collect();
    assert!(
        unknown.is_empty(),
        "deploy/ names metrics the gateway does not register (see README, Metrics): {unknown:?}"
    );
}

#[tokio::test]
async fn the_latency_slo_bucket_exists_in_a_live_scrape() {
    // The SLO rules count GetReport requests under 1 s with the bucket le="1".
    let (_upstream, gateway) = start_pair(default_handler_arc(), "", "").await;
    some_traffic(&gateway).await;
    let text = scrape(&gateway).await;
    let bucket = text.lines().find(|line| {
        line.starts_with("casegate_request_duration_seconds_bucket{")
            && line.contains("route=\"getreport\"")
            && line.contains("le=\"1\"")
    });
    assert!(
        bucket.is_some(),
        "no casegate_request_duration_seconds_bucket with route=\"getreport\" and le=\"1\":\n{text}"
    );
}
