use std::path::PathBuf;

use super::super::{Config, CredentialConfig, Problems};
use super::*;
use crate::params::Param;

pub(super) struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api-key"), "k\n").unwrap();
        std::fs::write(dir.path().join("secret"), "s\n").unwrap();
        std::fs::write(
            dir.path().join("hmac"),
            "a-caller-hmac-secret-of-32-bytes-or-more",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("policy.toml"),
            "[[grant]]\nname = \"all\"\nreports = \"all\"\nwho = { sub = \"svc\" }\n",
        )
        .unwrap();
        Dir { dir }
    }

    pub(super) fn path(&self) -> PathBuf {
        self.dir.path().join("casegate.toml")
    }

    pub(super) fn parse(&self, text: &str) -> Result<Config, Problems> {
        Config::parse(&self.path(), text)
    }
}

pub(super) const VALID: &str = r#"policy = "policy.toml"
[server]
listen = "127.0.0.1:0"

[upstream]
environment = "uat"
account = "exampleco"
first_byte_timeout = "30s"
max_response_bytes = "64 MiB"

[upstream.credential]
api_key = { file = "api-key" }
secret_key = { file = "secret" }

[[auth.issuers]]
issuer = "https://idp.example.org"
audiences = ["casegate"]
algorithms = ["HS256"]
hmac_secret = { file = "hmac" }
"#;

