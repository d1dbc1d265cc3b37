//! The run: redaction rows first (the servers are not started yet, so the core is free), then
//! the servers, then every target of every scenario in turn: closed loop, then open loop.

use std::time::Duration;

use crate::report::{print_report, Measured};
use crate::support::caller::caller_bearer;
use crate::support::load::{closed_loop, open_loop, Phase};
use crate::support::procs::wait_for_quiet;
use crate::support::stats::Probe;
use crate::{redaction, servers, Settings};

pub(crate) async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let quiet = wait_for_quiet(s.quiet_wait);
    let redaction = if s.redact_seconds > 0.0 {
        eprintln!("compare: redaction, {} rows per format", s.redact_rows);
        redaction::measure(s.redact_rows, s.redact_seconds)
    } else {
        Vec::new()
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let cells = 2 * 3 * s.scenarios.len() as u32;
    let lifetime = cells * (s.warmup + s.duration) + Duration::from_secs(300);
    let caller = caller_bearer()?;
    let started = servers::start(s, &caller, dir.path(), pinned, lifetime).await?;
    let probe = Probe::new(
        &started
            .servers
            .iter()
            .map(|(name, server)| (*name, server.pid()))
            .collect::<Vec<_>>(),
    );
    let phase = Phase {
        connections: s.connections,
        warmup: s.warmup,
        measured: s.duration,
    };
    let mut measured = Vec::new();
    for scenario in &started.scenarios {
        for (target, server) in &scenario.targets {
            eprintln!("compare: {}, {}: closed loop", scenario.name, target.label);
            let closed = closed_loop(target, phase, &probe).await?;
            eprintln!(
                "compare: {}, {}: open loop at {}/s",
                scenario.name, target.label, scenario.rate
            );
            let open = open_loop(target, phase, scenario.rate, &probe).await?;
            measured.push(Measured {
                scenario: scenario.name,
                rate: scenario.rate,
                server,
                closed,
                open,
            });
        }
    }
    print_report(s, pinned, &quiet, &started.bodies, &measured, &redaction);
    let errors: u64 = measured.iter().map(Measured::errors).sum();
    if errors > 0 {
        for (_, server) in &started.servers {
            eprintln!(
                "--- {} (tail) ---\n{}",
                server.log.display(),
                server.log_tail()
            );
        }
    }
    Ok(errors)
}
