//! Runs the real binaries (sandbox and gateway, debug logging) through reports full of personal
//! data, errors included, and checks that no secret, token or report value reaches the logs or
//! the audit file; and checks the audit events' fields for a miss, a hit, a deny and a 401.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use common::*;

const AUDIT_KEY: &str = "test-audit-key-0123456789abcdef0123456789";

fn casegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casegate"))
}

/// Reads lines from `child`'s stdout until one contains `needle`; returns that line.
fn wait_for_line(child: &mut Child, needle: &str, seen: &mut String) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "exited before printing {needle:?}:\n{seen}"
        );
        seen.push_str(&line);
        if line.contains(needle) {
            return line;
        }
    }
}

fn stop(mut child: Child, seen: &mut String) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    child.stdout.take().unwrap().read_to_string(seen).unwrap();
    child.stderr.take().unwrap().read_to_string(seen).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_or_report_value_in_any_log_line() {
    let mut sandbox_log = String::new();
    let mut sandbox = casegate()
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = wait_for_line(&mut sandbox, "http://", &mut sandbox_log);
    let sandbox_url = line[line.find("http://").unwrap()..].trim().to_owned();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api-key"), casegate::sandbox::DEMO_API_KEY).unwrap();
    std::fs::write(
        dir.path().join("secret-key"),
        casegate::sandbox::DEMO_SECRET_KEY,
    )
    .unwrap();
    // A free port for the admin listener, so the test can call it (purge logs its report).
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = config_toml(&sandbox_url, "", "")
        .replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"{admin}\""),
        )
        .replace("environment = \"production\"", "environment = \"uat\"")
        .replace("account = \"exampleco\"", "account = \"sandbox\"")
        + "\n[audit]\nfile = \"audit.jsonl\"\nhash_key = { file = \"audit-key\" }\n";
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    std::fs::write(dir.path().join("audit-key"), AUDIT_KEY).unwrap();
    std::fs::write(dir.path().join("caller-hmac"), CALLER_SECRET).unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    std::fs::write(dir.path().join("admin-token"), ADMIN_TOKEN).unwrap();
    let mut log = String::new();
    let mut gateway = casegate()
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The public listener's line (the admin listener announces itself too).
    let line = wait_for_line(&mut gateway, "\"listener\":\"public\"", &mut log);
    let addr = line.split("127.0.0.1:").nth(1).unwrap();
    let port: String = addr.chars().take_while(char::is_ascii_digit).collect();
    let base = format!("http://127.0.0.1:{port}");

    let mut values = Vec::new();
    for path in [
        "/getreport?ReportId=10800&Format=json",
        "/reports/10801?Format=json",
        "/reports/10801?Format=csv&CSVHeader=yes&CSVFooter=yes",
        "/reports/10801?Format=xml&Compression=gzip",
        "/getreport?ReportId=10803",
        "/getreport?ReportId=1&Keywords=Bloggs%20Fred&Colour=secret-colour",
        "/getreport?ReportId=10800&Format=json&Keywords=Bloggs%20Fred",
        "/getreport?ReportId=1&From=prasad.iyer@civica.co.uk",
    ] {
        let request = http::Request::get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {}", caller_token()))
            .header("cookie", "sid=caller-cookie-should-never-be-logged")
            .body(Default::default())
            .unwrap();
        let got = send(request).await;
        if path.contains("Format=json") && got.status == 200 {
            let rows: serde_json::Value = got.json();
            for row in rows.as_array().unwrap().iter().take(200) {
                for key in [
                    "Customer.FullName",
                    "Customer.EmailAddress",
                    "Customer.Phone",
                    "Customer.LastName",
                ] {
                    if let Some(v) = row[key].as_str().filter(|v| v.len() > 4) {
                        values.push(v.to_owned());
                    }
                }
            }
        }
    }
    let purge = send_as_is(
        http::Request::post(format!("http://{admin}/cache/purge"))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(purge.status, 200, "{}", purge.text());
    stop(gateway, &mut log);
    stop(sandbox, &mut sandbox_log);

    assert!(
        log.contains("request"),
        "the gateway logged nothing:\n{log}"
    );
    // At debug every public request's end is logged inside its span, which names the request.
    let finished: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "finished processing request")
        .collect();
    assert_eq!(finished.len(), 8, "{log}");
    for line in &finished {
        let span = &line["span"];
        assert_eq!(span["name"], "request", "{line}");
        assert_eq!(span["method"], "GET", "{line}");
        let id = span["request_id"].as_str().unwrap_or_default();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{line}");
    }
    // One audit event per public request, in the file only.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 8, "{audit}");
    assert!(
        !log.contains("\"target\":\"audit\""),
        "audit events on stdout too"
    );
    let keywords = events
        .iter()
        .find(|e| e["params"].as_str().is_some_and(|p| p.contains("Keywords")))
        .unwrap_or_else(|| panic!("no audit event names Keywords:\n{audit}"));
    // HMAC-SHA256 under audit.hash_key, computed here independently, first 16 hex digits.
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, AUDIT_KEY.as_bytes()),
        b"Bloggs Fred",
    );
    let hex: String = tag.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(keywords["keywords_hash"], hex.as_str());
    assert_eq!(keywords["status"], 200);
    assert!(
        values.len() > 100,
        "too few PII values collected: {}",
        values.len()
    );
    let mut forbidden: Vec<String> = vec![
        casegate::sandbox::DEMO_SECRET_KEY.into(),
        casegate::sandbox::DEMO_API_KEY.into(),
        caller_token().into(),
        CALLER_SECRET.into(),
        ADMIN_TOKEN.into(),
        "caller-cookie-should-never-be-logged".into(),
        "Bloggs".into(),
        "prasad.iyer".into(),
        "Bearer ".into(),
        AUDIT_KEY.into(),
        "secret-colour".into(),
    ];
    forbidden.extend(values);
    for needle in &forbidden {
        assert!(
            !log.contains(needle.as_str()),
            "the gateway log contains {needle:?}"
        );
        assert!(
            !audit.contains(needle.as_str()),
            "the audit log contains {needle:?}"
        );
    }
    // Sandbox tokens are 64 hex digits: none may appear in the gateway's log.
    let hex_run = log
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() >= 64);
    assert!(!hex_run, "something token-like is in the gateway log");
}

