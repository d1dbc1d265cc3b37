//! Resident memory of a server process, read from `/proc/<pid>/status` while it runs.

/// The process that does the work under `pid`: the server runs as `timeout` → (`taskset`
/// execs) → the server, so follow the only child until there is none.
pub fn server_pid(pid: u32) -> u32 {
    let mut pid = pid;
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        match children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
        {
            Some(child) => pid = child,
            None => return pid,
        }
    }
}

/// The process's resident set size (`VmRSS`) in KiB; `None` once it has exited.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// KiB as MiB with one decimal, for tables.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
