//! Cache-hit throughput and latency: casegate answering a cached, redacted report (RS256 token
//! on every request) against a bare hyper server returning the same bytes from memory and
//! against nginx serving them from its `proxy_cache`, all measured in one run.
//!
//! `cargo bench --bench cache_hit`; environment: `DURATION` (measured seconds per target and
//! loop, and per round of the closed loop, default 10), `ROUNDS` (closed-loop rounds, every
//! target once a round, default 5), `RATE` (offered req/s of the latency run, default 10000),
//! `CONNECTIONS` (default 64), `GATEWAY_LOG` (casegate's `logging.level`, default `warn`),
//! `AUDIT` (`pipe`, `file` or `off`: where casegate's audit events go, see `targets::Sink`),
//! `NGINX_LOG` (the same for nginx's access log; by default where the audit goes).
//! Arguments are ignored (cargo passes `--bench`), except the one this bench passes to itself
//! to become the bare hyper server. Needs nginx (`apt-get install nginx`) and `mkfifo`, `dd`.
//! See `benches/README.md`.
//!
//! The load generator (this process: a current-thread tokio runtime, and a pacer thread in the
//! latency run) runs on core 0; every server on core 1: the sandbox (idle once the caches are
//! warm), casegate, the bare hyper server and nginx (master and its one worker). Only the
//! target being measured has work; all run under `timeout`, so they stop by themselves even if
//! this process is killed.

use std::process::ExitCode;
use std::time::Duration;

#[path = "../support/mod.rs"]
mod support;

mod report;
mod targets;

use support::settings::LoadSettings;
use targets::Sink;

/// Requests sent before this, on every target and in both loops, are not counted.
const WARMUP: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    // The bench starts itself again as the bare hyper server.
    if let Some(exit) = support::bare::main_if_asked() {
        return exit;
    }
    support::run_bench("cache_hit", Settings::from_env(), |s, pinned| async move {
        targets::run(&s, pinned).await
    })
}

struct Settings {
    load: LoadSettings,
    /// Closed-loop rounds: every target measured once a round.
    rounds: usize,
    /// Where casegate's audit events go, and nginx's access log.
    audit: Sink,
    nginx_log: Sink,
    /// `CALIBRATE`: microseconds of work per request of each extra bare server.
    calibrate: Vec<u64>,
}

/// `ROUNDS` unset.
const DEFAULT_ROUNDS: usize = 5;

impl Settings {
    fn from_env() -> Result<Self, String> {
        let rounds = support::env_var("ROUNDS")?.unwrap_or(DEFAULT_ROUNDS);
        if rounds == 0 {
            return Err("ROUNDS must be at least 1".to_owned());
        }
        let audit = Sink::from_env("AUDIT", Sink::Pipe)?;
        Ok(Self {
            load: LoadSettings::from_env(10_000.0)?,
            rounds,
            audit,
            nginx_log: Sink::from_env("NGINX_LOG", audit)?,
            calibrate: targets::calibration()?,
        })
    }

    /// The command line that reproduces this run, every setting spelled out.
    fn command(&self) -> String {
        let audit = match self.audit {
            Sink::Pipe => String::new(),
            other => format!("AUDIT={} ", other.name()),
        };
        let nginx_log = if self.nginx_log == self.audit {
            String::new()
        } else {
            format!("NGINX_LOG={} ", self.nginx_log.name())
        };
        let calibrate = std::env::var("CALIBRATE")
            .map(|list| format!("CALIBRATE={list} "))
            .unwrap_or_default();
        let rounds = if self.rounds == DEFAULT_ROUNDS {
            String::new()
        } else {
            format!("ROUNDS={} ", self.rounds)
        };
        format!(
            "{}{rounds}{audit}{nginx_log}{calibrate}cargo bench --bench cache_hit",
            self.load.env()
        )
    }
}
