//! The two measurements: open loop at a fixed rate, closed loop for throughput.

use super::*;

pub(crate) struct RunResult {
    pub(crate) label: &'static str,
    pub(crate) stats: Stats,
    /// Completed requests per second in the measured window.
    pub(crate) rate: f64,
    pub(crate) cpu: CpuUse,
    /// Open loop only: how late the pacer dispatched requests (µs); a floor in both paths.
    pub(crate) lateness: Option<Histogram<u64>>,
}

/// Open loop: a pacer thread hands each connection its requests' scheduled times, round robin;
/// latency runs from the scheduled time to the end of the body, so queueing behind a slow
/// response counts (no coordinated omission). Tokio's timer has 1 ms ticks, too coarse to pace
/// with, hence a thread sleeping with `nanosleep`.
pub(crate) async fn open_loop(
    target: &Target,
    s: &Settings,
    probe: &Probe,
) -> Result<RunResult, String> {
    let mut senders = Vec::with_capacity(s.connections);
    let mut tasks = Vec::with_capacity(s.connections);
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + WARMUP;
    let end = measure_from + s.duration;
    for _ in 0..s.connections {
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
    let (rate, probe) = (s.rate, probe.clone());
    let pacer = std::thread::spawn(move || {
        let mut lateness =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
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
    let mut stats = Stats::new();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("connection task: {e}"))?);
    }
    let (lateness, before, after) = pacer
        .join()
        .map_err(|_| "the pacer thread panicked".to_owned())?;
    let done = stats.latency.len() + stats.error_count();
    Ok(RunResult {
        label: target.label,
        rate: stats.latency.len() as f64 / s.duration.as_secs_f64(),
        cpu: CpuUse::between(&before, &after, done),
        stats,
        lateness: Some(lateness),
    })
}

/// Closed loop: every connection sends its next request as soon as the last one is complete.
/// Only requests sent and completed inside the measured window count.
pub(crate) async fn closed_loop(
    target: &Target,
    s: &Settings,
    probe: &Probe,
) -> Result<RunResult, String> {
    let start = Instant::now();
    let measure_from = start + THROUGHPUT_RAMP;
    let end = measure_from + THROUGHPUT;
    let mut tasks = Vec::with_capacity(s.connections);
    for _ in 0..s.connections {
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
    let probe = probe.clone();
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = probe.snapshot();
        tokio::time::sleep_until(end.into()).await;
        (before, probe.snapshot())
    });
    let mut stats = Stats::new();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("connection task: {e}"))?);
    }
    let (before, after) = cpu.await.map_err(|e| e.to_string())?;
    let done = stats.latency.len() + stats.error_count();
    Ok(RunResult {
        label: target.label,
        rate: stats.latency.len() as f64 / THROUGHPUT.as_secs_f64(),
        cpu: CpuUse::between(&before, &after, done),
        stats,
        lateness: None,
    })
}
