//! The soak: the real `casegate` binary in front of the sandbox under a mixed, open-loop load for
//! a long time (cache hits in XML, JSON and CSV, identity and gzip, a large cached CSV, misses
//! that each fill a new cache entry, 403 denials, 401s for a bad signature and an expired token),
//! reporting throughput, p50/p99 and errors per kind and casegate's resident memory from start to
//! after the load. It fails on any unexpected answer, and when casegate's memory after the load
//! and an idle settle is more than `RSS_SLACK_MIB` above what it was after the warm-up: memory
//! must come back flat.
//!
//! `cargo bench --bench soak` (10 minutes at 400 req/s: the release check);
//! `DURATION=60 cargo bench --bench soak` (CI). Environment: `DURATION` (measured seconds,
//! default 600), `RATE` (req/s over all kinds, default 400), `WARMUP` (seconds of the mix before
//! the baseline is taken, default 30), `SETTLE` (idle seconds after the load, default 10),
//! `RSS_SLACK_MIB` (default 8), `GATEWAY_LOG`, `CASEGATE_BIN`. Arguments are ignored. See
//! `benches/README.md`.
//!
//! Pinned as the other load benches: this process (the load generator) on core 0, the sandbox
//! and casegate on core 1 (one tokio worker each), both under `timeout`.

use std::process::ExitCode;
use std::time::Duration;

#[path = "../support/mod.rs"]
mod support;

mod mix;
mod report;
mod run;

use support::caller::check_log_filter;
use support::env_var;

fn main() -> ExitCode {
    support::run_bench("soak", Settings::from_env(), |s, pinned| async move {
        run::run(&s, pinned).await
    })
}

pub(crate) struct Settings {
    pub(crate) duration: Duration,
    pub(crate) rate: f64,
    pub(crate) warmup: Duration,
    pub(crate) settle: Duration,
    /// How far (MiB) casegate's settled RSS may be above its RSS after the warm-up.
    pub(crate) rss_slack_mib: f64,
    pub(crate) gateway_log: String,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let secs = |name: &str, default: f64| -> Result<Duration, String> {
            let v: f64 = env_var(name)?.unwrap_or(default);
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number of seconds"));
            }
            Ok(Duration::from_secs_f64(v))
        };
        let s = Self {
            duration: secs("DURATION", 600.0)?,
            warmup: secs("WARMUP", 30.0)?,
            settle: secs("SETTLE", 10.0)?,
            rate: env_var("RATE")?.unwrap_or(400.0),
            rss_slack_mib: env_var("RSS_SLACK_MIB")?.unwrap_or(8.0),
            gateway_log: env_var("GATEWAY_LOG")?.unwrap_or_else(|| "warn".to_owned()),
        };
        if !(s.rate.is_finite() && s.rate >= 10.0) {
            return Err("RATE must be at least 10 (requests per second over all kinds)".to_owned());
        }
        if !(s.rss_slack_mib.is_finite() && s.rss_slack_mib >= 0.0) {
            return Err("RSS_SLACK_MIB must be a number of MiB, 0 or more".to_owned());
        }
        check_log_filter(&s.gateway_log).map_err(|e| format!("GATEWAY_LOG={e}"))?;
        Ok(s)
    }

    /// The command line that reproduces this run.
    pub(crate) fn command(&self) -> String {
        format!(
            "DURATION={} RATE={} WARMUP={} SETTLE={} RSS_SLACK_MIB={} cargo bench --bench soak",
            self.duration.as_secs_f64(),
            self.rate,
            self.warmup.as_secs_f64(),
            self.settle.as_secs_f64(),
            self.rss_slack_mib
        )
    }
}
