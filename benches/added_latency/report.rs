//! The report: a markdown table for the README, then the notes that say how far to trust it.

use std::fmt::Write as _;

use super::*;

pub(crate) fn print_report(
    s: &Settings,
    pinned: bool,
    quiet: &str,
    body_len: usize,
    open: &[RunResult; 2],
    closed: &[RunResult; 2],
) {
    const QS: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];
    let mut out = String::new();
    let _ = writeln!(out, "\n### casegate added latency: GetReport {REPORT_EXAMPLE} as JSON ({body_len} bytes), {} keep-alive connections, loopback\n", s.load.connections);
    let _ = writeln!(out, "Command: `{}`\n", s.command());
    let _ = writeln!(out, "| path | offered | achieved | p50 | p90 | p99 | p99.9 | max | throughput (closed loop) | server CPU per request (closed loop) |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let us = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} µs"));
    for (i, (o, c)) in open.iter().zip(closed).enumerate() {
        let cells: Vec<String> = QS
            .iter()
            .map(|&q| format!("{:.3} ms", o.stats.ms(q)))
            .collect();
        let (sandbox, gateway) = (c.cpu.of("sandbox"), c.cpu.of("casegate"));
        let cpu = if i == 0 {
            format!("sandbox {}", us(sandbox))
        } else {
            format!("casegate {} + sandbox {}", us(gateway), us(sandbox))
        };
        let _ = writeln!(
            out,
            "| {} | {:.0}/s | {:.0}/s | {} | {:.0}/s | {cpu} |",
            o.label,
            s.load.rate,
            o.rate,
            cells.join(" | "),
            c.rate
        );
    }
    let added: Vec<f64> = QS
        .iter()
        .map(|&q| open[1].stats.ms(q) - open[0].stats.ms(q))
        .collect();
    let cells: Vec<String> = added.iter().map(|a| format!("**{a:+.3} ms**")).collect();
    let _ = writeln!(
        out,
        "| **added by casegate** | | | {} | {:+.0} % | |",
        cells.join(" | "),
        100.0 * (closed[1].rate / closed[0].rate - 1.0)
    );
    let verdict = |v: f64, t: f64| if v <= t { "met" } else { "MISSED" };
    let _ = writeln!(
        out,
        "\nTargets: added p50 {:+.3} ms ≤ 0.3 ms: **{}**; added p99 {:+.3} ms ≤ 1 ms: **{}**.",
        added[0],
        verdict(added[0], 0.3),
        added[2],
        verdict(added[2], 1.0)
    );

    let _ = writeln!(out, "\nNotes:");
    if pinned {
        let _ = writeln!(out, "- Pinned: load generator on core 0 (one tokio thread + a pacer thread); sandbox and casegate on core 1, one worker thread each. Via casegate, the two servers SHARE core 1, so the added figures include the gateway competing with the sandbox for that core; direct, the sandbox has it alone.");
    } else {
        let _ = writeln!(out, "- NOT pinned (taskset missing or fewer than 2 cores): load generator and servers compete for all cores; figures are noisier.");
    }
    let _ = writeln!(out, "- Latency is from each request's scheduled send time (open loop, {} req/s round robin over {} connections, {} s warm-up discarded, {} s measured), to the last body byte. Added = via − direct, percentile by percentile (not a percentile of per-request differences).", s.load.rate, s.load.connections, WARMUP.as_secs(), s.load.duration.as_secs_f64());
    let tail = (open[0].stats.latency.len() as f64 * 0.01).round();
    let _ = writeln!(out, "- p99 rests on the slowest ~{tail:.0} requests of each path, p99.9 and max on a handful: they are shaped by millisecond stalls of this VM (see the pacer's max lateness) that hit either path at random. Compare p99 over several runs or a longer DURATION; do not read p99.9 or max as a gateway property.");
    for r in open {
        let label = r.label;
        if let Some(l) = &r.lateness {
            let _ = writeln!(out, "- Pacer lateness, {label}: p50 {} µs, p99 {} µs, max {} µs; a floor included in both paths' latency.", l.value_at_quantile(0.5), l.value_at_quantile(0.99), l.max());
        }
    }
    for (r, label) in open
        .iter()
        .zip(["open loop, direct", "open loop, via casegate"])
        .chain(
            closed
                .iter()
                .zip(["closed loop, direct", "closed loop, via casegate"]),
        )
    {
        let _ = writeln!(out, "- {label}: {}", r.cpu.describe());
    }
    let _ = writeln!(out, "- Direct requests carry an OAuth bearer token from the sandbox and the query casegate sends upstream (`db=sandbox&Format=json&ReportId=...`); requests via casegate carry the caller's RS256 JWT, verified (then remembered) and checked against a one-grant policy whose `cache_ttl = \"0s\"` keeps the response cache out of the way (every answer via casegate must say `X-Cache: BYPASS`); casegate logs at `{}` (RUST_LOG removed from its environment), upstream pool_max_idle_per_host {}. Every response is checked: 200 and {body_len} bytes.", s.load.gateway_log, s.gateway_pool.map_or("casegate's default".to_owned(), |n| n.to_string()));
    let _ = writeln!(out, "- Before the run: {quiet}");
    let disturbed = open
        .iter()
        .chain(closed)
        .filter_map(|r| r.cpu.foreign)
        .fold(0.0, f64::max);
    if disturbed > DISTURBED {
        let _ = writeln!(out, "- **DISTURBED: other processes used up to {disturbed:.0} % of a core during a measurement; rerun on a quiet machine before trusting these figures.**");
    }
    let all = open.iter().chain(closed);
    let errors: u64 = all.clone().map(|r| r.stats.error_count()).sum();
    if errors == 0 {
        let _ = writeln!(out, "- Errors: none.");
    } else {
        let _ = writeln!(out, "- **ERRORS: {errors}**");
        for (r, label) in all.zip(["open/direct", "open/via", "closed/direct", "closed/via"]) {
            for (e, n) in &r.stats.errors {
                let _ = writeln!(out, "  - {label}: {n} × {e}");
            }
        }
    }
    print!("{out}");
}
