//! Servers as child processes pinned to core 1, each under `timeout` as a safety net, and the
//! machine around them: cores, pinning, free ports, a quiet CPU before measuring.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::stats::{CpuUse, Probe};
use super::DISTURBED;

/// The gateway binary: `$CASEGATE_BIN` (to compare two builds, or to keep a copy safe from
/// other builds into a shared target folder), else the one cargo built for this bench.
pub fn casegate() -> String {
    std::env::var("CASEGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_casegate").to_owned())
}

pub struct Server {
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    /// Starts `program args` (pinned to core 1 when `pinned`), its output in `dir/{name}.log`;
    /// `timeout` stops it after `lifetime` even if this process is killed.
    pub fn spawn(
        name: &str,
        program: &str,
        args: &[&str],
        pinned: bool,
        lifetime: Duration,
        dir: &Path,
    ) -> Result<Self, String> {
        let mut argv: Vec<String> = Vec::new();
        if has_tool("timeout", "--version") {
            // --foreground: Ctrl-C still reaches the server; TERM is forwarded, KILL 5 s later.
            argv.extend(["timeout", "--foreground", "--kill-after=5s"].map(String::from));
            argv.push(format!("{}s", lifetime.as_secs()));
        }
        if pinned {
            argv.extend(["taskset", "-c", "1"].map(String::from));
        }
        argv.push(program.to_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| format!("{name} log: {e}"))?;
        let err = file.try_clone().map_err(|e| format!("{name} log: {e}"))?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            // RUST_LOG would override the configured level and log every request.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", argv.join(" ")))?;
        Ok(Self { child, log })
    }

    pub fn wait_ready(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.with_log(&format!("exited early ({status})")));
            }
            if StdStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.with_log(&format!("not listening on {addr} after 15 s")))
    }

    /// The child (`timeout` when wrapped): CPU accounting takes it with its descendants.
    pub fn pid(&self) -> Option<u32> {
        Some(self.child.id())
    }

    pub fn log_tail(&self) -> String {
        self.log_tail_matching(|_| true)
    }

    /// The last 20 lines of the log that `keep` keeps.
    pub fn log_tail_matching(&self, keep: impl Fn(&str) -> bool) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|line| keep(line)).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn with_log(&self, error: &str) -> String {
        format!(
            "{error}\n--- {} ---\n{}",
            self.log.display(),
            self.log_tail()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // TERM lets the server drain; `timeout` forwards it. KILL only if that does not work.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to `limit`) until other processes leave the CPUs alone for three seconds in a row:
/// builds and tests on the same machine would otherwise show up as latency.
pub fn wait_for_quiet(limit: Duration) -> String {
    let probe = Probe::default();
    let (started, mut quiet_for, mut last) = (Instant::now(), 0, 0.0);
    while started.elapsed() < limit {
        let before = probe.snapshot();
        std::thread::sleep(Duration::from_secs(1));
        let after = probe.snapshot();
        last = CpuUse::between(&probe, &before, &after, 1)
            .foreign
            .unwrap_or(0.0);
        quiet_for = if last <= DISTURBED { quiet_for + 1 } else { 0 };
        if quiet_for == 3 {
            return format!(
                "quiet after {:.0} s (other processes {last:.0} % of a core).",
                started.elapsed().as_secs_f64()
            );
        }
    }
    format!(
        "NOT quiet after {} s (other processes {last:.0} % of a core); figures may be disturbed.",
        limit.as_secs()
    )
}

pub fn has_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Pins this process to core 0; call it before any thread exists, so every thread inherits it.
pub fn pin_self_to_core0() -> bool {
    let pid = std::process::id().to_string();
    Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn free_port() -> Result<SocketAddr, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}
