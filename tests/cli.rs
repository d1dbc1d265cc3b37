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
    assert!(stderr.contains("missing [auth]"), "{stderr}");
    assert!(
        stderr.contains("policy = \"policy.toml\" is required"),
        "{stderr}"
    );
    assert!(stderr.contains("6 problem(s)"), "{stderr}");
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

/// A token from the demo identity provider (policies/demo-keys) with `claims`.
fn demo_token(claims: serde_json::Value, exp_offset: i64) -> String {
    let pem = std::fs::read("policies/demo-keys/demo-issuer-private.pem").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = claims;
    claims["iss"] = "https://idp.example.org".into();
    claims["aud"] = "casegate".into();
    claims["exp"] = (now + exp_offset).into();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn explain(args: &[&str]) -> (Option<i32>, String) {
    let out = casegate()
        .args(["explain", "--config", "policies/demo.toml"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code(),
        stdout + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn explain_with_claims_shows_the_deciding_grant_and_exits_1_when_denied() {
    let claims =
        r#"{"iss":"https://idp.example.org","sub":"svc-analytics","azp":"analytics-exporter"}"#;
    let (code, out) = explain(&[
        "--claims",
        claims,
        "--report",
        "10800",
        "--param",
        "Format=csv",
        "--param",
        "Keywords=x",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("token: not checked"), "{out}");
    assert!(
        out.contains("decision: DENIED (parameter_forbidden) by grant \"analytics\""),
        "{out}"
    );
    assert!(
        out.contains("\"casework-leads\": who does not match"),
        "{out}"
    );

    let (code, out) = explain(&[
        "--claims",
        claims,
        "--report",
        "10800",
        "--param",
        "Format=csv",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ALLOWED by grant \"analytics\""), "{out}");
    assert!(out.contains("drop Customer.*"), "{out}");
    assert!(out.contains("limits: rate 100/minute"), "{out}");
}

#[test]
fn explain_with_a_token_verifies_it_first() {
    let lead = demo_token(
        serde_json::json!({"sub": "lead-1", "groups": ["casework-leads"]}),
        600,
    );
    let (code, out) = explain(&["--token", &lead, "--report", "10802"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("token: valid (issuer https://idp.example.org, subject lead-1)"),
        "{out}"
    );
    assert!(out.contains("ALLOWED by grant \"casework-leads\""), "{out}");

    let expired = demo_token(
        serde_json::json!({"sub": "lead-1", "groups": ["casework-leads"]}),
        -3600,
    );
    let (code, out) = explain(&["--token", &expired, "--report", "10802"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("token: INVALID") && out.contains("token_expired"),
        "{out}"
    );

    let (code, out) = explain(&["--token", &lead, "--report", "10802", "--param", "db=x"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("request: INVALID") && out.contains("db"),
        "{out}"
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
    std::fs::write(
        dir.path().join("k"),
        "k-but-at-least-32-bytes-long-for-hs256",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[[grant]]\nname = \"a\"\nreports = \"all\"\nwho = { sub = \"a\" }\n",
    )
    .unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "policy = \"p.toml\"\n[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\naccount = \"a\"\nbase_url = \"http://127.0.0.1:9\"\n[upstream.credential]\napi_key = { file = \"k\" }\nsecret_key = { file = \"k\" }\n[[auth.issuers]]\nissuer = \"https://i\"\naudiences = [\"c\"]\nalgorithms = [\"HS256\"]\nhmac_secret = { file = \"k\" }\n",
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
