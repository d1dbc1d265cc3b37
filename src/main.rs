//! The `casegate` command: parses arguments, sets up logging, and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use casegate::log_writer::{FlushGuard, LineWriter};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use casegate::audit::AuditConfig;
use casegate::config::{Config, LogFormat, Problems};
use casegate::explain::Caller;
use casegate::policy::Policy;
use casegate::sandbox::{self, SandboxConfig};

/// jemalloc rather than glibc's malloc: a sixth fewer instructions on a cache hit and a lower,
/// flat resident size in the soak (README, "Decisions where the issues are silent").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "casegate",
    version,
    about = "A gateway in front of Civica iCasework's GetReport API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway with a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and every file it names, and policy files; print every
    /// problem; exit 1 on any.
    Check {
        #[arg(long, short, required_unless_present = "policy")]
        config: Option<PathBuf>,
        /// A policy file (repeat for several).
        #[arg(long, short)]
        policy: Vec<PathBuf>,
    },
    /// Explain the gateway's decision for one caller and one report, for security reviewers.
    /// Exits 0 when the request would be allowed, 1 when denied.
    Explain {
        #[arg(long, short)]
        config: PathBuf,
        /// The caller's token (a JWT), verified as the gateway would.
        #[arg(long, required_unless_present = "claims", conflicts_with = "claims")]
        token: Option<String>,
        /// The caller's claims as a JSON object, taken as verified, e.g.
        /// '{"iss":"https://idp.example.org","sub":"svc-analytics","groups":["staff"]}'.
        #[arg(long)]
        claims: Option<String>,
        /// The ReportId asked for.
        #[arg(long)]
        report: String,
        /// Another GetReport parameter, NAME=VALUE (repeat for several).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Purge the running gateway's cache through its admin listener (admin.listen, with
    /// admin.token from the configuration): one report, or everything.
    Purge {
        #[arg(long, short)]
        config: PathBuf,
        /// The ReportId to purge.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        report: Option<u64>,
        /// Purge every report.
        #[arg(long)]
        all: bool,
    },
    /// Run the sandbox: a deterministic stand-in for iCasework (token endpoint and GetReport).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:9480")]
        listen: std::net::SocketAddr,
        /// Send gzip bodies without `Content-Encoding: gzip` (iCasework's behaviour is unknown).
        #[arg(long)]
        gzip_without_header: bool,
        /// The least uncompressed size in bytes of report 10805, streamed while it renders.
        #[arg(long, default_value_t = 1 << 30)]
        huge_bytes: u64,
        /// How long every GetReport answer waits before it is sent (e.g. `200ms`): iCasework's
        /// time to build a report, for benchmarks.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        delay: std::time::Duration,
    },
    /// Start the sandbox and the gateway together with the example configuration.
    Demo {
        #[arg(long, short, default_value = "policies/demo.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config, policy } => return check(config.as_deref(), &policy),
        Command::Explain {
            config,
            token,
            claims,
            report,
            params,
        } => {
            let caller = match (token, claims) {
                (Some(token), _) => Caller::Token(token),
                (None, claims) => Caller::Claims(claims.unwrap_or_default()),
            };
            return explain(&config, &caller, &report, &params);
        }
        Command::Serve { config } => serve(&config),
        Command::Purge { config, report, .. } => purge(&config, report),
        Command::Sandbox {
            listen,
            gzip_without_header,
            huge_bytes,
            delay,
        } => run_sandbox(listen, gzip_without_header, huge_bytes, delay),
        Command::Demo { config } => demo(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("casegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: Option<&std::path::Path>, policies: &[PathBuf]) -> ExitCode {
    let mut valid = true;
    if let Some(path) = config {
        valid &= report(path, "configuration", Config::load(path).map(drop));
    }
    for path in policies {
        valid &= report(path, "policy", Policy::load(path).map(drop));
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints the outcome of checking one file; true when it is valid.
fn report(path: &std::path::Path, what: &str, result: Result<(), Problems>) -> bool {
    match result {
        Ok(()) => {
            println!("{}: {what} is valid", path.display());
            true
        }
        Err(problems) => {
            for p in problems.iter() {
                eprintln!("{p}");
            }
            eprintln!(
                "{}: {} problem(s) found; the {what} is not valid",
                path.display(),
                problems.len()
            );
            false
        }
    }
}

fn explain(config: &std::path::Path, caller: &Caller, report: &str, params: &[String]) -> ExitCode {
    let result = Config::load(config)
        .map_err(|p| format!("invalid configuration:\n{p}"))
        .and_then(|config| {
            runtime()
                .map_err(|e| e.to_string())?
                .block_on(casegate::explain::explain(&config, caller, report, params))
        });
    match result {
        Ok(explanation) => {
            print!("{}", explanation.text);
            if explanation.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("casegate: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|p| anyhow::anyhow!("invalid configuration:\n{p}"))?;
    let _flush = init_logging(
        config.logging.format.unwrap_or(LogFormat::Json),
        &config.logging.level,
        &config.audit,
    )?;
    runtime()?.block_on(casegate::run(config))?;
    Ok(())
}

/// The demo logs human-readable lines at the configuration's level (or `RUST_LOG`).
fn demo(path: &std::path::Path) -> anyhow::Result<()> {
    // The demo loads the configuration itself (and reports its problems); here only the
    // logging settings are wanted, so an unreadable file falls back to the defaults.
    let (level, audit) = Config::load(path)
        .map(|c| (c.logging.level, c.audit))
        .unwrap_or_else(|_| ("info".to_owned(), AuditConfig::default()));
    let _flush = init_logging(LogFormat::Pretty, &level, &audit)?;
    runtime().and_then(|rt| rt.block_on(casegate::demo::run(path)))
}

fn purge(path: &std::path::Path, report: Option<u64>) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|p| anyhow::anyhow!("invalid configuration:\n{p}"))?;
    let answer = runtime()?
        .block_on(casegate::server::purge_remote(&config, report))
        .map_err(anyhow::Error::msg)?;
    println!("{answer}");
    Ok(())
}

fn run_sandbox(
    listen: std::net::SocketAddr,
    gzip_without_header: bool,
    huge_bytes: u64,
    report_delay: std::time::Duration,
) -> anyhow::Result<()> {
    let _flush = init_logging(LogFormat::Pretty, "info", &AuditConfig::default())?;
    runtime()?.block_on(async {
        let shutdown = casegate::shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!(
            "casegate sandbox: a stand-in iCasework on http://{}",
            listener.local_addr()?
        );
        let config = SandboxConfig {
            gzip_content_encoding: !gzip_without_header,
            huge_bytes,
            report_delay,
            ..SandboxConfig::default()
        };
        sandbox::serve(listener, config, shutdown).await?;
        Ok(())
    })
}

/// A worker thread per core the process may run on (`available_parallelism` honours CPU
/// affinity, e.g. `taskset`, and cgroup CPU quotas). With one core, a current-thread runtime:
/// a multi-thread one would still run its one worker beside the thread in `block_on`, and pay
/// for work-stealing queues and cross-thread wake-ups that can never help.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}

/// Sets up the log and the audit stream; the returned guards flush them when dropped.
///
/// `RUST_LOG` wins over the configured level, as operators expect. Audit events (target
/// `audit`) follow `audit.enabled` alone, whatever the level: to `audit.file` when set (and then
/// not to stdout), otherwise to stdout with the log. Both are written in batches by a
/// background thread (a stalled output makes requests wait rather than lose events).
fn init_logging(
    format: LogFormat,
    level: &str,
    audit: &AuditConfig,
) -> anyhow::Result<Vec<FlushGuard>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // One writer thread per output, writing lines in batches (see `casegate::log_writer`).
    let (stdout, stdout_guard) = LineWriter::spawn("casegate-log", std::io::stdout())?;
    let log = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(stdout.clone())
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(stdout.clone())
            .with_filter(filter)
            .boxed(),
    };
    let mut guards = vec![stdout_guard];
    let audit_writer = match (&audit.file, audit.enabled) {
        (_, false) => None,
        (None, true) => Some(stdout),
        (Some(path), true) => {
            let file = casegate::audit::AuditFile::open(path.clone())
                .with_context(|| format!("cannot open audit.file {}", path.display()))?;
            let (writer, guard) = LineWriter::spawn("casegate-audit", file)?;
            guards.push(guard);
            Some(writer)
        }
    };
    // Audit events are written by the gateway's auditor, whatever the log's level.
    if let Some(writer) = audit_writer {
        casegate::audit::set_output(writer);
    }
    tracing_subscriber::registry().with(log).init();
    Ok(guards)
}
