//! The Kubernetes manifests in deploy/kubernetes: valid against the Kubernetes schemas and the
//! ServiceMonitor CRD, strictly, and shaped as the operations issue asks (validate.py); and the
//! configuration and policy their ConfigMap carries are accepted by `casegate check`; the
//! Dockerfile (check_dockerfile.py) and the systemd unit (systemd-analyze).
//!
//! The validator's tools live in a Python virtual environment: `.venv` at the repository's root
//! (or the interpreter named by `CASEGATE_DEPLOY_PYTHON`), made by .ci/run:
//!   python3 -m venv .venv && .venv/bin/pip install -r deploy/kubernetes/requirements.txt

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The virtual environment's Python; fails the test with the fix when it is missing.
fn python() -> Command {
    let python = std::env::var_os("CASEGATE_DEPLOY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: make the validator's environment with `python3 -m venv .venv && \
         .venv/bin/pip install -r deploy/kubernetes/requirements.txt` (Debian: apt-get install \
         python3-venv), as .ci/run does, or set CASEGATE_DEPLOY_PYTHON",
        python.display()
    );
    let mut command = Command::new(python);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo("deploy/kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_manifest_is_valid_and_as_the_issue_asks() {
    let files = manifests();
    assert!(files.len() >= 7, "{files:?}");
    let output = python()
        .arg("deploy/kubernetes/validate.py")
        .args(&files)
        .output()
        .unwrap();
    let out = text(&output);
    assert!(
        output.status.success(),
        "validate.py found problems:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "{} manifests checked, 0 problems",
            files.len() + 1
        )),
        "service.yaml holds two Services, every other file one manifest:\n{out}"
    );
}

#[test]
fn the_validator_refuses_what_the_schemas_or_the_issue_forbid() {
    // The validator itself can fail: a typo in a field, a custom resource field that does not
    // exist, a writable root file system.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for file in manifests() {
        let text = std::fs::read_to_string(&file).unwrap();
        let broken = match file.file_name().unwrap().to_str().unwrap() {
            "deployment.yaml" => text.replace("periodSeconds: 5", "periodSecond: 5").replace(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
            ),
            "servicemonitor.yaml" => text.replace("interval: 15s", "interval: 15s\n      bogus: 1"),
            _ => text,
        };
        let path = dir.path().join(file.file_name().unwrap());
        std::fs::write(&path, broken).unwrap();
        files.push(path);
    }
    let output = python()
        .arg("deploy/kubernetes/validate.py")
        .args(&files)
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("'periodSecond' was unexpected"), "{out}");
    assert!(out.contains("'bogus' was unexpected"), "{out}");
    assert!(
        out.contains("the pod lacks readOnlyRootFilesystem"),
        "{out}"
    );
}

#[test]
fn the_configmaps_configuration_and_policy_pass_casegate_check() {
    // The ConfigMap's files, as the pod sees them, with the Secret's files where the pod has
    // them (/run/secrets/casegate), moved into a scratch folder.
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let output = python()
        .args([
            "-c",
            "import sys, yaml, pathlib\n\
             doc = yaml.safe_load(open('deploy/kubernetes/configmap.yaml'))\n\
             for name, text in doc['data'].items():\n\
             \x20   pathlib.Path(sys.argv[1], name).write_text(text)\n",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    for name in ["casegate.toml", "policy.toml"] {
        let path = dir.path().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("/run/secrets/casegate/"),
            "{name} reads the Secret's files"
        );
        let moved = text.replace("/run/secrets/casegate/", &format!("{}/", secrets.display()));
        std::fs::write(&path, moved).unwrap();
    }
    for (name, value) in [
        ("icasework-api-key", "an-api-key"),
        ("icasework-secret-key", "a-secret-key-of-some-length"),
        ("admin-token", "an-admin-token-of-some-length"),
        (
            "hash-key",
            "0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ] {
        std::fs::write(secrets.join(name), value).unwrap();
    }
    let check = || {
        let output = Command::new(env!("CARGO_BIN_EXE_casegate"))
            .args(["check", "--config"])
            .arg(dir.path().join("casegate.toml"))
            .output()
            .unwrap();
        (output.status.code(), text(&output))
    };
    let (code, out) = check();
    assert_eq!(
        code,
        Some(0),
        "casegate check on the ConfigMap's files:\n{out}"
    );

    // Without the Secret's files the configuration is refused: the pod would not start.
    std::fs::remove_file(secrets.join("hash-key")).unwrap();
    let (code, out) = check();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("hash-key"), "{out}");
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    // systemd's own checks (Debian package systemd; .ci/run installs it): the unit parses and
    // its ExecStart exists (the binary just built stands in for /usr/local/bin/casegate), and
    // `systemd-analyze security` rates its exposure at most 2.0 of 10 ("OK").
    let unit = std::fs::read_to_string(repo("deploy/systemd/casegate.service")).unwrap();
    assert!(unit
        .contains("ExecStart=/usr/local/bin/casegate serve --config /etc/casegate/casegate.toml"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("casegate.service");
    let here = unit.replace("/usr/local/bin/casegate", env!("CARGO_BIN_EXE_casegate"));
    std::fs::write(&path, here).unwrap();
    let analyze = |args: &[&str]| {
        Command::new("systemd-analyze")
            .args(args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run systemd-analyze ({e}): install the Debian package systemd \
                     (apt-get install -y systemd), as .ci/run does"
                )
            })
    };
    let verify = analyze(&["verify"]);
    // verify exits 0 on unknown keys and unparsable values, but says so.
    assert!(
        verify.status.success() && text(&verify).trim().is_empty(),
        "systemd-analyze verify:\n{}",
        text(&verify)
    );
    let security = analyze(&["security", "--offline=yes", "--threshold=20"]);
    assert!(
        security.status.success(),
        "systemd-analyze security rates the unit above 2.0:\n{}",
        text(&security)
    );
}

#[test]
fn the_dockerfile_is_multi_stage_small_and_non_root() {
    // BuildKit's parser (PyPI `dockerfile`) reads it; check_dockerfile.py checks the stages,
    // the user (the same as the Deployment's), the entry point and the build context.
    let output = python().arg("deploy/check_dockerfile.py").output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("0 problems"));

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("Dockerfile");
    let original = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    std::fs::write(&broken, original.replace("USER 65532:65532", "USER root")).unwrap();
    let output = python()
        .arg("deploy/check_dockerfile.py")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("not a numeric non-root uid"),
        "{}",
        text(&output)
    );
}

#[test]
fn the_profile_guided_build_refuses_an_llvm_profdata_of_another_llvm() {
    // The raw profile's format follows LLVM's version: deploy/build-pgo.sh checks the tool
    // against rustc's LLVM before building anything, and names both.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("llvm-profdata");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'LLVM (http://llvm.org/):'\necho '  LLVM version 3.9.1'\n",
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&fake, executable).unwrap();
    let output = Command::new("bash")
        .arg(repo("deploy/build-pgo.sh"))
        .arg(dir.path().join("casegate"))
        .env("LLVM_PROFDATA", &fake)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let major = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .unwrap()
        .to_owned();
    assert!(
        text(&output).contains(&format!(
            "is not LLVM {major} (rustc's): LLVM version 3.9.1"
        )),
        "{}",
        text(&output)
    );
    assert!(!dir.path().join("casegate").exists());
}
