//! The run: start the sandbox, casegate, the bare hyper server and nginx; warm both caches and
//! check that all three serve the same bytes; then load each target in turn.

use std::time::Duration;

use casegate::sandbox::REPORT_EXAMPLE;

use crate::report::{print_report, Measured};
use crate::support::bare::{self, Pace};
use crate::support::caller::{caller_bearer, write_gateway_config, GatewayConfig, CALLER_SUB};
use crate::support::client::Target;
use crate::support::load::{closed_loop, open_loop, Phase, RunResult};
use crate::support::nginx;
use crate::support::procs::{casegate, free_port, wait_for_quiet, Server};
use crate::support::served::{expect_header, fetch, same_bytes, Body};
use crate::support::stats::Probe;
use crate::{Settings, WARMUP};

/// nginx's configuration template (`@LISTEN@`, `@UPSTREAM@`); `$NGINX_CONF` names another.
const NGINX_CONF: &str = include_str!("nginx.conf");

/// The grant: redaction on (one column dropped, the other customer columns masked), answers
/// cached for an hour.
fn policy() -> String {
    format!(
        "[[grant]]\nname = \"bench\"\nreports = [{REPORT_EXAMPLE}]\nwho = {{ sub = \"{CALLER_SUB}\" }}\n\
         [grant.columns]\ndrop = [\"Customer.DateOfBirth\"]\nmask = [\"Customer.*\"]\n\
         [grant.limits]\ncache_ttl = \"1h\"\n"
    )
}

/// Where each server records its requests: casegate's audit events (`AUDIT`; about 900 bytes
/// a hit, 100 MB a second at these rates) and nginx's access log (`NGINX_LOG`, by default
/// where the audit goes; Debian's `combined` format, about 150 bytes a request). casegate
/// audits every request by default, as nginx logs every request by default: measured against
/// a silent nginx, casegate did that work and nginx did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    /// The default, as deployed: a pipe drained by another process, as a container runtime
    /// (containerd reads a container's stdout from a FIFO) or journald do. Here each server
    /// writes to a FIFO of its own that `dd` reads and discards, on core 1 with the servers,
    /// so its work is taken from the core they serve on.
    Pipe,
    /// Appended to a file in the bench's temporary folder, on the disk: `audit.file` as a
    /// systemd unit might set it. The kernel writes out about a gigabyte per closed loop, in
    /// bursts every 30 s, on top of whichever target is measured then.
    File,
    /// casegate: `audit.enabled = false`; nginx: `access_log off`.
    Off,
}

impl Sink {
    /// `var` (`pipe`, `file` or `off`), `default` when unset.
    pub(crate) fn from_env(var: &str, default: Sink) -> Result<Sink, String> {
        let Ok(value) = std::env::var(var) else {
            return Ok(default);
        };
        [Sink::Pipe, Sink::File, Sink::Off]
            .into_iter()
            .find(|sink| sink.name() == value)
            .ok_or_else(|| format!("{var}={value}: expected pipe, file or off"))
    }

    /// The variable's value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Sink::Pipe => "pipe",
            Sink::File => "file",
            Sink::Off => "off",
        }
    }

    /// How the report names it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Sink::Pipe => "to a pipe (a FIFO of its own that `dd` drains on core 1, as a container runtime drains a container's stdout)",
            Sink::File => "appended to a file on the disk",
            Sink::Off => "nowhere (off)",
        }
    }

    /// nginx's `access_log` directive's arguments: the format and casegate's audit writer's
    /// batching (`log_writer::BATCH` and `INTERVAL`). Paths relative to nginx's prefix, the
    /// bench folder's `nginx/` (`support::nginx`), as casegate's are to its configuration: no
    /// quoting of the temporary folder's path in nginx's syntax.
    fn nginx_access_log(self) -> String {
        let buffered = "combined buffer=256k flush=20ms";
        match self {
            Sink::Pipe => format!("../{ACCESS_FIFO} {buffered}"),
            Sink::File => format!("access.log {buffered}"),
            Sink::Off => "off".to_owned(),
        }
    }
}

