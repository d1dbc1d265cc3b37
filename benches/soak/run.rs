//! The run: start the sandbox and casegate, warm up, fill the cache, load the mix, watch
//! casegate's memory throughout, then let it settle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::mix::{extra, kinds, learn_lengths, policy, CACHE_BYTES};
use crate::report::{print_report, Memory, Outcome};
use crate::support::caller::{write_gateway_config, GatewayConfig};
use crate::support::client::Target;
use crate::support::load::{closed_loop, open_loop, Phase};
use crate::support::procs::{casegate, free_port, Server};
use crate::support::rss::{rss_kib, server_pid};
use crate::support::stats::{CpuUse, Probe, Stats};
use crate::Settings;

/// The longest the misses alone may take to fill the response cache before the mix.
const FILL_LIMIT: Duration = Duration::from_secs(180);

pub(crate) async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let [sandbox_addr, gateway_addr] = [free_port()?, free_port()?];
    let lifetime = FILL_LIMIT + s.warmup + s.duration + s.settle + Duration::from_secs(300);
    let spawn =
        |name, args: &[&str]| Server::spawn(name, &casegate(), args, pinned, lifetime, dir.path());
    let sandbox_listen = sandbox_addr.to_string();
    let mut sandbox = spawn("sandbox", &["sandbox", "--listen", &sandbox_listen])?;
    let config = write_gateway_config(
        dir.path(),
        &GatewayConfig {
            listen: gateway_addr,
            sandbox: sandbox_addr,
            log: &s.gateway_log,
            upstream_extra: "",
            policy: &policy(),
            extra: &extra(),
        },
    )?;
    let mut gateway = spawn(
        "casegate",
        &["serve", "--config", &config.to_string_lossy()],
    )?;
    sandbox.wait_ready(sandbox_addr)?;
    gateway.wait_ready(gateway_addr)?;
    let pid = server_pid(gateway.child.id());
    let rss = || rss_kib(pid).ok_or_else(|| gateway.with_log("casegate exited"));
    let mut memory = Memory {
        started: rss()?,
        ..Memory::default()
    };

    let mut kinds = kinds(gateway_addr)?;
    learn_lengths(&mut kinds)
        .await
        .map_err(|e| gateway.with_log(&e))?;
    let probe = Probe::new(&[("sandbox", sandbox.pid()), ("casegate", gateway.pid())]);

    // Every miss a new entry: the cache is full (and evicting) before the baseline. Twice its
    // size in identity bodies alone (each entry also holds a gzip copy).
    let miss = kinds
        .iter()
        .find(|k| k.target.unique_param.is_some())
        .expect("a miss kind");
    let wanted = (2 * CACHE_BYTES / miss.sample_len.unwrap_or(1024).max(1)) as u64;
    let miss = &miss.target;
    eprintln!("soak: filling the cache with {wanted} misses");
    let fill = Fill::run(miss, wanted, &probe).await?;
    memory.filled = rss()?;

    // The mix: each kind its own open loop at its share of the rate, all at once, with the
    // sampler watching casegate's memory.
    let total: u32 = kinds.iter().map(|k| k.weight).sum();
    let started = Instant::now();
    let measure_from = started + s.warmup;
    let end = measure_from + s.duration;
    let samples = Arc::new(Mutex::new(Vec::<(Duration, u64)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples
                        .lock()
                        .expect("samples")
                        .push((started.elapsed(), kib));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let cpu = {
        let probe = probe.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = probe.snapshot();
            let baseline = rss_kib(pid);
            tokio::time::sleep_until(end.into()).await;
            (before, probe.snapshot(), baseline)
        })
    };
    eprintln!(
        "soak: {} req/s for {:?} (after a {:?} warm-up)",
        s.rate, s.duration, s.warmup
    );
    let loads = kinds.iter().map(|k| {
        let rate = s.rate * f64::from(k.weight) / f64::from(total);
        let phase = Phase {
            // Enough that a connection is rarely busy when its next request is due.
            connections: (rate / 50.0).ceil().max(2.0) as usize,
            warmup: s.warmup,
            measured: s.duration,
        };
        open_loop(&k.target, phase, rate, &probe)
    });
    let results = join_all(loads)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    memory.end = rss()?;
    let (before, after, baseline) = cpu.await.map_err(|e| e.to_string())?;
    memory.baseline = baseline.ok_or_else(|| gateway.with_log("casegate exited"))?;
    eprintln!("soak: idle for {:?}", s.settle);
    tokio::time::sleep(s.settle).await;
    memory.settled = rss()?;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    memory.samples = std::mem::take(&mut *samples.lock().expect("samples"));
    memory.peak = memory
        .samples
        .iter()
        .map(|(_, kib)| *kib)
        .max()
        .unwrap_or(0);

    let requests: u64 = results
        .iter()
        .map(|r| r.stats.latency.len() + r.stats.error_count())
        .sum();
    let outcome = Outcome {
        cpu: CpuUse::between(&probe, &before, &after, requests),
        results,
        fill,
        measure_from: s.warmup,
    };
    let errors = outcome.errors();
    let flat = print_report(s, pinned, &outcome, &memory);
    if errors > 0 {
        // The servers' warnings and errors and the 5xx answers in the audit stream, then the
        // failures again: the end of the output is what a CI log shows.
        let notable =
            |line: &str| !line.contains(r#""level":"INFO""#) || line.contains(r#""status":5"#);
        for server in [&sandbox, &gateway] {
            eprintln!(
                "--- {} (warnings, errors, 5xx; last 20) ---\n{}",
                server.log.display(),
                server.log_tail_matching(notable)
            );
        }
        eprintln!("--- the failures ---");
        for line in outcome.error_lines() {
            eprintln!("{line}");
        }
    }
    if !flat && errors == 0 {
        return Err(format!(
            "casegate's memory did not come back flat: {} MiB after the load and {:?} idle, \
             {} MiB after the warm-up (allowed: +{} MiB)",
            crate::support::rss::mib(memory.settled),
            s.settle,
            crate::support::rss::mib(memory.baseline),
            s.rss_slack_mib
        ));
    }
    Ok(errors)
}

/// The misses that fill the cache before the mix.
pub(crate) struct Fill {
    pub(crate) stats: Stats,
    pub(crate) took: Duration,
}

impl Fill {
    /// Closed loops of a second until `wanted` misses have been answered.
    async fn run(miss: &Target, wanted: u64, probe: &Probe) -> Result<Self, String> {
        let started = Instant::now();
        let mut stats = Stats::new();
        let second = Phase {
            connections: 16,
            warmup: Duration::ZERO,
            measured: Duration::from_secs(1),
        };
        while stats.latency.len() < wanted {
            if started.elapsed() > FILL_LIMIT {
                return Err(format!(
                    "only {} of {wanted} misses answered in {FILL_LIMIT:?}: the machine is too \
                     slow (or too busy) to fill the cache before the soak",
                    stats.latency.len()
                ));
            }
            stats.merge(&closed_loop(miss, second, probe).await?.stats);
        }
        Ok(Self {
            stats,
            took: started.elapsed(),
        })
    }
}
