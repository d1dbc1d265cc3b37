//! Peak memory of the gateway streaming a report far larger than it may hold: the sandbox's
//! report 10805 (`BYTES` of uncompressed body, 1 GiB by default), gzipped by the sandbox,
//! inflated, redacted (a grant that drops `Customer.*` and hashes `Customer.EmailAddress`) and
//! streamed on by the real `casegate` binary, one gateway process per format under
//! `/usr/bin/time -v`, whose "Maximum resident set size" is the figure. An idle gateway (started,
//! no request) is the baseline.
//!
//! `cargo bench --bench stream_rss`; environment: `BYTES` (default 1073741824), `FORMATS`
//! (default `xml,json,csv`), `CALLER_GZIP` (`no`, `yes` or `both`, default `both`: whether the
//! caller also asks for gzip, so the gateway compresses again), `CACHE` (`on`, casegate's
//! default, or `off`: `[cache] enabled = false`, to tell the cache's share from the stream's).
//! Arguments are ignored (cargo passes `--bench`). See `benches/README.md`.
//!
//! The sandbox runs in this process (it renders the report while it streams, never whole); so
//! does the client, which reads and discards the body, counting bytes and checking that it
//! ended cleanly, with the document's proper end, and without an `@` (every e-mail address is
//! dropped or hashed).

use std::path::Path;
use std::process::ExitCode;

use bytes::Bytes;
use casegate::sandbox::{self, SandboxConfig, REPORT_HUGE};
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

mod client;
mod gateway;

use client::{caller_bearer, direct, through, Streamed};
use gateway::{prepare, Gateway, Usage, TIME};

pub(crate) type HttpClient = Client<HttpConnector, Empty<Bytes>>;

struct Settings {
    bytes: u64,
    formats: Vec<String>,
    caller_gzip: Vec<bool>,
    /// casegate's response cache as configured by default (`CACHE=on`), or off.
    cache: bool,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
        let bytes = var("BYTES", "1073741824")
            .parse()
            .map_err(|_| "BYTES must be a number of bytes".to_owned())?;
        let formats: Vec<String> = var("FORMATS", "xml,json,csv")
            .split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = formats
            .iter()
            .find(|f| !["xml", "json", "csv"].contains(&f.as_str()))
        {
            return Err(format!("FORMATS: unknown format {bad:?}"));
        }
        let caller_gzip = match var("CALLER_GZIP", "both").as_str() {
            "no" => vec![false],
            "yes" => vec![true],
            "both" => vec![false, true],
            other => {
                return Err(format!(
                    "CALLER_GZIP must be no, yes or both, not {other:?}"
                ))
            }
        };
        let cache = match var("CACHE", "on").as_str() {
            "on" => true,
            "off" => false,
            other => return Err(format!("CACHE must be on or off, not {other:?}")),
        };
        Ok(Self {
            bytes,
            formats,
            caller_gzip,
            cache,
        })
    }

    /// The command that reproduces the run.
    fn command(&self) -> String {
        let mut command = format!("BYTES={}", self.bytes);
        for name in ["FORMATS", "CALLER_GZIP", "CACHE"] {
            if let Ok(value) = std::env::var(name) {
                command.push_str(&format!(" {name}={value}"));
            }
        }
        command + " cargo bench --bench stream_rss"
    }
}

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stream_rss: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream_rss: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(s: &Settings) -> Result<(), String> {
    if !Path::new(TIME).exists() {
        return Err(format!("{TIME} is needed (GNU time: apt-get install time)"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    prepare(dir.path())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let upstream = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = SandboxConfig {
        huge_bytes: s.bytes,
        ..SandboxConfig::default()
    };
    tokio::spawn(sandbox::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let bearer = caller_bearer()?;
    println!(
        "stream_rss: report {REPORT_HUGE}, at least {} bytes uncompressed; casegate's cache {}; \
         {} cores; load average {} before",
        s.bytes,
        if s.cache { "on" } else { "off" },
        std::thread::available_parallelism().map_or(1, usize::from),
        load_average()
    );

    let idle = Gateway::start(dir.path(), "idle", upstream, s.cache)?.stop()?;
    let mut directs = Vec::new();
    for format in &s.formats {
        directs.push(direct(&client, upstream, format).await?);
    }
    let mut runs = Vec::new();
    for (format, direct) in s.formats.iter().zip(&directs) {
        for &caller_gzip in &s.caller_gzip {
            let name = format!("{format}-{}", encoding(caller_gzip));
            let gateway = Gateway::start(dir.path(), &name, upstream, s.cache)?;
            let url = format!("http://{}/getreport?{}", gateway.addr, query(format));
            let out = through(&client, &url, &bearer, format, caller_gzip).await;
            // Stop it whatever happened, so that a failure leaves no process behind.
            let usage = gateway.stop()?;
            runs.push(Run {
                format,
                caller_gzip,
                direct,
                out: out?,
                usage,
            });
        }
    }
    let _ = stop.send(());
    println!("load average {} after\n", load_average());
    print_table(&idle, &runs, &s.command());
    Ok(())
}

/// One gateway process, one report through it.
struct Run<'a> {
    format: &'a str,
    caller_gzip: bool,
    /// The same report straight from the sandbox.
    direct: &'a Streamed,
    out: Streamed,
    usage: Usage,
}

fn encoding(gzip: bool) -> &'static str {
    if gzip {
        "gzip"
    } else {
        "identity"
    }
}

fn print_table(idle: &Usage, runs: &[Run<'_>], command: &str) {
    println!("| format | to caller | bytes in (uncompressed upstream) | gzip from upstream | bytes out | seconds (sandbox alone) | MiB/s in | gateway CPU s | peak RSS MiB |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| idle gateway | | | | | | | {:.2} | {:.1} |",
        idle.cpu_seconds,
        mib(idle.max_rss_kib * 1024)
    );
    for run in runs {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} ({:.1}) | {:.0} | {:.1} | {:.1} |",
            run.format,
            encoding(run.caller_gzip),
            run.direct.plain,
            run.direct.wire,
            run.out.wire,
            run.out.seconds,
            run.direct.seconds,
            mib(run.direct.plain) / run.out.seconds,
            run.usage.cpu_seconds,
            mib(run.usage.max_rss_kib * 1024)
        );
    }
    let peak = runs.iter().map(|r| r.usage.max_rss_kib).max().unwrap_or(0);
    println!(
        "\nPeak RSS {:.1} MiB (target < 64 MB: {}). Command: {command}",
        mib(peak * 1024),
        if peak * 1024 < 64_000_000 {
            "met"
        } else {
            "NOT met"
        },
    );
    println!(
        "The sandbox and this client share the machine's cores with the gateway: MiB/s is the \
         whole chain's, not the gateway's ceiling. \"Sandbox alone\": the same report straight \
         from the sandbox, its gzip inflated by this client."
    );
}

/// The 1, 5 and 15 minute load averages: above the number of cores, other processes took CPU
/// from the run, and its seconds (not its memory) are to be taken with care.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The caller's query; CSV with its header, so that the check below can see the columns.
pub(crate) fn query(format: &str) -> String {
    let header = if format == "csv" {
        "&CSVHeader=yes"
    } else {
        ""
    };
    format!("ReportId={REPORT_HUGE}&Format={format}{header}")
}
