//! Raw configuration -> runtime configuration, reporting every problem with its line.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;

use super::problem::{Problems, Reporter};
use super::raw::{RawConfig, RawCredential, RawServer, RawUpstream};
use super::{
    secret, Config, CredentialConfig, KeySignatureConfig, LogFormat, LoggingConfig, OAuthConfig,
    ServerConfig, UpstreamConfig,
};
use crate::params::{Limits, Param};
use crate::upstream::endpoint::{Endpoint, Environment};

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
    let server = server(&raw.server, &mut r);
    let upstream = match &raw.upstream {
        Some(u) => upstream(u.get_ref(), base_dir, &mut r),
        None => {
            r.at(
                None,
                "missing [upstream] section: set environment and account",
            );
            None
        }
    };
    let logging = logging(&raw, &mut r);
    match (server, upstream, logging) {
        (Some(server), Some(upstream), Some(logging)) if problems.is_empty() => Ok(Config {
            server,
            upstream,
            logging,
        }),
        _ => Err(problems),
    }
}

fn server(raw: &RawServer, r: &mut Reporter<'_>) -> Option<ServerConfig> {
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
    Some(ServerConfig {
        listen: listen.ok()?,
        limits: Limits {
            max_query_bytes: max_query_bytes.ok()?,
            max_value_bytes: max_value_bytes.ok()?,
        },
        header_read_timeout: header_read_timeout.ok()?,
        shutdown_grace: shutdown_grace.ok()?,
    })
}

fn upstream(raw: &RawUpstream, base_dir: &Path, r: &mut Reporter<'_>) -> Option<UpstreamConfig> {
    let environment = match &raw.environment {
        Some(e) => Environment::parse(e.get_ref()).ok_or_else(|| {
            r.at(
                Some(e.span()),
                "upstream.environment must be \"production\" or \"uat\"",
            )
        }),
        None => Ok(Environment::Production),
    };
    let endpoint = match (&raw.account, environment) {
        (None, _) => {
            r.at(
                None,
                "upstream.account is required: the iCasework account name",
            );
            None
        }
        (Some(account), Ok(environment)) => {
            let base_url = raw.base_url.as_ref().map(|b| b.get_ref().as_str());
            let token_url = raw.token_url.as_ref().map(|t| t.get_ref().as_str());
            Endpoint::new(environment, account.get_ref(), base_url, token_url)
                .map_err(|e| {
                    // Point at the key the message is about.
                    let span = if e.starts_with("base_url") {
                        raw.base_url.as_ref().map(Spanned::span)
                    } else if e.starts_with("token_url") {
                        raw.token_url.as_ref().map(Spanned::span)
                    } else {
                        Some(account.span())
                    };
                    r.at(span, format!("upstream.{e}"));
                })
                .ok()
        }
        (Some(_), Err(())) => None,
    };
    let timeouts = [
        (&raw.connect_timeout, "upstream.connect_timeout", 5),
        (&raw.first_byte_timeout, "upstream.first_byte_timeout", 60),
        (&raw.total_timeout, "upstream.total_timeout", 300),
        (&raw.pool_idle_timeout, "upstream.pool_idle_timeout", 60),
    ]
    .map(|(raw, name, default)| {
        duration(raw, name, r).map(|d| d.unwrap_or(Duration::from_secs(default)))
    });
    let max_response_bytes = match &raw.max_response_bytes {
        Some(s) => s
            .get_ref()
            .parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|_| {
                r.at(
                    Some(s.span()),
                    "upstream.max_response_bytes must be a size such as \"512 MiB\"",
                )
            }),
        None => Ok(512 * 1024 * 1024),
    };
    let pool_max_idle_per_host = count(
        &raw.pool_max_idle_per_host,
        "upstream.pool_max_idle_per_host",
        0,
        10_000,
        r,
    )
    .map(|v| v.unwrap_or(32));
    let credential = match &raw.credential {
        Some(c) => credential(c, base_dir, r),
        None => {
            r.at(
                None,
                "missing [upstream.credential]: set api_key and secret_key",
            );
            None
        }
    };
    let [connect, first_byte, total, pool_idle] = timeouts;
    let (connect, first_byte, total) = (connect.ok()?, first_byte.ok()?, total.ok()?);
    if first_byte > total {
        r.at(
            raw.first_byte_timeout.as_ref().map(Spanned::span),
            "upstream.first_byte_timeout must not exceed upstream.total_timeout",
        );
        return None;
    }
    Some(UpstreamConfig {
        endpoint: endpoint?,
        connect_timeout: connect,
        first_byte_timeout: first_byte,
        total_timeout: total,
        max_response_bytes: max_response_bytes.ok()?,
        pool_idle_timeout: pool_idle.ok()?,
        pool_max_idle_per_host: pool_max_idle_per_host.ok()?,
        credential: credential?,
    })
}