#[test]
fn valid_config_with_defaults() {
    let dir = Dir::new();
    let config = dir.parse(VALID).unwrap();
    assert_eq!(config.server.listen.port(), 0);
    assert_eq!(config.server.limits.max_query_bytes, 4096);
    assert_eq!(
        config.upstream.endpoint.token_url(),
        "https://uat.icasework.com/token?db=exampleco"
    );
    assert_eq!(config.upstream.first_byte_timeout, Duration::from_secs(30));
    assert_eq!(config.upstream.max_response_bytes, 64 * 1024 * 1024);
    let CredentialConfig::OAuth(oauth) = &config.upstream.credential else {
        panic!("oauth is the default scheme")
    };
    assert_eq!(oauth.refresh_margin, Duration::from_secs(60));
    assert!(!format!("{config:?}").contains("secret\""));
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let dir = Dir::new();
    let text = r#"[server]
listen = "not an address"
max_query_bytes = 1

[upstream]
environment = "staging"
account = "exampleco"
connect_timeout = "soon"

[upstream.credential]
api_key = { env = "CASEGATE_TEST_SURELY_UNSET_VAR" }
secret_key = { file = "missing-file" }
"#;
    let problems = dir.parse(text).unwrap_err();
    let lines: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    let expect = [
        (2, "server.listen"),
        (3, "server.max_query_bytes"),
        (6, "upstream.environment"),
        (8, "upstream.connect_timeout"),
        (11, "CASEGATE_TEST_SURELY_UNSET_VAR"),
        (12, "missing-file"),
        (1, "missing [auth]"),
        (1, "policy = \"policy.toml\" is required"),
    ];
    for (line, needle) in expect {
        assert!(
            lines.iter().any(|(l, m)| *l == line && m.contains(needle)),
            "no problem on line {line} mentioning {needle}: {problems}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems}");
    assert!(problems
        .to_string()
        .starts_with(&format!("{}:2:10: ", dir.path().display())));
}

#[test]
fn unknown_keys_and_syntax_errors_have_a_line() {
    let dir = Dir::new();
    let problems = dir
        .parse(&VALID.replace("account =", "acount = \"x\"\naccount ="))
        .unwrap_err();
    let p = problems.iter().next().unwrap();
    assert_eq!(p.line, 7, "{problems}");
    assert!(p.message.contains("acount"), "{problems}");

    let problems = dir.parse("[upstream\naccount = 1").unwrap_err();
    assert_eq!(problems.iter().next().unwrap().line, 1, "{problems}");
}

#[test]
fn missing_sections_are_named() {
    let dir = Dir::new();
    let problems = dir.parse("").unwrap_err();
    assert!(problems.to_string().contains("[upstream]"), "{problems}");
    let problems = dir.parse("[upstream]\naccount = \"a\"\n").unwrap_err();
    assert!(
        problems.to_string().contains("[upstream.credential]"),
        "{problems}"
    );
}

#[test]
fn key_signature_scheme_and_misplaced_fields() {
    let dir = Dir::new();
    let text = VALID.replace(
        "[upstream.credential]",
        "[upstream.credential]\nscheme = \"key_signature\"\ntime_zone = \"Europe/London\"",
    );
    let config = dir.parse(&text).unwrap();
    let CredentialConfig::KeySignature(ks) = config.upstream.credential else {
        panic!("key_signature scheme")
    };
    assert_eq!(ks.signed_parameter, Param::ReportId);
    assert_eq!(ks.time_zone, chrono_tz::Europe::London);

    let text = VALID.replace(
        "[upstream.credential]",
        "[upstream.credential]\ntime_zone = \"Mars/Olympus\"",
    );
    let problems = dir.parse(&text).unwrap_err();
    assert!(problems.to_string().contains("only applies"), "{problems}");
}

#[test]
fn first_byte_timeout_cannot_exceed_total() {
    let dir = Dir::new();
    let text = VALID.replace(
        "first_byte_timeout = \"30s\"",
        "first_byte_timeout = \"10m\"\ntotal_timeout = \"1m\"",
    );
    let problems = dir.parse(&text).unwrap_err();
    assert!(
        problems.to_string().contains("must not exceed"),
        "{problems}"
    );
}

#[test]
fn resolve_pins_and_ca_file_are_checked() {
    let dir = Dir::new();
    let text = VALID.replace(
        "max_response_bytes = \"64 MiB\"",
        "max_response_bytes = \"64 MiB\"\nca_file = \"api-key\"\n\n[upstream.resolve]\n\"uat.icasework.com\" = \"127.0.0.1:8443\"\n\"UPPER.example\" = \"127.0.0.1:1\"\n\"bad.example\" = \"nowhere\"",
    );
    let problems = dir.parse(&text).unwrap_err();
    let text_of = problems.to_string();
    assert!(text_of.contains("holds no PEM certificate"), "{problems}");
    assert!(
        text_of.contains("\"UPPER.example\" must be a lowercase host name"),
        "{problems}"
    );
    assert!(
        text_of.contains("upstream.resolve.\"bad.example\""),
        "{problems}"
    );
    assert_eq!(problems.len(), 3, "{problems}");

    let ok = VALID.replace(
        "max_response_bytes = \"64 MiB\"",
        "max_response_bytes = \"64 MiB\"\n\n[upstream.resolve]\n\"uat.icasework.com\" = \"127.0.0.1:8443\"",
    );
    let config = dir.parse(&ok).unwrap();
    assert_eq!(
        config.upstream.connect.resolve["uat.icasework.com"],
        "127.0.0.1:8443".parse().unwrap()
    );
}

#[test]
fn protection_defaults_and_values() {
    use crate::upstream::protect::ProtectionConfig;
    let dir = Dir::new();
    let config = dir.parse(VALID).unwrap();
    assert_eq!(config.upstream.protection, ProtectionConfig::default());
    assert_eq!(config.upstream.protection.max_concurrent, 32);
    assert_eq!(
        config.upstream.protection.rate, None,
        "no global rate unless set"
    );

    let text = VALID.replace(
        "[upstream.credential]",
        "[upstream.protection]\nmax_concurrent = 8\nqueue_timeout = \"500ms\"\nrate = \"50/second\"\n\
         retries = 0\nretry_backoff = \"50ms\"\nretry_backoff_max = \"1s\"\nretry_budget = 0.2\n\
         breaker_failures = 3\nbreaker_open_for = \"10s\"\n\n[upstream.credential]",
    );
    let p = dir.parse(&text).unwrap().upstream.protection;
    assert_eq!(p.max_concurrent, 8);
    assert_eq!(p.queue_timeout, Duration::from_millis(500));
    assert_eq!(
        p.rate.map(|r| (r.requests, r.per)),
        Some((50, Duration::from_secs(1)))
    );
    assert_eq!(p.retries, 0);
    assert_eq!(p.retry_backoff, Duration::from_millis(50));
    assert_eq!(p.retry_backoff_max, Duration::from_secs(1));
    assert_eq!(p.retry_budget, 0.2);
    assert_eq!(p.breaker_failures, 3);
    assert_eq!(p.breaker_open_for, Duration::from_secs(10));
}

#[test]
fn protection_problems_are_reported_with_their_lines() {
    let dir = Dir::new();
    // Line 11 is the section; each bad value follows on its own line.
    let text = VALID.replace(
        "[upstream.credential]",
        "[upstream.protection]\nmax_concurrent = 0\nqueue_timeout = \"0s\"\nrate = \"fast\"\n\
         retries = 11\nretry_budget = 1.5\nbreaker_failures = -1\nbreaker_open_for = \"later\"\n\
         limit = 3\n\n[upstream.credential]",
    );
    let problems = dir.parse(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "unknown keys stop the parse: {problems}");
    assert!(problems.to_string().contains("limit"), "{problems}");

    let text = text.replace("limit = 3\n", "");
    let problems = dir.parse(&text).unwrap_err();
    let lines: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    let expect = [
        (
            12,
            "upstream.protection.max_concurrent must be between 1 and 10000",
        ),
        (
            13,
            "upstream.protection.queue_timeout must be a positive duration",
        ),
        (14, "upstream.protection.rate must look like \"100/minute\""),
        (15, "upstream.protection.retries must be between 0 and 10"),
        (
            16,
            "upstream.protection.retry_budget must be a share of requests from 0 to 1",
        ),
        (
            17,
            "upstream.protection.breaker_failures must be between 1 and 10000",
        ),
        (
            18,
            "upstream.protection.breaker_open_for must be a positive duration",
        ),
    ];
    for (line, needle) in expect {
        assert!(
            lines.iter().any(|(l, m)| *l == line && m.contains(needle)),
            "no problem on line {line} mentioning {needle}: {problems}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems}");

    let text = VALID.replace(
        "[upstream.credential]",
        "[upstream.protection]\nretry_backoff = \"5s\"\n\n[upstream.credential]",
    );
    let problems = dir.parse(&text).unwrap_err();
    let p = problems.iter().next().unwrap();
    assert_eq!(p.line, 12, "{problems}");
    assert!(
        p.message.contains("must not exceed retry_backoff_max"),
        "{problems}"
    );
}

#[test]
fn limits_defaults_and_values() {
    let dir = Dir::new();
    let config = dir.parse(VALID).unwrap();
    assert_eq!(config.limits, crate::limit::LimitConfig::default());
    assert_eq!(config.limits.max_keys, 100_000);

    let text = format!(
        "{VALID}\n[limits]\nrate = \"100/minute\"\nburst = 20\nreport_rate = \"30/minute\"\n\
         miss_rate = \"10/hour\"\nmiss_burst = 2\nmax_keys = 5000\nsweep_interval = \"10s\"\n"
    );
    let limits = dir.parse(&text).unwrap().limits;
    let rate = |s: &str, burst| crate::policy::Rate {
        burst,
        ..crate::policy::Rate::parse(s).unwrap()
    };
    assert_eq!(limits.rate, Some(rate("100/minute", 20)));
    assert_eq!(limits.report_rate, Some(rate("30/minute", 30)));
    assert_eq!(limits.miss_rate, Some(rate("10/hour", 2)));
    assert_eq!(limits.max_keys, 5000);
    assert_eq!(limits.sweep_interval, Duration::from_secs(10));
}

#[test]
fn limits_problems_have_their_lines() {
    let dir = Dir::new();
    let first = VALID.lines().count() + 3;
    let text = format!(
        "{VALID}\n[limits]\nrate = \"100 per minute\"\nreport_burst = 5\nmiss_rate = \"1/s\"\n\
         miss_burst = 0\nmax_keys = 10\nsweep_interval = \"0s\"\nrates = 1\n"
    );
    // An unknown key stops the parse at its line, like every other section.
    let problems = dir.parse(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems}");
    assert!(problems.to_string().contains("rates"), "{problems}");

    let text = text.replace("rates = 1\n", "");
    let problems = dir.parse(&text).unwrap_err();
    let got: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    let expect = [
        (first, "limits.rate must look like \"100/minute\""),
        (first + 1, "limits.report_burst needs limits.report_rate"),
        (first + 3, "limits.miss_burst must be from 1 to 1000000"),
        (
            first + 4,
            "limits.max_keys must be between 100 and 100000000",
        ),
        (
            first + 5,
            "limits.sweep_interval must be a positive duration",
        ),
    ];
    for (line, needle) in expect {
        assert!(
            got.iter().any(|(l, m)| *l == line && m.starts_with(needle)),
            "no problem on line {line} starting {needle:?}: {problems}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems}");
}
