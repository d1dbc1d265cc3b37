//! The report: a markdown table for the README, the targets' verdicts, then the notes that say
//! how far to trust it.

use std::fmt::Write as _;

use casegate::sandbox::REPORT_EXAMPLE;

use crate::support::load::RunResult;
use crate::support::notes::closing_notes;
use crate::support::served::Body;
use crate::{Settings, WARMUP};

/// The load generator's core counts as saturated above this (% busy).
const SATURATED: f64 = 95.0;

/// One target's runs and the name of its server process in the probe.
pub(crate) struct Measured {
    /// The closed loop's rounds as one ([`RunResult::combine`]).
    pub(crate) closed: RunResult,
    pub(crate) rounds: Vec<RunResult>,
    pub(crate) open: RunResult,
    pub(crate) server: &'static str,
}

impl Measured {
    pub(crate) fn errors(&self) -> u64 {
        self.closed.stats.error_count() + self.open.stats.error_count()
    }
}

/// casegate's ratios to bare hyper and to nginx in closed-loop throughput.
fn ratios(bare: &RunResult, nginx: &RunResult, casegate: &RunResult) -> (f64, f64) {
    (casegate.rate / bare.rate, casegate.rate / nginx.rate)
}

/// The targets: ≥ 0.8 × bare hyper, ≥ 1.0 × nginx.
fn met((vs_bare, vs_nginx): (f64, f64)) -> (bool, bool) {
    (vs_bare >= 0.8, vs_nginx >= 1.0)
}

/// Each round's throughput and ratios, and in how many rounds each target was met.
fn rounds_table(out: &mut String, m: &[Measured]) {
    let (bare, nginx, casegate) = (&m[0], &m[1], &m[2]);
    let n = casegate.rounds.len();
    let _ = writeln!(out, "\nRounds of the closed loop (each target once a round, round _r_ starting with target _r_; requests/s and server CPU per request):\n");
    let _ = writeln!(
        out,
        "| round | bare hyper | nginx | casegate | × bare hyper | × nginx |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut counts = (0, 0, 0);
    for r in 0..n {
        let (b, x, c) = (&bare.rounds[r], &nginx.rounds[r], &casegate.rounds[r]);
        let v = ratios(b, x, c);
        let (vb, vn) = met(v);
        counts.0 += usize::from(vb);
        counts.1 += usize::from(vn);
        counts.2 += usize::from(vb && vn);
        let cell = |t: &RunResult, server| format!("{:.0} ({})", t.rate, t.cpu.cell(server));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} |",
            r + 1,
            cell(b, bare.server),
            cell(x, nginx.server),
            cell(c, casegate.server),
            v.0,
            v.1
        );
    }
    let _ = writeln!(out, "\nBy round: ≥ 0.8 × bare hyper in {} of {n}, ≥ 1.0 × nginx in {} of {n}, both in {} of {n}.", counts.0, counts.1, counts.2);
}

