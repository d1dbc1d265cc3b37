//! Raw configuration -> runtime configuration, reporting every problem with its line.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_spanned::Spanned;

use super::problem::{Problems, Reporter};
use super::raw::{RawAdmin, RawConfig, RawServer};
use super::{AdminConfig, Config, LogFormat, LoggingConfig, ServerConfig};
use crate::params::Limits;
use crate::policy::PolicyStore;

mod cache;
mod limits;
mod protection;
mod shared_cache;
mod tls;
mod upstream;

pub(super) fn validate(path: &Path, text: &str) -> Result<Config, Problems> {
    let mut problems = Problems::default();
    let mut r = Reporter::new(path, text, &mut problems);
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            r.at(e.span(), e.message().trim().to_owned());
            return Err(problems);
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let server = server(&raw.server, base_dir, &mut r);
    let upstream = match &raw.upstream {
        Some(u) => upstream::upstream(u.get_ref(), base_dir, &mut r),
        None => {
            r.at(
                None,
                "missing [upstream] section: set environment and account",
            );
            None
        }
    };
    let logging = logging(&raw, &mut r);
    let cache = cache::cache(&raw.cache, base_dir, &mut r);
    let admin = admin(&raw.admin, base_dir, &mut r);
    let limits = limits::limits(&raw.limits, &mut r);
    let auth = match &raw.auth {
        Some(auth) => crate::auth::config::validate(auth, base_dir, &mut r),
        None => {
            r.at(
                None,
                "missing [auth]: name the identity providers whose tokens callers present ([[auth.issuers]])",
            );
            None
        }
    };
    let policy = match &raw.policy {
        Some(file) => match PolicyStore::load(&base_dir.join(file.get_ref())) {
            Ok(store) => Some(Arc::new(store)),
            Err(policy_problems) => {
                problems.extend(policy_problems);
                None
            }
        },
        None => {
            r.at(
                None,
                "policy = \"policy.toml\" is required: the grants that decide who may read which report",
            );
            None
        }
    };
    match (
        policy, server, auth, upstream, logging, cache, admin, limits,
    ) {
        (
            Some(policy),
            Some(server),
            Some(auth),
            Some(upstream),
            Some(logging),
            Some(cache),
            Some(admin),
            Some(limits),
        ) if problems.is_empty() => Ok(Config {
            policy,
            server,
            auth,
            upstream,
            logging,
            cache,
            admin,
            limits,
        }),
        _ => Err(problems),
    }
}

fn server(raw: &RawServer, base_dir: &Path, r: &mut Reporter<'_>) -> Option<ServerConfig> {
    let defaults = Limits::default();
    let listen = match &raw.listen {
        Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|_| {
            r.at(
                Some(l.span()),
                "server.listen must be an address and port such as \"0.0.0.0:8080\"",
            )
        }),
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
    };
    let max_query_bytes = count(
        &raw.max_query_bytes,
        "server.max_query_bytes",
        64,
        65_536,
        r,
    )
    .map(|v| v.unwrap_or(defaults.max_query_bytes));
    let max_value_bytes = count(
        &raw.max_value_bytes,
        "server.max_value_bytes",
        16,
        65_536,
        r,
    )
    .map(|v| v.unwrap_or(defaults.max_value_bytes));
    let header_read_timeout = duration(&raw.header_read_timeout, "server.header_read_timeout", r)
        .map(|d| d.unwrap_or(Duration::from_secs(10)));
    let shutdown_grace = duration(&raw.shutdown_grace, "server.shutdown_grace", r)
        .map(|d| d.unwrap_or(Duration::from_secs(30)));
    let tls = match &raw.tls {
        Some(t) => Some(tls::tls(t, base_dir, r)?),
        None => None,
    };
    Some(ServerConfig {
        listen: listen.ok()?,
        limits: Limits {
            max_query_bytes: max_query_bytes.ok()?,
            max_value_bytes: max_value_bytes.ok()?,
        },
        header_read_timeout: header_read_timeout.ok()?,
        shutdown_grace: shutdown_grace.ok()?,
        tls,
    })
}

fn logging(raw: &RawConfig, r: &mut Reporter<'_>) -> Option<LoggingConfig> {
    let format = match &raw.logging.format {
        Some(f) => match f.get_ref().as_str() {
            "json" => Some(LogFormat::Json),
            "pretty" => Some(LogFormat::Pretty),
            _ => {
                r.at(
                    Some(f.span()),
                    "logging.format must be \"json\" or \"pretty\"",
                );
                return None;
            }
        },
        None => None,
    };
    let level = match &raw.logging.level {
        Some(l) => {
            if tracing_subscriber::EnvFilter::try_new(l.get_ref()).is_err() {
                r.at(
                    Some(l.span()),
                    "logging.level must be a level (error, warn, info, debug, trace) or a RUST_LOG-style filter",
                );
                return None;
            }
            l.get_ref().clone()
        }
        None => "info".to_owned(),
    };
    Some(LoggingConfig { format, level })
}

fn admin(raw: &RawAdmin, base_dir: &Path, r: &mut Reporter<'_>) -> Option<AdminConfig> {
    let listen = match &raw.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 9090)),
        Some(s) => match s.get_ref().parse() {
            Ok(addr) => addr,
            Err(_) => {
                r.at(
                    Some(s.span()),
                    "admin.listen must be an address and port such as \"127.0.0.1:9090\"",
                );
                return None;
            }
        },
    };
    let token = match &raw.token {
        None => None,
        Some(s) => match super::secret::resolve(s.get_ref(), base_dir) {
            Ok(token) => Some(token),
            Err(e) => {
                r.at(Some(s.span()), format!("admin.token: {e}"));
                return None;
            }
        },
    };
    Some(AdminConfig { listen, token })
}

/// A duration such as "5s" or "2m 30s"; zero is refused since every duration here is a wait.
pub(super) fn duration(
    raw: &Option<Spanned<String>>,
    name: &str,
    r: &mut Reporter<'_>,
) -> Result<Option<Duration>, ()> {
    let Some(s) = raw else { return Ok(None) };
    match humantime::parse_duration(s.get_ref()) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        _ => {
            r.at(
                Some(s.span()),
                format!("{name} must be a positive duration such as \"5s\", \"500ms\" or \"2m\""),
            );
            Err(())
        }
    }
}

pub(super) fn count(
    raw: &Option<Spanned<i64>>,
    name: &str,
    min: i64,
    max: i64,
    r: &mut Reporter<'_>,
) -> Result<Option<usize>, ()> {
    let Some(v) = raw else { return Ok(None) };
    let n = *v.get_ref();
    if (min..=max).contains(&n) {
        Ok(Some(n as usize))
    } else {
        r.at(
            Some(v.span()),
            format!("{name} must be between {min} and {max}"),
        );
        Err(())
    }
}

#[cfg(test)]
mod tests;
