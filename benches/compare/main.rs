//! The comparison harness: casegate against a bare hyper server and nginx (the Debian package)
//! on the same machine, load generator and servers pinned to separate cores, in three
//! scenarios: a cache hit of a 5 KB JSON report (with the caller's JWT), a cache hit of a 5 MB
//! XML report, and a miss through to an upstream that takes 200 ms; then casegate's redaction
//! throughput per format beside the bare parser. One markdown table each, for the README.
//!
//! `cargo bench --bench compare`; environment: `DURATION` (measured seconds per target and loop,
//! default 10), `WARMUP` (default 2), `CONNECTIONS` (default 64), `SCENARIOS` (default
//! `hit-json,hit-xml,miss`), the offered rates of the latency runs `HIT_JSON_RATE` (default
//! 10000), `HIT_XML_RATE` (100), `MISS_RATE` (200), `XML_BYTES` (the XML report's size upstream,
//! default 5 MiB), `REDACT_ROWS` (default 10000), `REDACT_SECONDS` (per measurement, default 3;
//! 0 skips the redaction rows), `GATEWAY_LOG`, `QUIET_WAIT`, `CASEGATE_BIN`, `NGINX`,
//! `NGINX_CONF`. Arguments are ignored (cargo passes `--bench`), except the one this bench passes
//! to itself to become a bare hyper server. Needs nginx (`apt-get install nginx`).
//! See `benches/README.md`.

use std::process::ExitCode;
use std::time::Duration;

#[path = "../support/mod.rs"]
mod support;

mod redaction;
mod report;
mod run;
mod servers;

use support::caller::check_log_filter;
use support::env_var;

fn main() -> ExitCode {
    if let Some(exit) = support::bare::main_if_asked() {
        return exit;
    }
    support::run_bench("compare", Settings::from_env(), |s, pinned| async move {
        run::run(&s, pinned).await
    })
}

pub(crate) const SCENARIOS: [&str; 3] = ["hit-json", "hit-xml", "miss"];

pub(crate) struct Settings {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) connections: usize,
    pub(crate) scenarios: Vec<&'static str>,
    pub(crate) hit_json_rate: f64,
    pub(crate) hit_xml_rate: f64,
    pub(crate) miss_rate: f64,
    pub(crate) xml_bytes: u64,
    pub(crate) redact_rows: usize,
    pub(crate) redact_seconds: f64,
    pub(crate) gateway_log: String,
    pub(crate) quiet_wait: Duration,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let positive = |name: &str, default: f64| -> Result<f64, String> {
            let v: f64 = env_var(name)?.unwrap_or(default);
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(format!("{name} must be a positive number"))
            }
        };
        let scenarios = match std::env::var("SCENARIOS") {
            Ok(list) => list
                .split(',')
                .map(|name| {
                    SCENARIOS
                        .into_iter()
                        .find(|s| *s == name.trim())
                        .ok_or(format!(
                            "SCENARIOS: {name:?} is not one of {}",
                            SCENARIOS.join(", ")
                        ))
                })
                .collect::<Result<_, _>>()?,
            Err(_) => SCENARIOS.to_vec(),
        };
        let s = Self {
            duration: Duration::from_secs_f64(positive("DURATION", 10.0)?),
            warmup: Duration::from_secs_f64(positive("WARMUP", 2.0)?),
            connections: env_var("CONNECTIONS")?.unwrap_or(64),
            scenarios,
            hit_json_rate: positive("HIT_JSON_RATE", 10_000.0)?,
            hit_xml_rate: positive("HIT_XML_RATE", 100.0)?,
            miss_rate: positive("MISS_RATE", 200.0)?,
            xml_bytes: env_var("XML_BYTES")?.unwrap_or(5 << 20),
            redact_rows: env_var("REDACT_ROWS")?.unwrap_or(10_000),
            redact_seconds: env_var("REDACT_SECONDS")?.unwrap_or(3.0),
            gateway_log: env_var("GATEWAY_LOG")?.unwrap_or_else(|| "warn".to_owned()),
            quiet_wait: Duration::from_secs(env_var("QUIET_WAIT")?.unwrap_or(120)),
        };
        if s.connections == 0 || s.redact_rows == 0 || s.xml_bytes == 0 {
            return Err("CONNECTIONS, REDACT_ROWS and XML_BYTES must be positive".to_owned());
        }
        // Each miss holds a connection for the upstream's 200 ms: fewer connections than that
        // would queue requests in the load generator and measure the queue.
        let in_flight = s.miss_rate * servers::UPSTREAM_DELAY.as_secs_f64();
        if s.scenarios.contains(&"miss") && in_flight > 0.8 * s.connections as f64 {
            return Err(format!(
                "MISS_RATE={} keeps about {in_flight:.0} requests waiting on the 200 ms upstream: \
                 raise CONNECTIONS to at least {:.0} or lower MISS_RATE",
                s.miss_rate,
                (in_flight / 0.8).ceil()
            ));
        }
        if !(s.redact_seconds.is_finite() && s.redact_seconds >= 0.0) {
            return Err("REDACT_SECONDS must be 0 (skip) or a positive number".to_owned());
        }
        check_log_filter(&s.gateway_log).map_err(|e| format!("GATEWAY_LOG={e}"))?;
        Ok(s)
    }

    /// The command line that reproduces this run, every setting spelled out.
    pub(crate) fn command(&self) -> String {
        format!(
            "DURATION={} WARMUP={} CONNECTIONS={} SCENARIOS={} HIT_JSON_RATE={} HIT_XML_RATE={} \
             MISS_RATE={} XML_BYTES={} REDACT_ROWS={} REDACT_SECONDS={} cargo bench --bench compare",
            self.duration.as_secs_f64(),
            self.warmup.as_secs_f64(),
            self.connections,
            self.scenarios.join(","),
            self.hit_json_rate,
            self.hit_xml_rate,
            self.miss_rate,
            self.xml_bytes,
            self.redact_rows,
            self.redact_seconds
        )
    }
}
