//! The real binary through many rounds of every fault: afterwards its resident memory and open
//! file descriptors are back at their baseline, and its log (at debug level) holds none of the
//! report's personal data and none of its secrets.
//!
//! Measured on a separate process, since the test's own allocations would drown an in-process
//! gateway's. The baseline is taken after two warm-up rounds of the same faults, so allocator
//! arenas, thread stacks and pools have reached their working size; then five more rounds (24
//! rows of 3 requests: 360 faulted requests) must not add more than 16 MiB. A leak of more than
//! about 45 KiB per faulted request would break that bound; allocator noise (a few hundred KiB
//! between rounds here) cannot. File descriptors are the sharper check for leaked connections and
//! tasks: each would hold one, so after the rounds they must return to within 4 of the
//! baseline. No timing is asserted.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use super::common::*;
use super::rig::{self, Rig, PII};
use super::{full_report, round, Target};

const WARM_UP_ROUNDS: usize = 2;
const MEASURED_ROUNDS: usize = 5;
const RSS_SLACK_KIB: u64 = 16 * 1024;
const FD_SLACK: usize = 4;

/// The gateway process; killed (by its own id) if the test fails before stopping it.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits (up to 30 s) for the log line announcing `listener` ("public" or "admin"); returns
/// its port. Both listen on port 0: a port picked by the test and freed before casegate binds
/// it could be taken in between by another test of this binary.
async fn listener_port(log: &Path, gateway: &mut Gateway, listener: &str) -> u16 {
    let needle = format!("\"listener\":\"{listener}\"");
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains(&needle) && l.contains("casegate is serving"))
        {
            let after = line.split("127.0.0.1:").nth(1).unwrap();
            let port: String = after.chars().take_while(char::is_ascii_digit).collect();
            return port.parse().unwrap();
        }
        assert!(
            gateway.0.try_wait().unwrap().is_none(),
            "casegate exited:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("casegate did not start serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_descriptors_return_to_baseline_after_rounds_of_faults() {
    let rig = Rig::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_toml(&rig.proxy.base_url(), rig::UPSTREAM, rig::CREDENTIAL);
    assert!(config.contains("[admin]\nlisten = \"127.0.0.1:0\""));
    for (name, content) in [
        ("c.toml", config.as_str()),
        ("api-key", API_KEY),
        ("secret-key", SECRET_KEY),
        ("caller-hmac", CALLER_SECRET),
        ("policy.toml", rig::POLICY),
        ("admin-token", ADMIN_TOKEN),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let log = dir.path().join("casegate.log");
    let child = Command::new(env!("CARGO_BIN_EXE_casegate"))
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(&log).unwrap())
        // Into the same file, so a failure to start is in the test's message.
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        .spawn()
        .unwrap();
    let mut gateway = Gateway(child);
    let pid = gateway.0.id();
    let public = format!(
        "http://127.0.0.1:{}",
        listener_port(&log, &mut gateway, "public").await
    );
    let admin = format!(
        "http://127.0.0.1:{}",
        listener_port(&log, &mut gateway, "admin").await
    );
    let target = Target {
        rig: &rig,
        admin,
        full: full_report(&public).await,
        public,
    };

    for _ in 0..WARM_UP_ROUNDS {
        round(&target).await;
    }
    let (rss_before, fds_before) = (rss_kib(pid), open_fds(pid));
    for _ in 0..MEASURED_ROUNDS {
        round(&target).await;
    }
    // Connections the faults broke close as the gateway notices; give them time to go.
    let mut fds_after = open_fds(pid);
    for _ in 0..100 {
        if fds_after <= fds_before + FD_SLACK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = open_fds(pid);
    }
    let rss_after = rss_kib(pid);
    eprintln!(
        "casegate after {WARM_UP_ROUNDS} warm-up rounds: VmRSS {rss_before} KiB, {fds_before} fds; \
         after {MEASURED_ROUNDS} more: VmRSS {rss_after} KiB, {fds_after} fds"
    );
    assert!(
        gateway.0.try_wait().unwrap().is_none(),
        "casegate exited during the faults"
    );
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "file descriptors grew from {fds_before} to {fds_after}: connections leak"
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK_KIB,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB over {MEASURED_ROUNDS} rounds"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = gateway.0.wait().unwrap();
    assert!(status.success(), "casegate stopped with {status}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("aborting the response"),
        "the log says why transfers broke off"
    );
    for needle in PII.iter().chain(&[API_KEY, SECRET_KEY, CALLER_SECRET]) {
        assert!(!text.contains(needle), "{needle:?} is in casegate's log");
    }
    assert!(
        !text.contains(caller_token()),
        "the caller's token is in casegate's log"
    );
}
