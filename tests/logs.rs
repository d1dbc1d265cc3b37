//! Runs the real binaries (sandbox and gateway, debug logging) through reports full of personal
//! data, errors included, and checks that no secret, token or report value reaches the logs.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use common::*;

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
    let config = config_toml(&sandbox_url, "", "")
        .replace("environment = \"production\"", "environment = \"uat\"")
        .replace("account = \"exampleco\"", "account = \"sandbox\"");
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
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
    // The admin listener announces itself too; the reports are on the public one.
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
    stop(gateway, &mut log);
    stop(sandbox, &mut sandbox_log);

    assert!(
        log.contains("request"),
        "the gateway logged nothing:\n{log}"
    );
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
        "caller-cookie-should-never-be-logged".into(),
        "Bloggs".into(),
        "prasad.iyer".into(),
        "Bearer ".into(),
    ];
    forbidden.extend(values);
    for needle in &forbidden {
        assert!(
            !log.contains(needle.as_str()),
            "the gateway log contains {needle:?}"
        );
    }
    // Sandbox tokens are 64 hex digits: none may appear in the gateway's log.
    let hex_run = log
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() >= 64);
    assert!(!hex_run, "something token-like is in the gateway log");
}
