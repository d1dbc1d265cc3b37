//! Configuration: the TOML file as written (`raw`), checked in one pass into the runtime types
//! below (`validate`). Every problem is reported with its file and line, all at once.

pub(crate) mod problem;
pub(crate) mod raw;
pub mod secret;
mod validate;
pub(crate) mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use problem::{Problem, Problems};
// The policy file (`crate::policy`) reports its problems and reads its secret the same way.
pub(crate) use problem::Reporter;
pub(crate) use raw::RawSecret;
pub use secret::SecretString;

use crate::auth::AuthConfig;
use crate::params::{Limits, Param};
use crate::policy::PolicyStore;
use crate::upstream::client::ConnectOptions;
use crate::upstream::endpoint::Endpoint;

/// The validated configuration the gateway runs with.
#[derive(Debug)]
pub struct Config {
    /// The policy in force (reloadable), loaded and checked with the configuration.
    pub policy: Arc<PolicyStore>,
    pub server: ServerConfig,
    /// Callers' identity providers.
    pub auth: AuthConfig,
    pub upstream: UpstreamConfig,
    pub logging: LoggingConfig,
    /// The response cache.
    pub cache: crate::cache::CacheConfig,
    /// The admin listener.
    pub admin: AdminConfig,
    /// Callers' quotas where grants set none, and the limiter's bounds.
    pub limits: crate::limit::LimitConfig,
}

/// The admin listener: operations endpoints, apart from the public API.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// 127.0.0.1:9090 unless configured: reachable from the host (and a pod's probes) only.
    pub listen: SocketAddr,
    /// The bearer token the purge endpoint requires; without one, purging is refused.
    pub token: Option<SecretString>,
}

/// The public listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub limits: Limits,
    /// Time a client gets to send its request head.
    pub header_read_timeout: Duration,
    /// Time requests in flight get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// HTTPS instead of HTTP on `listen`, with this reloadable certificate and key.
    pub tls: Option<Arc<crate::server::tls::CertStore>>,
}

/// iCasework: where, how long to wait, how much to accept, and with which credential.
#[derive(Debug)]
pub struct UpstreamConfig {
    pub endpoint: Endpoint,
    /// Connection settings: connect timeout, pool, extra CA roots, pinned addresses.
    pub connect: ConnectOptions,
    /// From sending the request to the response head.
    pub first_byte_timeout: Duration,
    /// From sending the request to the last byte of the body.
    pub total_timeout: Duration,
    pub max_response_bytes: u64,
    pub credential: CredentialConfig,
    /// Concurrency, rate, retries and the circuit breaker (`[upstream.protection]`).
    pub protection: crate::upstream::protect::ProtectionConfig,
}

/// How casegate authenticates to iCasework (see `../shared/upstream/auth.md`).
#[derive(Debug)]
pub enum CredentialConfig {
    OAuth(OAuthConfig),
    KeySignature(KeySignatureConfig),
}

/// OAuth 2.0 JWT-bearer grant: an HS256 assertion traded for an access token.
#[derive(Debug)]
pub struct OAuthConfig {
    pub api_key: SecretString,
    pub secret_key: SecretString,
    /// A token is renewed this long before it expires.
    pub refresh_margin: Duration,
    pub token_timeout: Duration,
    /// After a failed token request, callers get that failure for this long instead of each
    /// sending another request to the token endpoint.
    pub failure_backoff: Duration,
}

/// The older `Key` + `Signature` query parameters.
#[derive(Debug)]
pub struct KeySignatureConfig {
    pub api_key: SecretString,
    pub secret_key: SecretString,
    /// The parameter whose value is signed (ReportId unless configured).
    pub signed_parameter: Param,
    /// The time zone of the date in the signature.
    pub time_zone: chrono_tz::Tz,
}

/// Log output.
#[derive(Debug, Clone)]
pub struct LoggingConfig {
    /// `None`: the command's default (JSON for `serve`, human-readable for `demo`).
    pub format: Option<LogFormat>,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Config {
    /// Reads and validates the file at `path`, and every file it names.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems::single(path, format!("cannot read the configuration file: {e}"))
        })?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path` (files it names are relative to its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Config, Problems> {
        validate::validate(path, text)
    }
}
