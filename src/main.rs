//! The `casegate` command: parses arguments, sets up logging, and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use casegate::config::{Config, LogFormat};
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
    /// Check a configuration file and every file it names; print every problem; exit 1 on any.
    Check {
        #[arg(long, short)]
        config: PathBuf,
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
        Command::Check { config } => return check(&config),
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

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(_) => {
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in problems.iter() {
                eprintln!("{p}");
            }
            eprintln!(
                "{}: {} problem(s) found; the configuration is not valid",
                path.display(),
                problems.len()
            );
            ExitCode::FAILURE
        }
    }
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
