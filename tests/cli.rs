//! The `casegate` command itself: `check`, `explain`, `--version`, `--help`, and `serve` with
//! signals.

use std::process::Command;

fn casegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casegate"))
}

#[test]
fn check_accepts_the_demo_configuration() {
    let out = casegate()
        .args(["check", "--config", "policies/demo.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn check_prints_every_problem_with_file_and_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"nowhere\"\n\n[upstream]\naccount = \"Bad Name\"\n\n[upstream.credential]\napi_key = { env = \"CASEGATE_CLI_TEST_UNSET\" }\nsecret_key = { file = \"no-such-file\" }\n",
    )
    .unwrap();
    let out = casegate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for line in [2, 5, 8, 9] {
        assert!(
            stderr.contains(&format!("{file}:{line}:")),
            "line {line} missing:\n{stderr}"
        );
    }
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
}

#[test]
fn check_reports_an_unreadable_file() {
    let out = casegate()
        .args(["check", "--config", "/nonexistent/casegate.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/casegate.toml:1:1"));
}

#[test]
fn check_validates_policies_with_file_and_line() {
    let out = casegate()
        .args(["check", "--policy", "policies/example.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("policy is valid"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "[[grant]]\nname = \"a\"\nreports = []\nwho = { sub = \"a\" }\n\n[[grant]]\nname = \"a\"\nreports = [1]\nwho = { sub = \"b\" }\n",
    )
    .unwrap();
    let out = casegate()
        .args(["check", "--config", "policies/demo.toml", "--policy"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for line in [3, 7] {
        assert!(
            stderr.contains(&format!("{file}:{line}:")),
            "line {line} missing:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("2 problem(s) found; the policy is not valid"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
}

#[test]
fn explain_shows_the_decision_and_why() {
    let out = casegate()
        .args(["explain", "--policy", "policies/example.toml", "--claims"])
        .arg(
            r#"{"iss":"https://idp.example.org","sub":"svc-analytics","azp":"analytics-exporter"}"#,
        )
        .args(["--query", "ReportId=10800&Format=csv&Keywords=x"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("decision: DENIED (parameter_forbidden) by grant \"analytics\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"casework-leads\": who does not match"),
        "{stdout}"
    );
}

#[test]
fn version_and_help() {
    let out = casegate().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = casegate().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "check", "explain", "sandbox", "demo"] {
        assert!(help.contains(command), "{help}");
    }
}

#[cfg(unix)]
#[test]
fn serve_drains_and_exits_0_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "k").unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\n[upstream]\naccount = \"a\"\nbase_url = \"http://127.0.0.1:9\"\n[upstream.credential]\napi_key = { file = \"k\" }\nsecret_key = { file = \"k\" }\n",
    )
    .unwrap();
    let mut child = casegate()
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("casegate is serving"));
    assert!(serving, "no 'serving' log line");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
