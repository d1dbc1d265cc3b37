use super::*;
use crate::auth::tests::fixtures;

fn parse(text: &str) -> Result<AuthConfig, Problems> {
    AuthConfig::parse(&fixtures().join("casegate.toml"), text)
}

/// Each problem as (line, message).
fn problems(text: &str) -> Vec<(usize, String)> {
    let problems = parse(text).unwrap_err();
    problems
        .iter()
        .map(|p| (p.line, p.message.clone()))
        .collect()
}

fn assert_problem(text: &str, line: usize, needle: &str) {
    let found = problems(text);
    assert!(
        found.iter().any(|(l, m)| *l == line && m.contains(needle)),
        "expected {needle:?} on line {line}, got {found:#?}"
    );
}

const ISSUER: &str = r#"[[auth.issuers]]
issuer = "https://login.example.org/"
audiences = ["casegate"]
"#;

#[test]
fn every_source_with_defaults() {
    let config = parse(
        r#"[auth]
[[auth.issuers]]
issuer = "https://a.example/"
audiences = ["casegate", "reports"]
algorithms = ["RS256", "PS256", "ES256", "EdDSA"]
pem_files = [
    { path = "rsa-public.pem", kid = "r" },
    { path = "ec-public.pem" },
    { path = "ed-public.pem" },
]
[[auth.issuers]]
issuer = "https://b.example/"
audiences = ["casegate"]
algorithms = ["HS256", "HS512"]
hmac_secret = { file = "hmac-secret" }
[[auth.issuers]]
issuer = "https://c.example/"
audiences = ["casegate"]
algorithms = ["RS256"]
discovery_url = "https://c.example/.well-known/openid-configuration"
refresh_interval = "1h"
min_refetch_interval = "1m"
fetch_timeout = "2s"
[[auth.issuers]]
issuer = "https://d.example/"
audiences = ["casegate"]
algorithms = ["ES384"]
jwks_url = "http://127.0.0.1:9999/keys"
"#,
    )
    .unwrap();
    assert_eq!(config.max_token_bytes, 8192);
    assert_eq!(config.leeway, Duration::from_secs(60));
    assert_eq!(config.remember, 10_000);
    let [a, b, c, d] = &config.issuers[..] else {
        panic!("four issuers")
    };
    assert!(matches!(&a.keys, KeySource::Static(set) if set.len() == 3));
    assert!(matches!(&b.keys, KeySource::Static(set) if set.len() == 1));
    assert_eq!(b.algorithms, [Algorithm::HS256, Algorithm::HS512]);
    assert!(matches!(&c.keys, KeySource::Discovery(u) if u.host() == Some("c.example")));
    assert_eq!(c.refresh_interval, Duration::from_secs(3600));
    assert_eq!(c.min_refetch_interval, Duration::from_secs(60));
    assert_eq!(c.fetch_timeout, Duration::from_secs(2));
    assert!(matches!(&d.keys, KeySource::JwksUrl(_)));
    assert_eq!(d.refresh_interval, Duration::from_secs(600));
    assert_eq!(d.min_refetch_interval, Duration::from_secs(30));
    assert!(!format!("{config:?}").contains("casegate-test-hmac"));
}

#[test]
fn shared_settings_are_checked() {
    let text = format!(
        "[auth]\nmax_token_bytes = 10\nleeway = \"1h\"\nremember = -1\n{ISSUER}algorithms = [\"RS256\"]\npem_files = [{{ path = \"rsa-public.pem\" }}]\n"
    );
    assert_problem(&text, 2, "auth.max_token_bytes must be between");
    assert_problem(&text, 3, "auth.leeway");
    assert_problem(&text, 4, "auth.remember");
    assert_problem(
        "[auth]\nleeway = \"0s\"\n",
        1,
        "at least one [[auth.issuers]]",
    );
    assert_problem(
        "[auth]\nissuers = []\nsurprise = 1\n",
        3,
        "unknown field `surprise`",
    );
}

#[test]
fn algorithms_must_fit_the_key_source() {
    let pem = r#"pem_files = [{ path = "rsa-public.pem" }]"#;
    let text = format!(
        "[auth]\n{ISSUER}algorithms = [\"RS256\", \"ES256\", \"HS256\", \"RS999\"]\n{pem}\n"
    );
    assert_problem(&text, 5, "ES256 needs an EC P-256 key");
    assert_problem(&text, 5, "HS256 needs hmac_secret");
    assert_problem(&text, 5, "unknown algorithm \"RS999\"");
    let hmac = r#"hmac_secret = { file = "hmac-secret" }"#;
    let text = format!("[auth]\n{ISSUER}algorithms = [\"RS256\"]\n{hmac}\n");
    assert_problem(&text, 5, "RS256 needs a public key");
    let remote = r#"jwks_url = "https://login.example.org/keys""#;
    let text = format!("[auth]\n{ISSUER}algorithms = [\"HS256\"]\n{remote}\n");
    assert_problem(&text, 5, "HS256 needs hmac_secret");
    assert_problem(
        &format!("[auth]\n{ISSUER}algorithms = []\n{pem}\n"),
        5,
        "must not be empty",
    );
}