const CACHING_POLICY: &str = r#"
[[grant]]
name = "cached"
reports = [10800]
[grant.who]
sub = "test-caller"
[grant.columns]
drop = ["Customer.*"]
[grant.limits]
cache_ttl = "1h"
"#;

/// The real gateway in front of `upstream` with the caching policy, logging at `warn` (the
/// audit stream follows `audit.enabled`, not the log level), once its public listener answers;
/// with that listener's port and the folder holding its configuration.
async fn gateway_at_warn(upstream: &FakeUpstream) -> (Child, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The public listener's address (the admin one stays on a port of its own choosing).
    let config = config_toml(&upstream.base_url(), "", "").replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
        1,
    );
    for (name, content) in [
        ("c.toml", config),
        ("api-key", API_KEY.to_owned()),
        ("secret-key", SECRET_KEY.to_owned()),
        ("caller-hmac", CALLER_SECRET.to_owned()),
        ("policy.toml", CACHING_POLICY.to_owned()),
        ("admin-token", ADMIN_TOKEN.to_owned()),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let gateway = casegate()
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // At warn the listeners' lines are not printed: wait until the public one answers.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (gateway, port, dir)
}

/// The audit events of a miss, a hit, a deny and a 401, on stdout (no `audit.file`), found by
/// the request ids the test sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_name_who_what_decision_cache_columns_and_outcome() {
    let upstream = FakeUpstream::start().await;
    let (gateway, port, _dir) = gateway_at_warn(&upstream).await;
    let mut log = String::new();
    let base = format!("http://127.0.0.1:{port}");
    let ask = |id: &'static str, path: &'static str, token: Option<&'static str>| {
        let mut request = http::Request::get(format!("{base}{path}")).header("x-request-id", id);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        send_as_is(request.body(Default::default()).unwrap())
    };
    let miss = ask(
        "audit-miss",
        "/getreport?ReportId=10800&Format=json",
        Some(caller_token()),
    )
    .await;
    let hit = ask(
        "audit-hit",
        "/getreport?ReportId=10800&Format=json",
        Some(caller_token()),
    )
    .await;
    let deny = ask(
        "audit-deny",
        "/getreport?ReportId=10802",
        Some(caller_token()),
    )
    .await;
    let unauthenticated = ask("audit-401", "/getreport?ReportId=10800", None).await;
    assert_eq!(
        [miss.status, hit.status, deny.status, unauthenticated.status].map(|s| s.as_u16()),
        [200, 200, 403, 401]
    );
    assert_eq!(miss.header("x-request-id"), Some("audit-miss"));
    assert_eq!(
        upstream.getreport_requests()[0].header("x-request-id"),
        Some("audit-miss")
    );
    stop(gateway, &mut log);

    let event = |id: &str| -> serde_json::Value {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["target"] == "audit" && e["request_id"] == id)
            .unwrap_or_else(|| panic!("no audit event for {id}:\n{log}"))
    };
    let miss_event = event("audit-miss");
    for (field, want) in [
        ("issuer", serde_json::json!(ISSUER)),
        ("subject", "test-caller".into()),
        ("grant", "cached".into()),
        ("report_id", 10800.into()),
        ("format", "json".into()),
        ("params", "Format,ReportId".into()),
        ("decision", "allow".into()),
        ("cache", "miss".into()),
        ("columns_withheld", "Customer.FullName".into()),
        ("status", 200.into()),
        ("bytes", miss.body.len().into()),
        ("outcome", "complete".into()),
        ("route", "getreport".into()),
    ] {
        assert_eq!(miss_event[field], want, "{field}: {miss_event}");
    }
    assert!(miss_event.get("reason").is_none(), "{miss_event}");
    assert!(miss_event["timestamp"].is_string());
    assert!(miss_event["duration_ms"].as_f64().unwrap() >= 0.0);

    let hit_event = event("audit-hit");
    assert_eq!(hit_event["cache"], "hit");
    assert_eq!(hit_event["columns_withheld"], "Customer.FullName");
    assert_eq!(hit_event["bytes"], hit.body.len());
    assert_eq!(hit_event["decision"], "allow");

    let deny_event = event("audit-deny");
    assert_eq!(deny_event["decision"], "deny");
    assert_eq!(deny_event["reason"], "no_grant");
    assert_eq!(deny_event["status"], 403);
    assert_eq!(deny_event["subject"], "test-caller");
    assert_eq!(deny_event["report_id"], 10802);
    assert!(deny_event.get("grant").is_none(), "{deny_event}");
    assert_eq!(deny_event["cache"], "none");

    let refused = event("audit-401");
    assert_eq!(refused["decision"], "refuse");
    assert_eq!(refused["reason"], "token_missing");
    assert_eq!(refused["status"], 401);
    assert!(refused.get("subject").is_none() && refused.get("report_id").is_none());

    assert!(!log.contains(caller_token()) && !log.contains("Bloggs"));
}

