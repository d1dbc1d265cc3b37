//! Results and CPU accounting.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latency in microseconds (1 µs to 60 s, 3 significant digits) and failures by kind.
pub struct Stats {
    pub latency: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            errors: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, result: Result<(), String>, latency: Duration) {
        match result {
            Ok(()) => self
                .latency
                .saturating_record(latency.as_micros().max(1) as u64),
            Err(e) => *self.errors.entry(e).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Self) {
        self.latency.add(&other.latency).expect("same bounds");
        for (e, n) in &other.errors {
            *self.errors.entry(e.clone()).or_default() += n;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Milliseconds at `q`.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Reads CPU use from /proc: idle time per core (exact under NO_HZ, unlike the busy counters,
/// which are sampled at each tick and miss short bursts), and the exact run time of this process
/// and of the servers (each with its descendants: `timeout`, nginx's worker).
#[derive(Clone, Default)]
pub struct Probe {
    pub servers: Vec<(&'static str, Option<u32>)>,
}

pub struct CpuSnapshot {
    pub at: Instant,
    /// Per core: idle + iowait, steal (clock ticks of 10 ms).
    pub cores: Vec<(u64, u64)>,
    /// Run time in ns: this process, then each server.
    pub ours: Vec<Option<u64>>,
    /// TCP connections opened on the host (`ActiveOpens`): shows connection churn.
    pub tcp_opens: Option<u64>,
    /// CPU ticks of every process outside this one and its descendants (kernel threads
    /// included), with their reaped children's.
    pub others: HashMap<u32, u64>,
}

impl Probe {
    pub fn new(servers: &[(&'static str, Option<u32>)]) -> Self {
        Self {
            servers: servers.to_vec(),
        }
    }

    pub fn snapshot(&self) -> CpuSnapshot {
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
        let mut ours = vec![run_time_ns(std::process::id())];
        ours.extend(
            self.servers
                .iter()
                .map(|(_, p)| p.and_then(tree_run_time_ns)),
        );
        CpuSnapshot {
            at: Instant::now(),
            cores,
            ours,
            tcp_opens: tcp_active_opens(),
            others: others_ticks(),
        }
    }

    /// "load generator", then the servers' names.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = vec!["load generator"];
        names.extend(self.servers.iter().map(|(n, _)| *n));
        names
    }
}

/// The sum of the process's threads' run time (the first field of each thread's schedstat).
pub fn run_time_ns(pid: u32) -> Option<u64> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for thread in threads.flatten() {
        let stat = std::fs::read_to_string(thread.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Run time of `pid` and all its descendants (children that already exited do not count).
pub fn tree_run_time_ns(pid: u32) -> Option<u64> {
    let mut total = run_time_ns(pid)?;
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for thread in threads.flatten() {
        let children = std::fs::read_to_string(thread.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += tree_run_time_ns(child).unwrap_or(0);
        }
    }
    Some(total)
}

/// CPU ticks (user + system, with reaped children's) of every process that is neither this one
/// nor a descendant of it: the other work on the machine. Tick-sampled, good enough to tell a
/// quiet machine from a busy one; loopback TCP work done in our processes' system calls stays
/// ours.
pub fn others_ticks() -> HashMap<u32, u64> {
    let mut all = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, ppid, ... utime (14), stime, cutime,
        // cstime (17), counting from 1 with the pid.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        all.insert(pid, (num(1) as u32, num(11) + num(12) + num(13) + num(14)));
    }
    let mut ours = std::collections::HashSet::from([std::process::id()]);
    loop {
        let before = ours.len();
        for (pid, (ppid, _)) in &all {
            if ours.contains(ppid) {
                ours.insert(*pid);
            }
        }
        if ours.len() == before {
            break;
        }
    }
    all.into_iter()
        .filter(|(pid, _)| !ours.contains(pid))
        .map(|(pid, (_, ticks))| (pid, ticks))
        .collect()
}

pub fn tcp_active_opens() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "ActiveOpens")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// What the CPUs did between two snapshots, `requests` completed in between.
pub struct CpuUse {
    /// Per core, % busy (including loopback TCP work in softirq and time stolen by the host).
    pub core_busy: Vec<f64>,
    pub steal: f64,
    /// CPU µs per request: the load generator, then each server of the probe.
    pub per_request: Vec<(&'static str, Option<f64>)>,
    /// CPU used by other processes (see [`others_ticks`]), in % of one core.
    pub foreign: Option<f64>,
    pub tcp_opens_per_1k: Option<f64>,
}

impl CpuUse {
    pub fn between(probe: &Probe, a: &CpuSnapshot, b: &CpuSnapshot, requests: u64) -> Self {
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
            .map(|(x, y)| Some(y.as_ref()?.saturating_sub(*x.as_ref()?)))
            .collect();
        let requests = requests.max(1) as f64;
        Self {
            core_busy: cores.iter().map(|c| c.0).collect(),
            steal: cores.iter().map(|c| c.1).sum(),
            per_request: probe
                .names()
                .into_iter()
                .zip(&ours)
                .map(|(name, ns)| (name, ns.map(|ns| ns as f64 / 1e3 / requests)))
                .collect(),
            // A process that started in between counts whole; one that ended is in its
            // parent's reaped children's time.
            foreign: Some(pct(b
                .others
                .iter()
                .map(|(pid, t)| t.saturating_sub(a.others.get(pid).copied().unwrap_or(0)))
                .sum())),
            tcp_opens_per_1k: a
                .tcp_opens
                .zip(b.tcp_opens)
                .map(|(x, y)| y.saturating_sub(x) as f64 * 1000.0 / requests),
        }
    }

    /// Several measurements of the same servers as one: CPU per request weighted by each
    /// part's requests, busy cores and steal averaged, other processes' use the highest of any
    /// part (so a disturbance in one still shows).
    pub fn combine(parts: &[(&CpuUse, u64)]) -> Self {
        let total = parts.iter().map(|(_, n)| *n).sum::<u64>().max(1) as f64;
        let mean = |f: &dyn Fn(&CpuUse) -> f64| {
            parts.iter().map(|(c, _)| f(c)).sum::<f64>() / parts.len().max(1) as f64
        };
        let weighted = |f: &dyn Fn(&CpuUse) -> Option<f64>| {
            parts
                .iter()
                .map(|(c, n)| f(c).map(|v| v * *n as f64))
                .sum::<Option<f64>>()
                .map(|sum| sum / total)
        };
        let first = parts.first().map(|(c, _)| *c);
        Self {
            core_busy: (0..first.map_or(0, |c| c.core_busy.len()))
                .map(|i| mean(&|c| c.core_busy.get(i).copied().unwrap_or(0.0)))
                .collect(),
            steal: mean(&|c| c.steal),
            per_request: first
                .map(|c| &c.per_request[..])
                .unwrap_or_default()
                .iter()
                .map(|(name, _)| (*name, weighted(&|c| c.of(name))))
                .collect(),
            foreign: parts.iter().filter_map(|(c, _)| c.foreign).reduce(f64::max),
            tcp_opens_per_1k: weighted(&|c| c.tcp_opens_per_1k),
        }
    }

    /// CPU µs per request of the process called `name`.
    pub fn of(&self, name: &str) -> Option<f64> {
        self.per_request
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }

    /// [`CpuUse::of`] for a table cell: `12.3 µs`, or `n/a`.
    pub fn cell(&self, name: &str) -> String {
        self.of(name)
            .map_or("n/a".to_owned(), |v| format!("{v:.1} µs"))
    }

    pub fn describe(&self) -> String {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"));
        let busy: Vec<String> = self
            .core_busy
            .iter()
            .enumerate()
            .map(|(i, b)| format!("core {i} {b:.0} %"))
            .collect();
        let per_request: Vec<String> = self
            .per_request
            .iter()
            .map(|(name, v)| format!("{name} {}", opt(*v, " µs")))
            .collect();
        format!(
            "CPU per request: {}. Busy: {} (steal {:.1} %; other processes {} of a core). New TCP connections per 1,000 requests: {}.",
            per_request.join(", "),
            busy.join(", "),
            self.steal,
            opt(self.foreign, " %"),
            opt(self.tcp_opens_per_1k, ""),
        )
    }
}
