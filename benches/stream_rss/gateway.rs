//! `casegate serve` under `/usr/bin/time -v`: its configuration (a grant that drops
//! `Customer.*` and hashes `Customer.EmailAddress`), its start, its graceful stop and what
//! `time` reports.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY};

pub(crate) const TIME: &str = "/usr/bin/time";
pub(crate) const CALLER_SECRET: &str = "stream-rss-bench-caller-hmac-secret-0123456789";
const HASH_KEY: &str = "stream-rss-bench-hash-key-0123456789abcdef";
pub(crate) const ISSUER: &str = "https://idp.bench.casegate";
const POLICY: &str = r#"[hashing]
key = { file = "hash-key" }

[[grant]]
name = "bench"
reports = [10805]
who = { sub = "bench-caller" }
[grant.columns]
drop = ["Customer.*"]
hash = ["Customer.EmailAddress"]
"#;

/// What `/usr/bin/time -v` said about one gateway process.
pub(crate) struct Usage {
    pub(crate) max_rss_kib: u64,
    pub(crate) cpu_seconds: f64,
}

/// `casegate serve` under `/usr/bin/time -v`, in front of the in-process sandbox.
pub(crate) struct Gateway {
    pub(crate) addr: SocketAddr,
    time: Child,
    report: PathBuf,
    log: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
}

/// Puts what every gateway of the run needs into `dir`: its secrets, its policy, and a copy of
/// the `casegate` binary cargo built for this bench, so that a build in another work tree that
/// shares the target folder cannot swap the binary halfway through the run.
pub(crate) fn prepare(dir: &Path) -> Result<(), String> {
    write(dir, "api-key", DEMO_API_KEY)?;
    write(dir, "secret-key", DEMO_SECRET_KEY)?;
    write(dir, "caller-hmac", CALLER_SECRET)?;
    write(dir, "hash-key", HASH_KEY)?;
    write(dir, "policy.toml", POLICY)?;
    std::fs::copy(env!("CARGO_BIN_EXE_casegate"), dir.join("casegate"))
        .map(drop)
        .map_err(|e| format!("cannot copy the casegate binary: {e}"))
}

impl Gateway {
    /// In `dir`, made ready by [`prepare`]; `name` names its log and `time`'s report there.
    /// Without `cache`, with the response cache turned off.
    pub(crate) fn start(
        dir: &Path,
        name: &str,
        upstream: SocketAddr,
        cache: bool,
    ) -> Result<Self, String> {
        let addr = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?;
        write(
            dir,
            "casegate.toml",
            &format!(
                "policy = \"policy.toml\"\n[server]\nlisten = \"{addr}\"\n\n[upstream]\n\
                 environment = \"uat\"\naccount = \"{DEMO_ACCOUNT}\"\nbase_url = \"http://{upstream}\"\n\
                 total_timeout = \"1h\"\nmax_response_bytes = \"1 TiB\"\n\n[upstream.credential]\n\
                 api_key = {{ file = \"api-key\" }}\nsecret_key = {{ file = \"secret-key\" }}\n\n\
                 [[auth.issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"casegate\"]\n\
                 algorithms = [\"HS256\"]\nhmac_secret = {{ file = \"caller-hmac\" }}\n\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n\n[cache]\nenabled = {cache}\n\n\
                 [logging]\nlevel = \"warn\"\n"
            ),
        )?;
        let report = dir.join(format!("{name}.time"));
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let time = Command::new(TIME)
            .arg("-v")
            .arg("-o")
            .arg(&report)
            .arg(dir.join("casegate"))
            .args(["serve", "--config"])
            .arg(dir.join("casegate.toml"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {TIME}: {e}"))?;
        let mut gateway = Self {
            addr,
            time,
            report,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while StdStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || gateway.time.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(&gateway.log).unwrap_or_default();
                let _ = gateway.time.kill();
                return Err(format!("the gateway did not start:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(gateway)
    }

    /// SIGTERM to casegate (not to `time`, which would die without its report), then the
    /// report: casegate must have exited 0.
    pub(crate) fn stop(mut self) -> Result<Usage, String> {
        let pid = self.time.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .map_err(|e| format!("casegate's pid: {e}"))?;
        let casegate = children.split_whitespace().next().unwrap_or_default();
        let _ = Command::new("kill").args(["-TERM", casegate]).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.time.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-KILL", casegate]).status();
                let _ = self.time.wait();
                return Err("the gateway did not stop within 40 s of SIGTERM".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = std::fs::read_to_string(&self.report).map_err(|e| e.to_string())?;
        let field = |name: &str| {
            report
                .lines()
                .find_map(|line| line.trim().strip_prefix(name)?.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("no {name:?} in {TIME}'s report:\n{report}"))
        };
        if field("Exit status:")? != 0.0 {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            return Err(format!("the gateway did not exit 0:\n{report}\n{log}"));
        }
        Ok(Usage {
            max_rss_kib: field("Maximum resident set size (kbytes):")? as u64,
            cpu_seconds: field("User time (seconds):")? + field("System time (seconds):")?,
        })
    }
}
