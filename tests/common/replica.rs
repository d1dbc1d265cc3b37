//! A replica, for tests about several gateways sharing state: `casegate serve` (see
//! [`ServeProcess`]) from a configuration written into `dir`, and what such tests ask of it.

use std::path::Path;
use std::time::{Duration, Instant};

use super::process::ServeProcess;
use super::{get, send, Got};

pub struct GatewayProcess {
    process: ServeProcess,
    /// `http://ADDR` of the public listener.
    pub base: String,
    /// `http://ADDR` of the admin listener.
    pub admin: String,
}

impl GatewayProcess {
    /// Serves `toml` (listeners on port 0) from `dir`, which holds the files it names, as
    /// `name.toml`.
    pub async fn start(dir: &Path, name: &str, toml: &str) -> GatewayProcess {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        let process = ServeProcess::start(&path).await;
        GatewayProcess {
            base: format!("http://{}", process.public),
            admin: format!("http://{}", process.admin),
            process,
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

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
