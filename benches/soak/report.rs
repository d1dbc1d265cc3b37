//! The soak's report: a markdown table per kind, casegate's memory over the run, the verdict.

use std::fmt::Write as _;
use std::time::Duration;

use crate::mix::CACHE_BYTES;
use crate::run::Fill;
use crate::support::load::RunResult;
use crate::support::rss::mib;
use crate::support::stats::{CpuUse, Stats};
use crate::support::DISTURBED;
use crate::Settings;

/// casegate's resident memory (KiB) at each point of the run.
#[derive(Default)]
pub(crate) struct Memory {
    /// Listening, before any request.
    pub(crate) started: u64,
    /// After the misses filled the cache.
    pub(crate) filled: u64,
    /// At the end of the warm-up: the baseline.
    pub(crate) baseline: u64,
    pub(crate) peak: u64,
    /// As the load ended.
    pub(crate) end: u64,
    /// After the idle settle.
    pub(crate) settled: u64,
    /// (since the mix started, KiB) once a second.
    pub(crate) samples: Vec<(Duration, u64)>,
}

pub(crate) struct Outcome {
    pub(crate) results: Vec<RunResult>,
    pub(crate) fill: Fill,
    pub(crate) cpu: CpuUse,
    /// When the measured window started, counted from the start of the mix.
    pub(crate) measure_from: Duration,
}

impl Outcome {
    pub(crate) fn errors(&self) -> u64 {
        self.fill.stats.error_count()
            + self
                .results
                .iter()
                .map(|r| r.stats.error_count())
                .sum::<u64>()
    }

    /// Each kind of failure, with where it happened and how often: "miss JSON: 3 × status 503".
    pub(crate) fn error_lines(&self) -> Vec<String> {
        let fill = self
            .fill
            .stats
            .errors
            .iter()
            .map(|e| ("filling the cache", e));
        let mix = self
            .results
            .iter()
            .flat_map(|r| r.stats.errors.iter().map(|e| (r.label, e)));
        fill.chain(mix)
            .map(|(label, (e, n))| format!("{label}: {n} × {e}"))
            .collect()
    }
}

/// Prints the report; returns whether memory came back flat.
pub(crate) fn print_report(s: &Settings, pinned: bool, o: &Outcome, m: &Memory) -> bool {
    let mut out = String::new();
    let secs = s.duration.as_secs_f64();
    let _ = writeln!(out, "\n### Soak: {} req/s offered for {secs:.0} s, mixed load through casegate to the sandbox\n", s.rate);
    let _ = writeln!(out, "Command: `{}`\n", s.command());
    let _ = writeln!(
        out,
        "| kind | share | completed req/s | p50 | p99 | max | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let mut all = Stats::new();
    for r in &o.results {
        all.merge(&r.stats);
        let done = r.stats.latency.len() + r.stats.error_count();
        let _ = writeln!(
            out,
            "| {} | {:.0} % | {:.1} | {:.2} ms | {:.2} ms | {:.1} ms | {} |",
            r.label,
            100.0 * done as f64 / all_requests(o).max(1) as f64,
            r.rate,
            r.stats.ms(0.5),
            r.stats.ms(0.99),
            r.stats.latency.max() as f64 / 1000.0,
            r.stats.error_count()
        );
    }
    let _ = writeln!(
        out,
        "| **all** | 100 % | **{:.1}** | {:.2} ms | {:.2} ms | {:.1} ms | **{}** |",
        all.latency.len() as f64 / secs,
        all.ms(0.5),
        all.ms(0.99),
        all.latency.max() as f64 / 1000.0,
        all.error_count()
    );

    let slack_kib = (s.rss_slack_mib * 1024.0) as u64;
    let flat = m.settled <= m.baseline + slack_kib;
    let delta = |kib: u64| {
        let d = kib as f64 - m.baseline as f64;
        format!("{}{:.1}", if d >= 0.0 { "+" } else { "" }, d / 1024.0)
    };
    let _ = writeln!(out, "\ncasegate's resident memory (VmRSS), MiB:\n");
    let _ = writeln!(out, "| started (idle) | cache filled | after the warm-up (baseline) | peak under load | end of load | after {:.0} s idle | settled − baseline | verdict (≤ +{} MiB) |", s.settle.as_secs_f64(), s.rss_slack_mib);
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | **{}** |",
        mib(m.started),
        mib(m.filled),
        mib(m.baseline),
        mib(m.peak),
        mib(m.end),
        mib(m.settled),
        delta(m.settled),
        if flat { "flat" } else { "GREW" }
    );
    let measured: Vec<&(Duration, u64)> = m
        .samples
        .iter()
        .filter(|(t, _)| *t >= o.measure_from && *t <= o.measure_from + s.duration)
        .collect();
    if measured.len() >= 2 {
        let points: Vec<String> = (0..=10)
            .map(|i| measured[(measured.len() - 1) * i / 10])
            .map(|(t, kib)| {
                format!(
                    "{:.0} s: {}",
                    (*t - o.measure_from).as_secs_f64(),
                    mib(*kib)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\nOver the measured window (MiB): {}.",
            points.join(", ")
        );
    }

    let _ = writeln!(out, "\nNotes:");
    if pinned {
        let _ = writeln!(out, "- Pinned: the load generator on core 0, the sandbox and casegate on core 1 (one tokio worker each).");
    } else {
        let _ = writeln!(out, "- NOT pinned (taskset missing or fewer than 2 cores).");
    }
    let _ = writeln!(out, "- Open loop: each kind its own connections and pacer at its share of the rate; latency from each request's scheduled send time to its last byte (no coordinated omission). {:.0} s warm-up (not counted), after misses alone filled the {} MiB response cache ({} misses in {:.1} s; each a new entry, which from then on evicts another).", s.warmup.as_secs_f64(), CACHE_BYTES >> 20, o.fill.stats.latency.len(), o.fill.took.as_secs_f64());
    let _ = writeln!(out, "- Every answer is checked: status, body length (hits: misses ask a new query each time, and their lengths may differ), a complete body, `X-Cache` (HIT or MISS), `Content-Encoding: gzip` where asked; anything else is an error and the soak fails.");
    let _ = writeln!(out, "- {}", o.cpu.describe());
    if o.cpu.foreign.unwrap_or(0.0) > DISTURBED {
        let _ = writeln!(out, "- **Busy machine: other processes used {:.0} % of a core**; latency figures are disturbed (memory and errors are not).", o.cpu.foreign.unwrap_or(0.0));
    }
    if o.errors() > 0 {
        let _ = writeln!(out, "- **ERRORS: {}**", o.errors());
        for line in o.error_lines() {
            let _ = writeln!(out, "  - {line}");
        }
    } else {
        let _ = writeln!(out, "- Errors: none.");
    }
    print!("{out}");
    flat
}

fn all_requests(o: &Outcome) -> u64 {
    o.results
        .iter()
        .map(|r| r.stats.latency.len() + r.stats.error_count())
        .sum()
}
