//! The report: the comparison table and the redaction table for the README, then the notes that
//! say how far to trust them.

use std::fmt::Write as _;

use crate::redaction::Row;
use crate::servers::UPSTREAM_DELAY;
use crate::support::load::RunResult;
use crate::support::notes::closing_notes;
use crate::Settings;

/// The load generator's core counts as saturated above this (% busy).
const SATURATED: f64 = 95.0;

pub(crate) struct Measured {
    pub(crate) scenario: &'static str,
    pub(crate) rate: f64,
    /// The target's server process in the probe.
    pub(crate) server: &'static str,
    pub(crate) closed: RunResult,
    pub(crate) open: RunResult,
}

impl Measured {
    pub(crate) fn errors(&self) -> u64 {
        self.closed.stats.error_count() + self.open.stats.error_count()
    }
}

fn title(scenario: &str) -> &'static str {
    match scenario {
        "hit-json" => "cache hit, 5 KB JSON",
        "hit-xml" => "cache hit, 5 MB XML",
        _ => "miss, 200 ms upstream",
    }
}

pub(crate) fn print_report(
    s: &Settings,
    pinned: bool,
    quiet: &str,
    bodies: &[(&'static str, usize, String)],
    m: &[Measured],
    redaction: &[Row],
) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### casegate, a bare hyper server and nginx on loopback, {} keep-alive connections\n",
        s.connections
    );
    let _ = writeln!(out, "Command: `{}`\n", s.command());
    let _ = writeln!(out, "| scenario | target | requests/s (closed loop) | offered rate | p50 | p99 | server CPU per request | errors |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for t in m {
        let cpu = t.closed.cpu.cell(t.server);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0}/s | {:.3} ms | {:.3} ms | {cpu} | {} |",
            title(t.scenario),
            t.closed.label,
            t.closed.rate,
            t.rate,
            t.open.stats.ms(0.5),
            t.open.stats.ms(0.99),
            t.errors()
        );
    }
    if !redaction.is_empty() {
        let _ = writeln!(out, "\nRedaction throughput (MiB of input per second, one core; the same bytes in the same run):\n");
        let _ = writeln!(
            out,
            "| format | input | casegate's redactor | bare parser | ratio |"
        );
        let _ = writeln!(out, "|---|---:|---:|---|---:|");
        for r in redaction {
            let _ = writeln!(
                out,
                "| {} | {:.1} MB | {:.0} MiB/s | {}: {:.0} MiB/s | {:.2}× |",
                r.format.to_uppercase(),
                r.input_bytes as f64 / 1e6,
                r.redactor,
                r.parser_name,
                r.parser,
                r.redactor / r.parser
            );
        }
    }

    let _ = writeln!(out, "\nNotes:");
    if pinned {
        let _ = writeln!(out, "- Pinned: the load generator on core 0 (one tokio thread; a pacer thread in the latency run); every server on core 1, only the measured one busy (casegate and the bare servers one tokio worker each, nginx one worker process). In the miss scenario the sandbox shares core 1 with the proxy under test.");
    } else {
        let _ = writeln!(out, "- NOT pinned (taskset missing or fewer than 2 cores): load generator and servers compete for all cores; figures are noisier.");
    }
    for (scenario, bytes, content_type) in bodies {
        if s.scenarios.contains(scenario) {
            let _ = writeln!(
                out,
                "- {}: casegate serves {bytes} bytes of `{content_type}`.",
                title(scenario)
            );
        }
    }
    let _ = writeln!(out, "- Requests: every target gets the same request with the caller's RS256 token (about 700 bytes); only casegate reads it (verified once, then remembered, as in production). casegate's grant drops `Customer.DateOfBirth` and masks the other `Customer.*` columns. Hits: the 5 KB body is the example report (10800) as JSON; the 5 MB body is the sandbox's report 10805 as XML, `XML_BYTES` uncompressed upstream, after the grant. The bare servers answer with casegate's bytes from memory; nginx caches them from the bare server (`benches/compare/nginx.conf`: small answers without sendfile, the large one with sendfile) and must answer `X-Cache-Status: HIT`, casegate `X-Cache: HIT`.");
    let _ = writeln!(out, "- Miss: the sandbox answers GetReport {} ms late. casegate (`cache_ttl = \"0s\"`, `X-Cache: BYPASS`; `upstream.protection.max_concurrent` raised to 1024 so its default cap of 32 does not queue the latency run) takes the whole path: token, policy, the upstream request with its own OAuth token, gzip from the sandbox inflated, the JSON redacted. nginx proxies to the same sandbox with caching off and an access token the bench fetched, and passes the report on unredacted. The bare server answers casegate's bytes itself after {} ms: the floor. Closed-loop throughput here is bounded by connections / 200 ms.", UPSTREAM_DELAY.as_millis(), UPSTREAM_DELAY.as_millis());
    let _ = writeln!(out, "- Throughput: each connection sends its next request when the last is complete; {} s warm-up, then {} s counted. Latency: the scenario's offered rate round robin over the connections, from each request's scheduled send time to its last byte (no coordinated omission), {} s warm-up discarded, {} s measured. Server CPU per request from `/proc/<pid>/task/*/schedstat` during the closed loop.", s.warmup.as_secs_f64(), s.duration.as_secs_f64(), s.warmup.as_secs_f64(), s.duration.as_secs_f64());
    let saturated: Vec<String> = m
        .iter()
        .filter(|t| pinned && t.closed.cpu.core_busy.first().copied().unwrap_or(0.0) >= SATURATED)
        .map(|t| format!("{}, {}", title(t.scenario), t.closed.label))
        .collect();
    if !saturated.is_empty() {
        let _ = writeln!(out, "- **The load generator's core was {SATURATED:.0} % busy or more during the closed loop of**: {}. Those targets may be faster than measured; compare server CPU per request too.", saturated.join("; "));
    }
    if !redaction.is_empty() {
        let _ = writeln!(out, "- Redaction: the sandbox generator's report of {} rows per format, fed in 64 KiB chunks; the grant drops `Customer.*` and hashes `Customer.EmailAddress` (HMAC-SHA256), as `cargo bench --bench redact`, which measures the same code on 100,000 rows with criterion. Each figure runs for {} s after one warm-up pass, before the servers start.", s.redact_rows, s.redact_seconds);
    }
    let runs: Vec<(String, &RunResult)> = m
        .iter()
        .flat_map(|t| [(t, &t.closed, "closed"), (t, &t.open, "open")])
        .map(|(t, run, loop_)| {
            let place = format!("{}, {loop_} loop, {}", title(t.scenario), run.label);
            (place, run)
        })
        .collect();
    closing_notes(&mut out, quiet, &runs);
    print!("{out}");
}
