//! Results and CPU accounting.

use super::*;

/// Latency in microseconds (1 µs to 60 s, 3 significant digits) and failures by kind.
pub(crate) struct Stats {
    pub(crate) latency: Histogram<u64>,
    pub(crate) errors: BTreeMap<String, u64>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    pub(crate) fn record(&mut self, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => self
                .latency
                .saturating_record(latency.as_micros().max(1) as u64),
            Err(e) => *self.errors.entry(e).or_default() += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        self.latency.add(&other.latency).expect("same bounds");
        for (e, n) in &other.errors {
            *self.errors.entry(e.clone()).or_default() += n;
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Milliseconds at `q`.
    pub(crate) fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Reads CPU use from /proc: idle time per core (exact under NO_HZ, unlike the busy counters,
/// which are sampled at each tick and miss short bursts), and the exact run time of this process
/// and of the two servers.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) sandbox: Option<u32>,
    pub(crate) gateway: Option<u32>,
}

pub(crate) struct CpuSnapshot {
    pub(crate) at: Instant,
    /// Per core: idle + iowait, steal (clock ticks of 10 ms).
    pub(crate) cores: Vec<(u64, u64)>,
    /// Run time in ns: this process, the sandbox, casegate.
    pub(crate) ours: [Option<u64>; 3],
    /// TCP connections opened on the host (`ActiveOpens`): shows connection churn.
    pub(crate) tcp_opens: Option<u64>,
}

impl Probe {
    pub(crate) fn snapshot(&self) -> CpuSnapshot {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cores = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let get = |i: usize| v.get(i).copied().unwrap_or(0);
                (get(3) + get(4), get(7))
            })
            .collect();
        CpuSnapshot {
            at: Instant::now(),
            cores,
            ours: [Some(std::process::id()), self.sandbox, self.gateway]
                .map(|p| p.and_then(run_time_ns)),
            tcp_opens: tcp_active_opens(),
        }
    }
}

/// The sum of the process's threads' run time (the first field of each thread's schedstat).
pub(crate) fn run_time_ns(pid: u32) -> Option<u64> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for thread in threads.flatten() {
        let stat = std::fs::read_to_string(thread.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

pub(crate) fn tcp_active_opens() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "ActiveOpens")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// What the CPUs did between two snapshots, `requests` completed in between.
pub(crate) struct CpuUse {
    /// Per core, % busy (including loopback TCP work in softirq and time stolen by the host).
    pub(crate) core_busy: Vec<f64>,
    pub(crate) steal: f64,
    /// CPU µs per request: load generator, sandbox, casegate.
    pub(crate) per_request: [Option<f64>; 3],
    /// Busy CPU not used by our three processes, in % of one core.
    pub(crate) foreign: Option<f64>,
    pub(crate) tcp_opens_per_1k: Option<f64>,
}

impl CpuUse {
    pub(crate) fn between(a: &CpuSnapshot, b: &CpuSnapshot, requests: u64) -> Self {
        let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
        let pct = |ticks: u64| ticks as f64 / wall; // 100 ticks a second: ticks/s is %
        let cores: Vec<(f64, f64)> = a
            .cores
            .iter()
            .zip(&b.cores)
            .map(|(x, y)| ((100.0 - pct(y.0 - x.0)).max(0.0), pct(y.1 - x.1)))
            .collect();
        let ours: Vec<Option<u64>> = a
            .ours
            .iter()
            .zip(&b.ours)
            .map(|(x, y)| Some(y.as_ref()? - x.as_ref()?))
            .collect();
        let requests = requests.max(1) as f64;
        let ours_pct = ours
            .iter()
            .try_fold(0.0, |sum, ns| Some(sum + (*ns)? as f64 / 1e7 / wall));
        Self {
            core_busy: cores.iter().map(|c| c.0).collect(),
            steal: cores.iter().map(|c| c.1).sum(),
            per_request: [0, 1, 2].map(|i| ours[i].map(|ns| ns as f64 / 1e3 / requests)),
            foreign: ours_pct.map(|o| (cores.iter().map(|c| c.0).sum::<f64>() - o).max(0.0)),
            tcp_opens_per_1k: a
                .tcp_opens
                .zip(b.tcp_opens)
                .map(|(x, y)| y.saturating_sub(x) as f64 * 1000.0 / requests),
        }
    }

    pub(crate) fn describe(&self) -> String {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"));
        let busy: Vec<String> = self
            .core_busy
            .iter()
            .enumerate()
            .map(|(i, b)| format!("core {i} {b:.0} %"))
            .collect();
        format!(
            "CPU per request: load generator {}, sandbox {}, casegate {}. Busy: {} (steal {:.1} %; other processes {} of a core). New TCP connections per 1,000 requests: {}.",
            opt(self.per_request[0], " µs"),
            opt(self.per_request[1], " µs"),
            opt(self.per_request[2], " µs"),
            busy.join(", "),
            self.steal,
            opt(self.foreign, " %"),
            opt(self.tcp_opens_per_1k, ""),
        )
    }
}