#[test]
fn short_hmac_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "x".repeat(40)).unwrap();
    let text = format!(
        "[auth]\n{ISSUER}algorithms = [\"HS256\", \"HS384\"]\nhmac_secret = {{ file = {short:?} }}\n"
    );
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]
        .1
        .contains("HS384 needs an hmac_secret of at least 48 bytes"));
    let unset = "hmac_secret = { env = \"CASEGATE_TEST_SURELY_UNSET_VAR\" }";
    let text = format!("[auth]\n{ISSUER}algorithms = [\"HS256\"]\n{unset}\n");
    assert_problem(&text, 6, "CASEGATE_TEST_SURELY_UNSET_VAR is not set");
}

#[test]
fn key_files_are_read_and_checked() {
    let text = format!(
        "[auth]\n{ISSUER}algorithms = [\"RS256\"]\npem_files = [\n  {{ path = \"nope.pem\" }},\n  {{ path = \"rsa-private.pem\", kid = \"a\" }},\n  {{ path = \"rsa-public.pem\", kid = \"a\" }},\n]\n"
    );
    assert_problem(&text, 7, "cannot read");
    assert_problem(&text, 8, "private key");
    assert_problem(&text, 9, "kid \"a\" is empty or repeated");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
    let text = format!("[auth]\n{ISSUER}algorithms = [\"RS256\"]\njwks_file = {jwks:?}\n");
    assert_problem(&text, 6, "no usable signature key");
}

#[test]
fn issuers_audiences_and_sources() {
    let pem = "algorithms = [\"RS256\"]\npem_files = [{ path = \"rsa-public.pem\" }]\n";
    let text = format!("[auth]\n{ISSUER}{pem}{ISSUER}{pem}");
    assert_problem(&text, 8, "configured twice");
    let text = format!("[auth]\n[[auth.issuers]]\nissuer = \"\"\naudiences = []\n{pem}");
    assert_problem(&text, 3, "issuer must not be empty");
    assert_problem(&text, 4, "one or more non-empty audiences");
    let text = "[auth]\n[[auth.issuers]]\nalgorithms = [\"RS256\"]\n";
    assert_problem(text, 2, "issuer is required");
    assert_problem(text, 2, "audiences is required");
    assert_problem(text, 2, "needs one key source");
    let two = "jwks_url = \"https://a.example/k\"\ndiscovery_url = \"https://a.example/d\"\n";
    let text = format!("[auth]\n{ISSUER}algorithms = [\"RS256\"]\n{two}");
    assert_problem(&text, 7, "both jwks_url and discovery_url");
}

#[test]
fn urls_and_remote_settings() {
    for (url, why) in [
        ("http://login.example.org/keys", "must use https://"),
        ("/keys.json", "not an absolute URL"),
        ("keys.json", "https:// URL"),
        ("ftp://login.example.org/keys", "https:// URL"),
        ("https://exa mple.org/", "not a URL"),
    ] {
        let text = format!("[auth]\n{ISSUER}algorithms = [\"RS256\"]\njwks_url = {url:?}\n");
        assert_problem(&text, 6, why);
    }
    for ok in [
        "http://localhost:8080/k",
        "http://[::1]:8080/k",
        "http://127.0.0.2/k",
    ] {
        assert!(fetch_url(ok).is_ok(), "{ok}");
    }
    let text = format!(
        "[auth]\n{ISSUER}algorithms = [\"RS256\"]\njwks_url = \"https://a.example/k\"\nrefresh_interval = \"0s\"\nfetch_timeout = \"soon\"\n"
    );
    assert_problem(&text, 7, "refresh_interval must be a positive duration");
    assert_problem(&text, 8, "fetch_timeout must be a positive duration");
    let text = format!(
        "[auth]\n{ISSUER}algorithms = [\"RS256\"]\npem_files = [{{ path = \"rsa-public.pem\" }}]\nmin_refetch_interval = \"1s\"\n"
    );
    assert_problem(&text, 7, "applies to jwks_url and discovery_url only");
}
