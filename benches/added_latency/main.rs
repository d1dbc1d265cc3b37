//! The latency casegate adds over calling the sandbox directly: GetReport 10800 as JSON over 64
//! keep-alive HTTP/1.1 connections on loopback, first at a fixed offered rate (open loop, latency
//! from each request's *scheduled* send time, so a slow response cannot hide the ones queued
//! behind it), then as fast as possible (closed loop) for throughput.
//!
//! `cargo bench --bench added_latency`; environment: `RATE` (req/s, default 2000), `DURATION`
//! (measured seconds per path, default 10), `CONNECTIONS` (default 64), and for investigations
//! `GATEWAY_LOG` (casegate's `logging.level`, default `warn`) and `GATEWAY_POOL_MAX_IDLE`
//! (`upstream.pool_max_idle_per_host`, default casegate's). Arguments are ignored (cargo passes
//! `--bench`). See `benches/README.md`.
//!
//! The load generator (this process: a current-thread tokio runtime and a pacer thread) runs on
//! core 0; the sandbox and the gateway share core 1, each with one worker thread. Both are
//! wrapped in `timeout`, so they stop by themselves even if this process is killed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY, REPORT_EXAMPLE};
use hdrhistogram::Histogram;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

mod client;
mod measure;
mod report;
mod servers;
mod stats;

use client::*;
use measure::*;
use report::*;
use servers::*;
use stats::*;

pub(crate) const WARMUP: Duration = Duration::from_secs(2);
pub(crate) const THROUGHPUT_RAMP: Duration = Duration::from_secs(1);
pub(crate) const THROUGHPUT: Duration = Duration::from_secs(5);
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Other processes' CPU (% of one core) above which a measurement is called disturbed.
pub(crate) const DISTURBED: f64 = 10.0;
/// How long before a request is due the pacer stops sleeping and starts yielding.
pub(crate) const SPIN: Duration = Duration::from_micros(60);

pub(crate) fn main() -> ExitCode {
    // cargo passes `--bench` (and criterion-style filters): nothing here takes arguments.
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("added_latency: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before any thread exists, so the runtime and the pacer inherit core 0.
    let pinned = cores() >= 2 && pin_self_to_core0();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&settings, pinned)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("\n!!!! added_latency: {errors} request(s) FAILED; the figures above are NOT valid !!!!");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("added_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) struct Settings {
    pub(crate) rate: f64,
    pub(crate) duration: Duration,
    pub(crate) connections: usize,
    /// For investigations: casegate's `logging.level` and `upstream.pool_max_idle_per_host`.
    pub(crate) gateway_log: String,
    pub(crate) gateway_pool: Option<u32>,
}

impl Settings {
    pub(crate) fn from_env() -> Result<Self, String> {
        fn var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v:?} is not valid")),
                Err(_) => Ok(None),
            }
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let (rate, duration) = (
            var("RATE")?.unwrap_or(2000.0),
            var("DURATION")?.unwrap_or(10.0),
        );
        if !positive(rate) || !positive(duration) {
            return Err("RATE and DURATION must be positive numbers".to_owned());
        }
        let s = Self {
            rate,
            duration: Duration::from_secs_f64(duration),
            connections: var("CONNECTIONS")?.unwrap_or(64),
            gateway_log: var("GATEWAY_LOG")?.unwrap_or_else(|| "warn".to_owned()),
            gateway_pool: var("GATEWAY_POOL_MAX_IDLE")?,
        };
        if s.connections == 0 {
            return Err("CONNECTIONS must be positive".to_owned());
        }
        if !s
            .gateway_log
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_,=:.".contains(&b))
        {
            return Err(format!(
                "GATEWAY_LOG={:?}: a level or a RUST_LOG-style filter",
                s.gateway_log
            ));
        }
        Ok(s)
    }

    /// The command line that reproduces this run, every setting spelled out.
    pub(crate) fn command(&self) -> String {
        let mut env = format!(
            "RATE={} DURATION={} ",
            self.rate,
            self.duration.as_secs_f64()
        );
        if self.connections != 64 {
            let _ = write!(env, "CONNECTIONS={} ", self.connections);
        }
        if self.gateway_log != "warn" {
            let _ = write!(env, "GATEWAY_LOG={} ", self.gateway_log);
        }
        if let Some(n) = self.gateway_pool {
            let _ = write!(env, "GATEWAY_POOL_MAX_IDLE={n} ");
        }
        format!("{env}cargo bench --bench added_latency")
    }
}

