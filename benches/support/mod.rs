//! What the benches share (`added_latency`, `cache_hit`, `compare`, `soak`, `redact`): keep-alive
//! HTTP/1.1 connections that check every answer, open- and closed-loop load, HDR statistics and
//! CPU accounting from `/proc`, child servers pinned to a core (casegate, the sandbox, a bare
//! hyper server, nginx), resident memory, the bench caller's RS256 identity, and the redaction
//! workloads with their bare parsers.
//!
//! Included by each bench with `#[path = "../support/mod.rs"] mod support;`; cargo does not
//! take `benches/support/mod.rs` for a bench of its own. Each bench uses part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code, unreachable_pub)]

pub mod bare;
pub mod caller;
pub mod client;
pub mod load;
pub mod nginx;
pub mod notes;
pub mod procs;
pub mod redaction;
pub mod rss;
pub mod sandbox_token;
pub mod served;
pub mod settings;
pub mod stats;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// A request that takes longer than this counts as failed and its connection is reopened.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Other processes' CPU (% of one core) above which a measurement is called disturbed.
pub const DISTURBED: f64 = 10.0;

/// The environment variable `name` parsed as a `T`; absent is `None`, unparsable an error.
pub fn env_var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v:?} is not valid")),
        Err(_) => Ok(None),
    }
}

/// A load bench's `main`: pins this process to core 0 before any thread exists (so the runtime
/// and the pacer inherit it), runs `run(settings, pinned)` on a current-thread runtime, and
/// exits non-zero when the bench could not run or any request failed.
pub fn run_bench<S, F, Fut>(name: &str, settings: Result<S, String>, run: F) -> ExitCode
where
    F: FnOnce(S, bool) -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pinned = procs::cores() >= 2 && procs::pin_self_to_core0();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(settings, pinned)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!(
                "\n!!!! {name}: {errors} request(s) FAILED; the figures above are NOT valid !!!!"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
