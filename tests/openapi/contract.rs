//! schemathesis (PyPI) against a real gateway in front of the sandbox: generated requests, valid
//! and invalid, and every response checked against the description the admin listener serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use casegate::sandbox::{self, SandboxConfig, DEMO_API_KEY, DEMO_SECRET_KEY};

use crate::common::*;

/// The version `.ci/run` installs; the flags below are schemathesis 4's.
const PINNED: &str = "4.32.5";

/// Where `.ci/run` installs it.
const VENV_ST: &str = "/opt/casegate-venv/bin/st";

/// The checks that hold for this API. Left out on purpose: `positive_data_acceptance` (a valid
/// request for a report iCasework does not have is its 400), `unsupported_method` and
/// `allow_header_conformance` (other methods are 400 with iCasework's code 8000, not 405, and
/// the refused methods are described as operations so that answer is in the contract).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_headers_conformance,response_schema_conformance,negative_data_rejection,\
    ignored_auth,missing_required_header";

/// The schemathesis binary: `CASEGATE_SCHEMATHESIS`, else the venv `.ci/run` makes, else `st`
/// on PATH. Missing is a failure that says how to install it, never a skip.
fn schemathesis() -> PathBuf {
    let found = std::env::var_os("CASEGATE_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(VENV_ST)).filter(|p| p.is_file()))
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("st"))
                .find(|p| p.is_file())
        });
    let how = format!(
        "install it as .ci/run does: python3 -m venv /opt/casegate-venv && \
         /opt/casegate-venv/bin/pip install schemathesis=={PINNED} \
         (Debian needs python3-venv), or set CASEGATE_SCHEMATHESIS to its `st` binary"
    );
    let st = found.unwrap_or_else(|| panic!("schemathesis is not installed: {how}"));
    let version = Command::new(&st)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run ({e}): {how}", st.display()));
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.contains("version 4."),
        "{} is {version:?}; this test needs schemathesis 4 ({PINNED}): {how}",
        st.display()
    );
    st
}

/// The grant schemathesis calls under: every report, some columns withheld, one parameter
/// forbidden (so 403 is exercised too), a quota (RateLimit fields) and the cache (ETag, 304).
const POLICY: &str = r#"
[hashing]
key = { file = "hash-key" }

[[grant]]
name = "contract"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.columns]
drop = ["Customer.Address"]
mask = ["Customer.Phone"]
hash = ["Customer.EmailAddress"]
[grant.parameters]
forbid = ["AttributeFilter3"]
[grant.limits]
rate = "1000000/minute"
cache_ttl = "60s"
"#;

async fn gateway() -> (TestGateway, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Report 10805 is 1 GiB by default; schemathesis may well ask for it.
    let config = SandboxConfig {
        huge_bytes: 256 * 1024,
        ..SandboxConfig::default()
    };
    tokio::spawn(sandbox::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    // Entries up to 2 KiB: the description's example reports are the empty one (10802), which
    // is cached (MISS, HIT, 304), and the vendor's example (10800, 4 KiB), which streams
    // through (BYPASS), so both paths answer schemathesis.
    let toml = config_toml(&url, "", "")
        .replace("environment = \"production\"", "environment = \"uat\"")
        .replace("account = \"exampleco\"", "account = \"sandbox\"")
        + "\n[cache]\nmax_entry_bytes = \"2 KiB\"\n";
    let files = [
        ("api-key", DEMO_API_KEY),
        ("secret-key", DEMO_SECRET_KEY),
        ("policy.toml", POLICY),
        ("hash-key", include_str!("../../policies/sandbox/hash-key")),
    ];
    (TestGateway::start_with_files(&toml, &files).await, stop)
}

/// Runs schemathesis with `args` in `dir` (where it keeps its cache, never the repository) on
/// a blocking thread (the gateway serves on this runtime).
async fn run(st: PathBuf, args: Vec<String>, dir: &Path) -> Output {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || Command::new(st).args(args).current_dir(dir).output())
        .await
        .unwrap()
        .expect("schemathesis runs")
}

fn common_args(schema: &str, gateway: &TestGateway, reports: &Path) -> Vec<String> {
    [
        "run",
        schema,
        "--url",
        &gateway.url(""),
        "--header",
        &format!("Authorization: Bearer {}", caller_token()),
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261128",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--report",
        "har",
        "--report-har-path",
        &reports.join("run.har").display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How many responses of each (method, status), and of each `X-Cache`, the run's HAR file holds.
fn tally(har: &Path) -> (BTreeMap<(String, u64), usize>, BTreeMap<String, usize>) {
    let har: serde_json::Value =
        serde_json::from_slice(&std::fs::read(har).expect("the HAR report")).unwrap();
    let (mut statuses, mut x_cache) = (BTreeMap::new(), BTreeMap::new());
    for entry in har["log"]["entries"].as_array().unwrap() {
        let method = entry["request"]["method"].as_str().unwrap().to_owned();
        let status = entry["response"]["status"].as_u64().unwrap();
        *statuses.entry((method, status)).or_insert(0) += 1;
        for header in entry["response"]["headers"].as_array().unwrap() {
            if header["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("x-cache")
            {
                let value = header["value"].as_str().unwrap().to_owned();
                *x_cache.entry(value).or_insert(0) += 1;
            }
        }
    }
    (statuses, x_cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_gateway_true_to_its_description() {
    let st = schemathesis();
    let (gateway, _stop) = gateway().await;
    let reports = tempfile::tempdir().unwrap();
    // The description as the admin listener serves it, so that is checked too.
    let schema = format!("http://{}/openapi.yaml", gateway.admin_addr);
    let mut args = common_args(&schema, &gateway, reports.path());
    args.extend(["--max-examples".to_owned(), "40".to_owned()]);
    let output = run(st, args, reports.path()).await;
    assert!(
        output.status.success(),
        "schemathesis found the gateway and its description disagree:\n{}",
        shown(&output)
    );
    // It did exercise the API: reports, refusals of each kind, and the method refusals.
    let (counts, x_cache) = tally(&reports.path().join("run.har"));
    println!("responses by (method, status): {counts:?}; by X-Cache: {x_cache:?}");
    for kind in ["HIT", "MISS", "BYPASS"] {
        assert!(
            x_cache.contains_key(kind),
            "no X-Cache: {kind}: {x_cache:?}"
        );
    }
    for (method, status) in [
        ("GET", 200),
        ("HEAD", 200),
        ("GET", 400),
        ("GET", 401),
        ("GET", 403),
        ("POST", 400),
    ] {
        assert!(
            counts.contains_key(&(method.to_owned(), status)),
            "no {method} answered {status}: {counts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_fails_the_test_on_a_description_the_gateway_breaks() {
    let st = schemathesis();
    let (gateway, _stop) = gateway().await;
    let dir = tempfile::tempdir().unwrap();
    // A description that says a fresh fetch is never a MISS: the gateway's first answer is.
    let wrong = super::spec::YAML.replace("enum: [HIT, MISS, STALE, BYPASS]", "enum: [HIT]");
    assert_ne!(wrong, super::spec::YAML);
    let schema = dir.path().join("wrong.yaml");
    std::fs::write(&schema, wrong).unwrap();
    let mut args = common_args(&schema.display().to_string(), &gateway, dir.path());
    args.extend(
        ["--max-examples", "5", "--include-operation-id", "getReport"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    let output = run(st, args, dir.path()).await;
    let text = shown(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    // ST108: a response header that does not fit its schema; the MISS that broke it.
    assert!(
        text.contains("ST108") && text.contains("\"MISS\" is not one of \"HIT\""),
        "the failure is the X-Cache header:\n{text}"
    );
}
