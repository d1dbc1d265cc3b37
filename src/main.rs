//! The `casegate` command: parses arguments, sets up logging, and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use casegate::auth::Identity;
use casegate::config::{Config, LogFormat, Problems};
use casegate::policy::Policy;
use casegate::sandbox::{self, SandboxConfig};

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
    /// Explain a policy's decision for one caller and one request, for security reviewers.
    Explain {
        #[arg(long, short)]
        policy: PathBuf,
        /// The caller's verified claims as a JSON object, e.g.
        /// '{"iss":"https://idp.example.org","sub":"svc-analytics","groups":["staff"]}'.
        #[arg(long)]
        claims: String,
        /// The GetReport query, e.g. 'ReportId=10800&Format=csv'.
        #[arg(long)]
        query: String,
    },
    /// Run the sandbox: a deterministic stand-in for iCasework (token endpoint and GetReport).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:9480")]
        listen: std::net::SocketAddr,
        /// Send gzip bodies without `Content-Encoding: gzip` (iCasework's behaviour is unknown).
        #[arg(long)]
        gzip_without_header: bool,
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
            policy,
            claims,
            query,
        } => explain(&policy, &claims, &query),
        Command::Serve { config } => serve(&config),
        Command::Sandbox {
            listen,
            gzip_without_header,
        } => run_sandbox(listen, gzip_without_header),
        Command::Demo { config } => {
            init_logging(LogFormat::Pretty, "info");
            runtime().and_then(|rt| rt.block_on(casegate::demo::run(&config)))
        }
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

fn explain(policy: &std::path::Path, claims: &str, query: &str) -> anyhow::Result<()> {
    let policy = Policy::load(policy).map_err(|p| anyhow::anyhow!("invalid policy:\n{p}"))?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(claims).context("--claims must be a JSON object")?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let identity = Identity {
        issuer: text("iss"),
        subject: text("sub"),
        expires_at: 0,
        claims,
    };
    let query = casegate::params::parse(Some(query), None, &Default::default())
        .context("--query is not a valid GetReport query")?;
    print!("{}", policy.explain(&identity, &query));
    Ok(())
}

fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|p| anyhow::anyhow!("invalid configuration:\n{p}"))?;
    init_logging(
        config.logging.format.unwrap_or(LogFormat::Json),
        &config.logging.level,
    );
    runtime()?.block_on(casegate::run(config))?;
    Ok(())
}

fn run_sandbox(listen: std::net::SocketAddr, gzip_without_header: bool) -> anyhow::Result<()> {
    init_logging(LogFormat::Pretty, "info");
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!(
            "casegate sandbox: a stand-in iCasework on http://{}",
            listener.local_addr()?
        );
        let config = SandboxConfig {
            gzip_content_encoding: !gzip_without_header,
            ..SandboxConfig::default()
        };
        sandbox::serve(listener, config, casegate::shutdown_signal()).await?;
        Ok(())
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `RUST_LOG` wins over the configured level, as operators expect.
fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.init(),
    }
}