/// The FIFOs of [`Sink::Pipe`], in the bench's temporary folder.
const AUDIT_FIFO: &str = "audit.fifo";
const ACCESS_FIFO: &str = "access.fifo";

/// `CALIBRATE=1,2,3`: besides the three targets, bare hyper servers that each spend that many
/// microseconds busy before every answer: what a server doing that much more per request than
/// nothing gets in this bench, on this machine (so the budget a ratio to bare hyper leaves).
pub(crate) fn calibration() -> Result<Vec<u64>, String> {
    let Ok(list) = std::env::var("CALIBRATE") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .map_err(|e| format!("CALIBRATE={list}: {n:?}: {e}"))
        })
        .collect()
}

pub(crate) async fn run(s: &Settings, pinned: bool) -> Result<u64, String> {
    let quiet = wait_for_quiet(s.load.quiet_wait);
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let [sandbox_addr, gateway_addr, bare_addr, nginx_addr] =
        [free_port()?, free_port()?, free_port()?, free_port()?];
    // Every target is loaded once a round and once more at a fixed rate; then a margin for
    // the setup.
    let loads = (s.rounds as u32 + 1) * (3 + s.calibrate.len() as u32);
    let lifetime = loads * (WARMUP + s.load.duration) + Duration::from_secs(120);
    let spawn = |name: &str, program: &str, args: &[&str]| {
        Server::spawn(name, program, args, pinned, lifetime, dir.path())
    };

    // A FIFO and the `dd` that drains it, started before the server that opens it (opening a
    // FIFO to write waits for a reader).
    let drained = |file: &str, name: &str| -> Result<Server, String> {
        let fifo = dir.path().join(file);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map_err(|e| format!("mkfifo: {e}"))?;
        if !made.success() {
            return Err(format!("mkfifo {} failed ({made})", fifo.display()));
        }
        let input = format!("if={}", fifo.display());
        spawn(
            name,
            "dd",
            &[&input, "of=/dev/null", "bs=1M", "status=none"],
        )
    };
    let mut readers = Vec::new();
    if s.audit == Sink::Pipe {
        readers.push(("audit reader", drained(AUDIT_FIFO, "audit-reader")?));
    }
    if s.nginx_log == Sink::Pipe {
        readers.push((
            "access-log reader",
            drained(ACCESS_FIFO, "access-log-reader")?,
        ));
    }
    let audit = match s.audit {
        // Relative to the configuration's folder, where the FIFO is.
        Sink::Pipe => format!("[audit]\nfile = \"{AUDIT_FIFO}\"\n"),
        Sink::File => String::new(),
        Sink::Off => "[audit]\nenabled = false\n".to_owned(),
    };
    let sandbox_listen = sandbox_addr.to_string();
    let mut sandbox = spawn(
        "sandbox",
        &casegate(),
        &["sandbox", "--listen", &sandbox_listen],
    )?;
    let config = write_gateway_config(
        dir.path(),
        &GatewayConfig {
            listen: gateway_addr,
            sandbox: sandbox_addr,
            log: &s.load.gateway_log,
            upstream_extra: "",
            policy: &policy(),
            extra: &format!("[cache]\nttl = \"1h\"\n{audit}"),
        },
    )?;
    let mut gateway = spawn(
        "casegate",
        &casegate(),
        &["serve", "--config", &config.to_string_lossy()],
    )?;
    sandbox.wait_ready(sandbox_addr)?;
    gateway.wait_ready(gateway_addr)?;

    // Warm casegate's cache; the second answer must be a hit, and is what everyone serves.
    let uri = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let caller = caller_bearer()?;
    let fetch = |addr, server| fetch(addr, server, &uri, &caller);
    fetch(gateway_addr, &gateway).await?;
    let hit = fetch(gateway_addr, &gateway).await?;
    expect_header(&hit, "x-cache", "HIT", &gateway)?;
    let body = Body::of(hit, "casegate")?;

    let bare = bare::spawn(
        dir.path(),
        "bare-hyper",
        bare_addr,
        &body,
        Pace::default(),
        (pinned, lifetime),
    )?;
    same_bytes(
        &fetch(bare_addr, &bare).await?,
        &body,
        "the bare hyper server",
    )?;

    // nginx caches what the bare server serves: the same bytes and Content-Type.
    let vars = [
        ("LISTEN", nginx_addr.to_string()),
        ("UPSTREAM", bare_addr.to_string()),
        ("ACCESS_LOG", s.nginx_log.nginx_access_log()),
    ];
    let mut nginx = nginx::start(dir.path(), NGINX_CONF, &vars, pinned, lifetime)?;
    nginx.wait_ready(nginx_addr)?;
    fetch(nginx_addr, &nginx).await?;
    let hit = fetch(nginx_addr, &nginx).await?;
    expect_header(&hit, "x-cache-status", "HIT", &nginx)?;
    same_bytes(&hit, &body, "nginx")?;

    // Every request carries the caller's token, to every target: the same request bytes.
    let len = body.bytes.len();
    let target = |label, addr| Target::new(label, addr, &uri, Some(&caller), len);
    let mut targets = vec![
        target("bare hyper", bare_addr),
        target("nginx proxy_cache", nginx_addr).expecting("x-cache-status", "HIT"),
        target("casegate cache hit", gateway_addr).expecting("x-cache", "HIT"),
    ];
    let mut servers = vec!["bare hyper", "nginx", "casegate"];
    let mut pids = vec![
        ("sandbox", sandbox.pid()),
        (servers[0], bare.pid()),
        (servers[1], nginx.pid()),
        (servers[2], gateway.pid()),
    ];
    let mut calibrating = Vec::new();
    for &micros in &s.calibrate {
        // A label per server for the bench's lifetime: a handful of short strings.
        let label: &'static str = format!("bare hyper + {micros} µs").leak();
        let addr = free_port()?;
        let pace = Pace {
            work: Duration::from_micros(micros),
            ..Pace::default()
        };
        let name = format!("bare-hyper-{micros}us");
        let server = bare::spawn(dir.path(), &name, addr, &body, pace, (pinned, lifetime))?;
        let answer = crate::support::served::fetch(addr, &server, &uri, &caller).await?;
        same_bytes(&answer, &body, label)?;
        targets.push(target(label, addr));
        servers.push(label);
        pids.push((label, server.pid()));
        calibrating.push(server);
    }
    for (name, reader) in &readers {
        pids.push((name, reader.pid()));
    }
    let probe = Probe::new(&pids);
    let phase = Phase {
        connections: s.load.connections,
        warmup: WARMUP,
        measured: s.load.duration,
    };
    // Throughput in rounds, every target once a round, each round starting one target later:
    // a slow spell of the machine (other tenants of the host) falls on every target in turn
    // rather than on whichever was measured then.
    let mut rounds: Vec<Vec<RunResult>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..s.rounds {
        for i in (0..targets.len()).map(|i| (i + round) % targets.len()) {
            let t = &targets[i];
            eprintln!(
                "cache_hit: closed loop, round {} of {}, {}: {phase:?}",
                round + 1,
                s.rounds,
                t.label
            );
            rounds[i].push(closed_loop(t, phase, &probe).await?);
        }
    }
    let mut open = Vec::new();
    for t in &targets {
        eprintln!("cache_hit: open loop at {} req/s, {}", s.load.rate, t.label);
        open.push(open_loop(t, phase, s.load.rate, &probe).await?);
    }
    let measured: Vec<Measured> = rounds
        .into_iter()
        .zip(open)
        .zip(servers.iter().copied())
        .map(|((rounds, open), server)| Measured {
            closed: RunResult::combine(&rounds),
            rounds,
            open,
            server,
        })
        .collect();
    print_report(s, pinned, &quiet, &body, &measured);
    let errors: u64 = measured.iter().map(Measured::errors).sum();
    if errors > 0 {
        for server in [&sandbox, &gateway, &bare, &nginx]
            .into_iter()
            .chain(&calibrating)
        {
            eprintln!(
                "--- {} (tail) ---\n{}",
                server.log.display(),
                server.log_tail()
            );
        }
    }
    Ok(errors)
}
