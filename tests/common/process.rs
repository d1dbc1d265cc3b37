//! The real `casegate serve` as a child process: its JSON log lines collected as they come,
//! its listeners' addresses read from them, signals sent with kill(1).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Long enough for a debug build on a busy machine; a wait that ends this way fails the test.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct ServeProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub public: SocketAddr,
    pub admin: SocketAddr,
}

impl ServeProcess {
    /// Starts `casegate serve --config path` and waits until both listeners serve.
    pub async fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casegate"))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut process = Self {
            child,
            lines,
            public: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        process.public = process.listening("public").await;
        process.admin = process.listening("admin").await;
        process
    }

    /// The address in the "casegate is serving" line of `listener`.
    async fn listening(&mut self, listener: &str) -> SocketAddr {
        let needle = format!("\"listener\":\"{listener}\"");
        let line = self.wait_for_log(&[&needle, "casegate is serving"]).await;
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        let listen = json["listen"].as_str().unwrap();
        listen
            .trim_start_matches("Some(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or_else(|e| panic!("no address in {line}: {e}"))
    }

    /// Waits for a log line containing every one of `needles`; fails the test after
    /// [`PATIENCE`] or when the process has exited without printing it.
    pub async fn wait_for_log(&mut self, needles: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let exited = self.child.try_wait().unwrap();
            if let Some(line) = self.find(needles) {
                return line;
            }
            if let Some(status) = exited {
                // Give the reader threads a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Some(line) = self.find(needles) {
                    return line;
                }
                panic!(
                    "casegate exited ({status}) before logging {needles:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with {needles:?} after {PATIENCE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn find(&self, needles: &[&str]) -> Option<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
    }

    /// Every line logged so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Sends `signal` ("TERM", "INT", "HUP") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1) must be installed (procps)");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit; fails the test after `patience`.
    pub async fn exit_status(&mut self, patience: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "casegate still running {patience:?} later:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