/// A port nothing listens on now (for a listener the gateway binds itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An audit file that cannot be written (a full disk: /dev/full): requests are still served,
/// every lost event is counted, the first failure is logged, and readiness says degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_file_is_counted_and_reported_not_fatal() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let config = config_toml(&upstream.base_url(), "", "")
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
            1,
        )
        .replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{admin}\""),
            1,
        )
        + "\n[audit]\nfile = \"/dev/full\"\n";
    for (name, content) in [
        ("c.toml", config),
        ("api-key", API_KEY.to_owned()),
        ("secret-key", SECRET_KEY.to_owned()),
        ("caller-hmac", CALLER_SECRET.to_owned()),
        ("policy.toml", POLICY.to_owned()),
        ("admin-token", ADMIN_TOKEN.to_owned()),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let mut log = String::new();
    let mut gateway = casegate()
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut gateway, "\"listener\":\"admin\"", &mut log);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..3 {
        let got = get(&format!("{base}/getreport?ReportId=10800&Format=json")).await;
        assert_eq!(got.status, 200, "{}", got.text());
    }
    // The writer thread writes after the response: wait for it to have failed three times.
    let mut lost = 0.0;
    for _ in 0..100 {
        let scrape = get(&format!("http://127.0.0.1:{admin}/metrics"))
            .await
            .text();
        lost = scrape
            .lines()
            .find_map(|l| l.strip_prefix("casegate_audit_write_failures_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if lost >= 3.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lost, 3.0);
    let ready = get(&format!("http://127.0.0.1:{admin}/readyz")).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "degraded");
    assert_eq!(ready.json()["checks"]["audit"]["ok"], false);
    stop(gateway, &mut log);
    assert_eq!(
        log.matches("cannot write the audit log").count(),
        1,
        "{log}"
    );
}

/// The failure log of the observe layer: at `warn`, a 5xx answer is logged at ERROR with its
/// request id, and an answer that succeeded is not logged at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_answer_is_logged_at_error_with_its_request_id() {
    // CSV fails upstream (casegate answers 502); JSON is served.
    let upstream = FakeUpstream::with(on_getreport(|r| {
        if r.uri.query().unwrap_or_default().contains("Format=csv") {
            response(500, &[], "upstream broke")
        } else {
            default_handler(r)
        }
    }))
    .await;
    let (gateway, port, _dir) = gateway_at_warn(&upstream).await;
    let mut log = String::new();
    let ask = |id: &'static str, format: &'static str| {
        let request = http::Request::get(format!(
            "http://127.0.0.1:{port}/getreport?ReportId=10800&Format={format}"
        ))
        .header("x-request-id", id)
        .header("authorization", format!("Bearer {}", caller_token()));
        send_as_is(request.body(Default::default()).unwrap())
    };
    let ok = ask("trace-ok", "json").await;
    let failed = ask("trace-failed", "csv").await;
    assert_eq!([ok.status.as_u16(), failed.status.as_u16()], [200, 502]);
    stop(gateway, &mut log);

    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["target"] != "audit")
        .collect();
    let failure = lines
        .iter()
        .find(|e| e["message"] == "response failed")
        .unwrap_or_else(|| panic!("no failure logged:\n{log}"));
    assert_eq!(failure["level"], "ERROR", "{failure}");
    assert_eq!(failure["status"], 502, "{failure}");
    // At warn the request's span (an INFO one) is off: the line names the request itself.
    assert_eq!(failure["request_id"], "trace-failed", "{failure}");
    assert!(
        !lines.iter().any(|e| e.to_string().contains("trace-ok")),
        "an answer that succeeded was logged at warn:\n{log}"
    );
}
