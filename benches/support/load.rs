//! The two measurements: open loop at a fixed rate, closed loop for throughput.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{Conn, Target};
use super::stats::{histogram, CpuSnapshot, CpuUse, Probe, Stats};

/// How long before a request is due the pacer stops sleeping and starts yielding.
const SPIN: Duration = Duration::from_micros(60);

/// Connections, and how long to load them before and while measuring.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub connections: usize,
    /// Requests sent before this are not counted.
    pub warmup: Duration,
    pub measured: Duration,
}

pub struct RunResult {
    pub label: &'static str,
    pub stats: Stats,
    /// Completed requests per second in the measured window.
    pub rate: f64,
    pub cpu: CpuUse,
    /// Open loop only: how late the pacer dispatched requests (µs); a floor in both paths.
    pub lateness: Option<Histogram<u64>>,
}

impl RunResult {
    /// `stats` of a `phase` on `target`, the CPUs' work between `before` and `after`.
    fn new(
        target: &Target,
        phase: Phase,
        stats: Stats,
        probe: &Probe,
        before: &CpuSnapshot,
        after: &CpuSnapshot,
    ) -> Self {
        let done = stats.latency.len() + stats.error_count();
        Self {
            label: target.label,
            rate: stats.latency.len() as f64 / phase.measured.as_secs_f64(),
            cpu: CpuUse::between(probe, before, after, done),
            stats,
            lateness: None,
        }
    }

    /// Rounds of one closed loop on one target as one result: their requests over their
    /// measured time (the rounds last equally long, so the mean of their rates), latency and
    /// errors merged, CPU combined ([`CpuUse::combine`]).
    pub fn combine(rounds: &[RunResult]) -> RunResult {
        let mut stats = Stats::new();
        for round in rounds {
            stats.merge(&round.stats);
        }
        let done = |r: &RunResult| r.stats.latency.len() + r.stats.error_count();
        let cpu: Vec<(&CpuUse, u64)> = rounds.iter().map(|r| (&r.cpu, done(r))).collect();
        RunResult {
            label: rounds.first().map_or("", |r| r.label),
            stats,
            rate: rounds.iter().map(|r| r.rate).sum::<f64>() / rounds.len().max(1) as f64,
            cpu: CpuUse::combine(&cpu),
            lateness: None,
        }
    }
}

/// Open loop: a pacer thread hands each connection its requests' scheduled times, round robin;
/// latency runs from the scheduled time to the end of the body, so queueing behind a slow
/// response counts (no coordinated omission). Tokio's timer has 1 ms ticks, too coarse to pace
/// with, hence a thread sleeping with `nanosleep`.
pub async fn open_loop(
    target: &Target,
    phase: Phase,
    rate: f64,
    probe: &Probe,
) -> Result<RunResult, String> {
    let mut senders = Vec::with_capacity(phase.connections);
    let mut tasks = Vec::with_capacity(phase.connections);
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + phase.warmup;
    let end = measure_from + phase.measured;
    for _ in 0..phase.connections {
        let mut conn = Conn::open(target).await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
        senders.push(tx);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            while let Some(scheduled) = rx.recv().await {
                let result = conn.request().await;
                if scheduled >= measure_from {
                    stats.record(result, scheduled.elapsed());
                }
            }
            stats
        }));
    }
    let pacer_probe = probe.clone();
    let pacer = std::thread::spawn(move || {
        let probe = pacer_probe;
        let mut lateness = histogram();
        let mut before = None;
        for k in 0u64.. {
            let scheduled = start + Duration::from_secs_f64(k as f64 / rate);
            if scheduled >= end {
                break;
            }
            if scheduled >= measure_from && before.is_none() {
                before = Some(probe.snapshot());
            }
            // nanosleep overshoots by the timer slack (~50 µs): sleep short, then yield until due.
            let now = Instant::now();
            if scheduled > now + SPIN {
                std::thread::sleep(scheduled - now - SPIN);
            }
            while Instant::now() < scheduled {
                std::thread::yield_now();
            }
            if scheduled >= measure_from {
                lateness.saturating_record(scheduled.elapsed().as_micros().max(1) as u64);
            }
            // A closed channel means its task panicked; the missing answers show as a low rate.
            let _ = senders[k as usize % senders.len()].send(scheduled);
        }
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        (
            lateness,
            before.unwrap_or_else(|| probe.snapshot()),
            probe.snapshot(),
        )
    });
    let stats = collect(tasks).await?;
    let (lateness, before, after) = pacer
        .join()
        .map_err(|_| "the pacer thread panicked".to_owned())?;
    let mut result = RunResult::new(target, phase, stats, probe, &before, &after);
    result.lateness = Some(lateness);
    Ok(result)
}

/// Closed loop: every connection sends its next request as soon as the last one is complete.
/// Only requests sent and completed inside the measured window count.
pub async fn closed_loop(
    target: &Target,
    phase: Phase,
    probe: &Probe,
) -> Result<RunResult, String> {
    let start = Instant::now();
    let measure_from = start + phase.warmup;
    let end = measure_from + phase.measured;
    let mut tasks = Vec::with_capacity(phase.connections);
    for _ in 0..phase.connections {
        let mut conn = Conn::open(target).await?;
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return stats;
                }
                let result = conn.request().await;
                if sent >= measure_from && Instant::now() <= end {
                    stats.record(result, sent.elapsed());
                }
            }
        }));
    }
    let cpu_probe = probe.clone();
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = cpu_probe.snapshot();
        tokio::time::sleep_until(end.into()).await;
        (before, cpu_probe.snapshot())
    });
    let stats = collect(tasks).await?;
    let (before, after) = cpu.await.map_err(|e| e.to_string())?;
    Ok(RunResult::new(target, phase, stats, probe, &before, &after))
}

/// The connections' statistics, merged.
async fn collect(tasks: Vec<JoinHandle<Stats>>) -> Result<Stats, String> {
    let mut stats = Stats::new();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("connection task: {e}"))?);
    }
    Ok(stats)
}