fn credential(
    spanned: &Spanned<RawCredential>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<CredentialConfig> {
    let raw = spanned.get_ref();
    let mut secret = |field: &Option<Spanned<super::raw::RawSecret>>, name: &str| match field {
        Some(s) => secret::resolve(s.get_ref(), base_dir)
            .map_err(|e| r.at(Some(s.span()), format!("upstream.credential.{name}: {e}")))
            .ok(),
        None => {
            r.at(
                Some(spanned.span()),
                format!("upstream.credential.{name} is required, e.g. {name} = {{ env = \"ICASEWORK_{}\" }}", name.to_uppercase()),
            );
            None
        }
    };
    let api_key = secret(&raw.api_key, "api_key");
    let secret_key = secret(&raw.secret_key, "secret_key");
    let scheme = raw
        .scheme
        .as_ref()
        .map_or("oauth", |s| s.get_ref().as_str());
    match scheme {
        "oauth" => {
            for (field, name) in [
                (&raw.signed_parameter, "signed_parameter"),
                (&raw.time_zone, "time_zone"),
            ] {
                if let Some(f) = field {
                    r.at(
                        Some(f.span()),
                        format!(
                            "upstream.credential.{name} only applies to scheme = \"key_signature\""
                        ),
                    );
                }
            }
            let refresh_margin =
                duration(&raw.refresh_margin, "upstream.credential.refresh_margin", r);
            let token_timeout =
                duration(&raw.token_timeout, "upstream.credential.token_timeout", r);
            let failure_backoff = duration(
                &raw.failure_backoff,
                "upstream.credential.failure_backoff",
                r,
            );
            Some(CredentialConfig::OAuth(OAuthConfig {
                api_key: api_key?,
                secret_key: secret_key?,
                refresh_margin: refresh_margin.ok()?.unwrap_or(Duration::from_secs(60)),
                token_timeout: token_timeout.ok()?.unwrap_or(Duration::from_secs(10)),
                failure_backoff: failure_backoff.ok()?.unwrap_or(Duration::from_secs(1)),
            }))
        }
        "key_signature" => {
            for (field, name) in [
                (&raw.refresh_margin, "refresh_margin"),
                (&raw.token_timeout, "token_timeout"),
                (&raw.failure_backoff, "failure_backoff"),
            ] {
                if let Some(f) = field {
                    r.at(
                        Some(f.span()),
                        format!("upstream.credential.{name} only applies to scheme = \"oauth\""),
                    );
                }
            }
            let signed_parameter = match &raw.signed_parameter {
                Some(p) => Param::from_name(p.get_ref()).ok_or_else(|| {
                    r.at(
                        Some(p.span()),
                        "upstream.credential.signed_parameter must be a GetReport parameter name such as \"ReportId\"",
                    )
                }),
                None => Ok(Param::ReportId),
            };
            let time_zone = match &raw.time_zone {
                Some(tz) => tz.get_ref().parse::<chrono_tz::Tz>().map_err(|_| {
                    r.at(
                        Some(tz.span()),
                        "upstream.credential.time_zone must be an IANA time zone such as \"UTC\" or \"Europe/London\"",
                    )
                }),
                None => Ok(chrono_tz::UTC),
            };
            Some(CredentialConfig::KeySignature(KeySignatureConfig {
                api_key: api_key?,
                secret_key: secret_key?,
                signed_parameter: signed_parameter.ok()?,
                time_zone: time_zone.ok()?,
            }))
        }
        _ => {
            let span = raw.scheme.as_ref().map(Spanned::span);
            r.at(
                span,
                "upstream.credential.scheme must be \"oauth\" or \"key_signature\"",
            );
            None
        }
    }
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

/// A duration such as "5s" or "2m 30s"; zero is refused since every duration here is a wait.
fn duration(
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

fn count(
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
#[path = "validate_tests.rs"]
mod tests;
