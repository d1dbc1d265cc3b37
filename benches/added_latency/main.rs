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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use casegate::sandbox::{DEMO_ACCOUNT, REPORT_EXAMPLE};

#[path = "../support/mod.rs"]
mod support;

mod report;

use report::*;
use support::caller::{caller_bearer, write_gateway_config, GatewayConfig};
use support::client::{get_body, Target};
use support::load::{closed_loop, open_loop, Phase, RunResult};
use support::procs::{casegate, free_port, wait_for_quiet, Server};
use support::sandbox_token::fetch_token;
use support::settings::LoadSettings;
use support::stats::Probe;
use support::{env_var, DISTURBED};

pub(crate) const WARMUP: Duration = Duration::from_secs(2);
pub(crate) const THROUGHPUT_RAMP: Duration = Duration::from_secs(1);
pub(crate) const THROUGHPUT: Duration = Duration::from_secs(5);

pub(crate) fn main() -> ExitCode {
    // cargo passes `--bench` (and criterion-style filters): nothing here takes arguments.
    support::run_bench(
        "added_latency",
        Settings::from_env(),
        |s, pinned| async move { run(&s, pinned).await },
    )
}

pub(crate) struct Settings {
    pub(crate) load: LoadSettings,
    /// For investigations: casegate's `upstream.pool_max_idle_per_host`.
    pub(crate) gateway_pool: Option<u32>,
}

impl Settings {
    pub(crate) fn from_env() -> Result<Self, String> {
        Ok(Self {
            load: LoadSettings::from_env(2000.0)?,
            gateway_pool: env_var("GATEWAY_POOL_MAX_IDLE")?,
        })
    }

    /// The command line that reproduces this run, every setting spelled out.
    pub(crate) fn command(&self) -> String {
        let pool = self
            .gateway_pool
            .map(|n| format!("GATEWAY_POOL_MAX_IDLE={n} "))
            .unwrap_or_default();
        format!("{}{pool}cargo bench --bench added_latency", self.load.env())
    }
}

pub(crate) async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let quiet = wait_for_quiet(s.load.quiet_wait);
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (sandbox_addr, gateway_addr) = (free_port()?, free_port()?);
    let lifetime =
        2 * (WARMUP + s.load.duration + THROUGHPUT_RAMP + THROUGHPUT) + Duration::from_secs(90);
    let sandbox_listen = sandbox_addr.to_string();
    let mut sandbox = Server::spawn(
        "sandbox",
        &casegate(),
        &["sandbox", "--listen", &sandbox_listen],
        pinned,
        lifetime,
        dir.path(),
    )?;
    let config = write_config(dir.path(), s, gateway_addr, sandbox_addr)?;
    let config = config.to_string_lossy();
    let mut gateway = Server::spawn(
        "casegate",
        &casegate(),
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
    let len = direct_body.len();
    let direct = Target::new(
        "direct (sandbox)",
        sandbox_addr,
        &direct_uri,
        Some(&token),
        len,
    );
    let via = Target::new(
        "via casegate",
        gateway_addr,
        &gateway_uri,
        Some(&caller),
        len,
    )
    .expecting("x-cache", "BYPASS");
    let probe = Probe::new(&[("sandbox", sandbox.pid()), ("casegate", gateway.pid())]);

    eprintln!(
        "added_latency: open loop at {} req/s: {} s warm-up + {} s per path",
        s.load.rate,
        WARMUP.as_secs(),
        s.load.duration.as_secs_f64()
    );
    let open_phase = Phase {
        connections: s.load.connections,
        warmup: WARMUP,
        measured: s.load.duration,
    };
    let open = [
        open_loop(&direct, open_phase, s.load.rate, &probe).await?,
        open_loop(&via, open_phase, s.load.rate, &probe).await?,
    ];
    eprintln!(
        "added_latency: closed loop, {} connections, {} s per path",
        s.load.connections,
        THROUGHPUT.as_secs()
    );
    let closed_phase = Phase {
        connections: s.load.connections,
        warmup: THROUGHPUT_RAMP,
        measured: THROUGHPUT,
    };
    let closed = [
        closed_loop(&direct, closed_phase, &probe).await?,
        closed_loop(&via, closed_phase, &probe).await?,
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

/// Callers authenticate as in production: an RS256 token from an identity provider whose
/// public key the gateway trusts, and a grant for the report.
pub(crate) fn write_config(
    dir: &Path,
    s: &Settings,
    listen: SocketAddr,
    sandbox: SocketAddr,
) -> Result<PathBuf, String> {
    let pool = s
        .gateway_pool
        .map(|n| format!("pool_max_idle_per_host = {n}\n"))
        .unwrap_or_default();
    write_gateway_config(
        dir,
        &GatewayConfig {
            listen,
            sandbox,
            log: &s.load.gateway_log,
            upstream_extra: &pool,
            // Uncached (`X-Cache: BYPASS`): every request takes the full path to the sandbox.
            policy:
                "[[grant]]\nname = \"bench\"\nreports = [10800]\nwho = { sub = \"bench-caller\" }\n\
                     [grant.limits]\ncache_ttl = \"0s\"\n",
            extra: "",
        },
    )
}
