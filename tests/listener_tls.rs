//! casegate's own TLS listener (`[server.tls]`): handshakes with a certificate from a test CA
//! the client trusts, HTTP/2 and HTTP/1.1 by ALPN, and the certificate reloaded from disk: new
//! connections get the new one, open connections keep working, a bad replacement is refused
//! and the old certificate keeps serving.

mod common;

use std::path::Path;
use std::time::Duration;

use common::pki::{Leaf, TestCa, TlsConnection};
use common::process::{ServeProcess, PATIENCE};
use common::*;

const HOST: &str = "gateway.test";

fn tls_toml(upstream: &FakeUpstream) -> String {
    config_toml(&upstream.base_url(), "", "").replace(
        "listen = \"127.0.0.1:0\"\n\n[upstream]",
        "listen = \"127.0.0.1:0\"\n\n[server.tls]\ncert_file = \"tls/cert.pem\"\nkey_file = \"tls/key.pem\"\n\n[upstream]",
    )
}

/// A folder with `tls/cert.pem` and `tls/key.pem` holding `leaf`.
fn dir_with(leaf: &Leaf) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls/key.pem"), &leaf.key_pem).unwrap();
    dir
}

/// Replaces `name` in `dir/tls` the way deployment tools do: a new file renamed over it.
fn replace(dir: &Path, name: &str, content: &str) {
    let tmp = dir.join(format!("tls/.{name}.new"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, dir.join("tls").join(name)).unwrap();
}

/// Opens new connections until one is served `expected`; fails after [`PATIENCE`].
async fn until_served(ca: &TestCa, addr: std::net::SocketAddr, expected: &Leaf) {
    let connector = ca.connector(&["http/1.1"]);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let conn = TlsConnection::open(&connector, addr, HOST).await.unwrap();
        if conn.served == expected.der {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replaced certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_trusted_certificate_serves_http2_and_http1_by_alpn() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&[HOST], "casegate first");
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start_in_dir(dir_with(&leaf), &tls_toml(&upstream), &[]).await;

    for (offered, agreed) in [
        (&["h2", "http/1.1"][..], Some("h2")),
        (&["http/1.1"][..], Some("http/1.1")),
        (&[][..], None),
    ] {
        let mut conn = TlsConnection::open(&ca.connector(offered), gateway.addr, HOST)
            .await
            .unwrap();
        assert_eq!(conn.served, leaf.der, "the configured certificate");
        assert_eq!(conn.alpn.as_deref(), agreed, "offered {offered:?}");
        let got = conn
            .get(HOST, "/getreport?ReportId=10800&Format=json")
            .await
            .unwrap();
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.text(), EXAMPLE_JSON);
    }

    // A client that does not trust the test CA refuses the handshake; plain HTTP gets nothing.
    let stranger = TestCa::new().connector(&["h2"]);
    let refused = TlsConnection::open(&stranger, gateway.addr, HOST).await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    let plain = try_send(
        http::Request::get(format!("http://{}/getreport?ReportId=10800", gateway.addr))
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert!(plain.is_err(), "cleartext HTTP was answered: {plain:?}");
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_and_open_ones_keep_working() {
    let ca = TestCa::new();
    let first = ca.leaf(&[HOST], "casegate first");
    let second = ca.leaf(&[HOST], "casegate second");
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start_in_dir(dir_with(&first), &tls_toml(&upstream), &[]).await;

    let connector = ca.connector(&["h2", "http/1.1"]);
    let mut before = TlsConnection::open(&connector, gateway.addr, HOST)
        .await
        .unwrap();
    assert_eq!(before.served, first.der);
    let got = before
        .get(HOST, "/reports/10800?Format=json")
        .await
        .unwrap();
    assert_eq!(got.status, 200);

    // Key first, then certificate, as two renames: between them the pair does not match,
    // and that state must not be served either.
    replace(gateway.dir(), "key.pem", &second.key_pem);
    replace(gateway.dir(), "cert.pem", &second.cert_pem);
    until_served(&ca, gateway.addr, &second).await;

    // The connection opened before the reload still works.
    let got = before
        .get(HOST, "/reports/10800?Format=json")
        .await
        .unwrap();
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.text(), EXAMPLE_JSON);
}

fn reloads(metrics: &str, result: &str) -> u64 {
    let prefix = format!("casegate_tls_reloads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Waits until the process's metrics count `n` reloads with `result`.
async fn until_reloads(gateway: &ServeProcess, result: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let metrics = get(&format!("http://{}/metrics", gateway.admin))
            .await
            .text();
        let seen = reloads(&metrics, result);
        if seen >= n {
            assert_eq!(seen, n, "more {result} reloads than changes:\n{metrics}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} {result} reload(s) never counted:\n{metrics}\n{}",
            gateway.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_replacement_keeps_the_old_certificate_and_is_counted() {
    let ca = TestCa::new();
    let first = ca.leaf(&[HOST], "casegate first");
    let second = ca.leaf(&[HOST], "casegate second");
    let upstream = FakeUpstream::start().await;
    let dir = dir_with(&first);
    let config = write_config_dir(dir.path(), &tls_toml(&upstream), &[]);
    let mut gateway = ServeProcess::start(&config).await;
    let connector = ca.connector(&["h2"]);
    let served = || async {
        let mut conn = TlsConnection::open(&connector, gateway.public, HOST)
            .await
            .unwrap();
        let got = conn.get(HOST, "/reports/10800?Format=json").await.unwrap();
        assert_eq!(got.status, 200);
        conn.served
    };
    assert_eq!(served().await, first.der);

    // Not a certificate at all.
    replace(dir.path(), "cert.pem", "garbage\n");
    until_reloads(&gateway, "error", 1).await;
    assert_eq!(
        served().await,
        first.der,
        "the old certificate must keep serving"
    );

    // A real certificate, but the key on disk is still the first one's.
    replace(dir.path(), "cert.pem", &second.cert_pem);
    until_reloads(&gateway, "error", 2).await;
    assert_eq!(
        served().await,
        first.der,
        "a mismatched pair must not be served"
    );

    // The matching key arrives: the second pair serves.
    replace(dir.path(), "key.pem", &second.key_pem);
    until_reloads(&gateway, "success", 1).await;
    assert_eq!(served().await, second.der);

    // The refusals were logged with the file and the reason, and no key material.
    let line = gateway
        .wait_for_log(&["TLS certificate reload refused", "does not belong"])
        .await;
    assert!(line.contains("tls/key.pem"), "{line}");
    let log = gateway.log();
    assert!(log.contains("holds no PEM certificate"), "{log}");
    for key in [&first.key_pem, &second.key_pem] {
        let body = key.lines().nth(1).unwrap();
        assert!(
            !log.contains(&body[..20]),
            "key material in the log:\n{log}"
        );
    }
    assert!(!log.contains("PRIVATE KEY-----"), "{log}");
}

#[tokio::test]
async fn a_missing_or_mismatched_pair_stops_the_start_with_a_clear_error() {
    let ca = TestCa::new();
    let first = ca.leaf(&[HOST], "casegate first");
    let other = ca.leaf(&[HOST], "casegate other");
    let upstream = FakeUpstream::start().await;
    let dir = dir_with(&first);
    std::fs::write(dir.path().join("tls/key.pem"), &other.key_pem).unwrap();
    let config = write_config_dir(dir.path(), &tls_toml(&upstream), &[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_casegate"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.tls: the private key in")
            && stderr.contains("does not belong to the first certificate in"),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");

    std::fs::remove_file(dir.path().join("tls/cert.pem")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_casegate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.tls: cannot read the certificate file"),
        "{stderr}"
    );
    assert!(stderr.contains("tls/cert.pem"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_certificate_the_watcher_cannot_see() {
    let ca = TestCa::new();
    let first = ca.leaf(&[HOST], "casegate first");
    let second = ca.leaf(&[HOST], "casegate second");
    let upstream = FakeUpstream::start().await;
    // Both files are symlinks to another folder: changes there make no event in the watched
    // one, and the 60 s poll comes later than this test waits, so only SIGHUP brings them in.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("cert.pem"), &first.cert_pem).unwrap();
    std::fs::write(elsewhere.path().join("key.pem"), &first.key_pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    for name in ["cert.pem", "key.pem"] {
        std::os::unix::fs::symlink(
            elsewhere.path().join(name),
            dir.path().join("tls").join(name),
        )
        .unwrap();
    }
    let config = write_config_dir(dir.path(), &tls_toml(&upstream), &[]);
    let mut gateway = ServeProcess::start(&config).await;
    let connector = ca.connector(&["h2"]);
    let conn = TlsConnection::open(&connector, gateway.public, HOST)
        .await
        .unwrap();
    assert_eq!(conn.served, first.der);

    std::fs::write(elsewhere.path().join("key.pem"), &second.key_pem).unwrap();
    std::fs::write(elsewhere.path().join("cert.pem"), &second.cert_pem).unwrap();
    gateway.signal("HUP");
    until_reloads(&gateway, "success", 1).await;
    assert_eq!(
        reloads(
            &get(&format!("http://{}/metrics", gateway.admin))
                .await
                .text(),
            "error"
        ),
        0
    );
    let conn = TlsConnection::open(&connector, gateway.public, HOST)
        .await
        .unwrap();
    assert_eq!(conn.served, second.der);
    gateway
        .wait_for_log(&["SIGHUP received: reloading", "TLS certificate"])
        .await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_closed() {
    use tokio::io::AsyncReadExt;
    let ca = TestCa::new();
    let leaf = ca.leaf(&[HOST], "casegate first");
    let upstream = FakeUpstream::start().await;
    let toml = tls_toml(&upstream).replace(
        "listen = \"127.0.0.1:0\"\n\n[server.tls]",
        "listen = \"127.0.0.1:0\"\nheader_read_timeout = \"1s\"\n\n[server.tls]",
    );
    assert!(toml.contains("header_read_timeout"));
    let gateway = TestGateway::start_in_dir(dir_with(&leaf), &toml, &[]).await;
    // Connects and sends nothing: the handshake never starts.
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(PATIENCE, silent.read(&mut buf))
        .await
        .expect("the connection was never closed");
    assert_eq!(read.unwrap_or(0), 0, "closed without an answer");
}