pub(crate) fn print_report(s: &Settings, pinned: bool, quiet: &str, body: &Body, m: &[Measured]) {
    let (bare, nginx, casegate) = (&m[0], &m[1], &m[2]);
    let mut out = String::new();
    let _ = writeln!(out, "\n### casegate cache hits: GetReport {REPORT_EXAMPLE} as JSON, redacted ({} bytes), {} keep-alive connections, loopback\n", body.bytes.len(), s.load.connections);
    let _ = writeln!(out, "Command: `{}`\n", s.command());
    let _ = writeln!(out, "| target | requests/s (closed loop) | p50 at {0:.0}/s | p99 at {0:.0}/s | p99 closed loop | errors | × bare hyper | × nginx | server CPU per request |", s.load.rate);
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for t in m {
        let cpu = t.closed.cpu.cell(t.server);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms | {} | {:.2} | {:.2} | {cpu} |",
            t.closed.label,
            t.closed.rate,
            t.open.stats.ms(0.5),
            t.open.stats.ms(0.99),
            t.closed.stats.ms(0.99),
            t.errors(),
            t.closed.rate / bare.closed.rate,
            t.closed.rate / nginx.closed.rate,
        );
    }
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let v = ratios(&bare.closed, &nginx.closed, &casegate.closed);
    let (met_bare, met_nginx) = met(v);
    let _ = writeln!(
        out,
        "\nTargets (throughput over all {} rounds): casegate ≥ 0.8 × bare hyper: {:.2}, **{}**; casegate ≥ 1.0 × nginx: {:.2}, **{}**.",
        casegate.rounds.len(),
        v.0,
        verdict(met_bare),
        v.1,
        verdict(met_nginx)
    );
    rounds_table(&mut out, m);

    let _ = writeln!(out, "\nNotes:");
    if pinned {
        let _ = writeln!(out, "- Pinned: the load generator on core 0 (one tokio thread; a pacer thread in the latency run); every server on core 1, one at a time under load (casegate and the bare server one tokio worker each, nginx one worker process). The sandbox, also on core 1, is idle once the caches are warm.");
    } else {
        let _ = writeln!(out, "- NOT pinned (taskset missing or fewer than 2 cores): load generator and servers compete for all cores; figures are noisier.");
    }
    for t in m {
        for (r, round) in t.rounds.iter().enumerate() {
            let core0 = round.cpu.core_busy.first().copied().unwrap_or(0.0);
            if pinned && core0 >= SATURATED {
                let _ = writeln!(out, "- **The load generator's core was {core0:.0} % busy during round {} of the closed loop on {}**: that target may be faster than measured, so ratios against it flatter the others.", r + 1, t.closed.label);
            }
        }
    }
    let _ = writeln!(out, "- The body: the sandbox's example report ({REPORT_EXAMPLE}) as JSON through a grant that drops `Customer.DateOfBirth` and masks the other `Customer.*` columns, cached by casegate for 1 h; `{}`. The bare hyper server (this bench, started again as its own process) answers every request with these bytes and this Content-Type from memory; nginx caches them from the bare server (`proxy_cache_valid 200 1h`, see `benches/cache_hit/nginx.conf`).", body.content_type.to_str().unwrap_or("?"));
    let _ = writeln!(out, "- Every request to every target is `GET /getreport?ReportId={REPORT_EXAMPLE}&Format=json` with the caller's RS256 token (about 700 bytes); only casegate reads it. casegate verifies the token the first time and then remembers it (`auth.remember`, on by default), as in production; every hit still looks the token up, checks the policy, builds the cache key and the response headers. casegate logs at `{}`; its audit events (one a request, about 900 bytes) go {}. nginx's access log (Debian's `combined` format, one line a request, about 150 bytes, buffered as casegate's audit: 256 KiB or 20 ms) goes {}.", s.load.gateway_log, s.audit.describe(), s.nginx_log.describe());
    let _ = writeln!(out, "- Every response is checked: 200, {} bytes, and `X-Cache: HIT` from casegate, `X-Cache-Status: HIT` from nginx; anything else is an error.", body.bytes.len());
    let _ = writeln!(out, "- Throughput: each connection sends its next request when the last is complete; {} s warm-up, then {} s counted, in each of {} rounds. Latency: {} req/s offered round robin over the connections, from each request's scheduled send time to its last byte (no coordinated omission), {} s warm-up discarded, {} s measured. p99 rests on ~1 % of the requests and moves between runs; compare it over several runs.", WARMUP.as_secs(), s.load.duration.as_secs_f64(), s.rounds, s.load.rate, WARMUP.as_secs(), s.load.duration.as_secs_f64());
    for t in m {
        if let Some(l) = &t.open.lateness {
            let _ = writeln!(out, "- Pacer lateness, {}: p50 {} µs, p99 {} µs, max {} µs; a floor in that target's latency.", t.open.label, l.value_at_quantile(0.5), l.value_at_quantile(0.99), l.max());
        }
    }
    for t in m {
        let _ = writeln!(
            out,
            "- Closed loop, {} (all rounds): {}",
            t.closed.label,
            t.closed.cpu.describe()
        );
    }
    let runs: Vec<(String, &RunResult)> = m
        .iter()
        .flat_map(|t| [(&t.closed, "closed"), (&t.open, "open")])
        .map(|(run, loop_)| (format!("{loop_} loop, {}", run.label), run))
        .collect();
    closing_notes(&mut out, quiet, &runs);
    print!("{out}");
}
