//! A real `casegate serve` process, for tests about several replicas: its own configuration
//! file, a public listener on a port of its choosing (read from its log), an admin listener on
//! a free port, its log kept for the test to read, stopped with SIGTERM when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::{get, send, Got};

pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` of the public listener.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    log: Arc<Mutex<String>>,
}

impl GatewayProcess {
    /// Serves `toml` (whose `[admin] listen` must be `127.0.0.1:0`; it is replaced by a free
    /// port) from `dir`, which holds the files it names, as `name.toml`.
    pub fn start(dir: &Path, name: &str, toml: &str) -> GatewayProcess {
        let admin = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let toml = toml.replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"{admin}\""),
        );
        assert!(
            toml.contains(&admin.to_string()),
            "no [admin] listen to set"
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_casegate"))
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on threads for the life of the process (a full pipe would block it),
        // and learn the public port from the listener's line.
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let seen = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("\"listener\":\"public\"") && line.contains("casegate is serving")
                {
                    let after = line.split("127.0.0.1:").nth(1).unwrap_or("");
                    let port: String = after.chars().take_while(char::is_ascii_digit).collect();
                    let _ = port_tx.send(port);
                }
                seen.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let seen = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                seen.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{name} did not start serving:\n{}", log.lock().unwrap()));
        GatewayProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://{admin}"),
            log,
        }
    }

    /// A GET of `path` on the public listener, as the test caller.
    pub async fn get(&self, path: &str) -> Got {
        send(
            http::Request::get(format!("{}{path}", self.base))
                .body(Default::default())
                .unwrap(),
        )
        .await
    }

    /// The value of the metric line `series` (name and labels as rendered), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let got = get(&format!("{}/metrics", self.admin)).await;
        assert_eq!(got.status, 200);
        got.text().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(value.trim().parse().unwrap())
        })
    }

    /// `/readyz`: its status code and body.
    pub async fn ready(&self) -> (u16, serde_json::Value) {
        let got = get(&format!("{}/readyz", self.admin)).await;
        (got.status.as_u16(), got.json())
    }

    /// Waits up to 20 s for `metric(series)` to be `value`.
    pub async fn wait_for_metric(&self, series: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.metric(series).await != Some(value) {
            assert!(
                Instant::now() < deadline,
                "{series} did not become {value}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