pub(crate) async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let quiet = wait_for_quiet();
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (sandbox_addr, gateway_addr) = (free_port()?, free_port()?);
    let lifetime =
        2 * (WARMUP + s.duration + THROUGHPUT_RAMP + THROUGHPUT) + Duration::from_secs(90);
    let sandbox_listen = sandbox_addr.to_string();
    let mut sandbox = Server::spawn(
        "sandbox",
        &["sandbox", "--listen", &sandbox_listen],
        pinned,
        lifetime,
        dir.path(),
    )?;
    let config = write_gateway_config(dir.path(), s, gateway_addr, sandbox_addr)?;
    let config = config.to_string_lossy();
    let mut gateway = Server::spawn(
        "casegate",
        &["serve", "--config", &config],
        pinned,
        lifetime,
        dir.path(),
    )?;
    sandbox.wait_ready(sandbox_addr)?;
    gateway.wait_ready(gateway_addr)?;

    // The same query the gateway sends upstream (canonical order, `db` first), with a token.
    let token = fetch_token(sandbox_addr).await?;
    let direct_uri = format!("/getreport?db={DEMO_ACCOUNT}&Format=json&ReportId={REPORT_EXAMPLE}");
    let gateway_uri = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let direct_body = get_body(sandbox_addr, &direct_uri, Some(&token)).await?;
    let caller = caller_bearer()?;
    let via_body = get_body(gateway_addr, &gateway_uri, Some(&caller))
        .await
        .map_err(|e| gateway.with_log(&e))?;
    if direct_body != via_body {
        return Err(gateway.with_log(&format!(
            "the gateway's body ({} bytes) differs from the sandbox's ({} bytes)",
            via_body.len(),
            direct_body.len()
        )));
    }
    let target = |label, addr: SocketAddr, uri: &str, auth: Option<&HeaderValue>| Target {
        label,
        addr,
        host: HeaderValue::from_str(&addr.to_string()).expect("host header"),
        uri: uri.parse().expect("uri"),
        authorization: auth.cloned(),
        expected_len: direct_body.len(),
    };
    let direct = target("direct (sandbox)", sandbox_addr, &direct_uri, Some(&token));
    let via = target("via casegate", gateway_addr, &gateway_uri, Some(&caller));
    let probe = Probe {
        sandbox: sandbox.casegate_pid(),
        gateway: gateway.casegate_pid(),
    };

    eprintln!(
        "added_latency: open loop at {} req/s: {} s warm-up + {} s per path",
        s.rate,
        WARMUP.as_secs(),
        s.duration.as_secs_f64()
    );
    let open = [
        open_loop(&direct, s, &probe).await?,
        open_loop(&via, s, &probe).await?,
    ];
    eprintln!(
        "added_latency: closed loop, {} connections, {} s per path",
        s.connections,
        THROUGHPUT.as_secs()
    );
    let closed = [
        closed_loop(&direct, s, &probe).await?,
        closed_loop(&via, s, &probe).await?,
    ];

    print_report(s, pinned, &quiet, direct_body.len(), &open, &closed);
    let errors: u64 = open
        .iter()
        .chain(&closed)
        .map(|r| r.stats.error_count())
        .sum();
    if errors > 0 {
        for (name, server) in [("sandbox", &sandbox), ("casegate", &gateway)] {
            eprintln!("--- {name} log (tail) ---\n{}", server.log_tail());
        }
    }
    Ok(errors)
}
