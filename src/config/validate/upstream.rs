//! The `[upstream]` section: endpoint, timeouts, limits, connections and the credential.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_spanned::Spanned;

use super::super::problem::Reporter;
use super::super::raw::{RawCredential, RawSecret, RawUpstream};
use super::super::{secret, CredentialConfig, KeySignatureConfig, OAuthConfig, UpstreamConfig};
use super::{count, duration};
use crate::params::Param;
use crate::upstream::client::ConnectOptions;
use crate::upstream::endpoint::{Endpoint, Environment};

pub(super) fn upstream(
    raw: &RawUpstream,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<UpstreamConfig> {
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
    // Idle connections are cheap; too few makes concurrent callers churn TCP+TLS handshakes
    // (benches/added_latency: at 32 idle and 64 callers, 42 % of requests opened a connection).
    .map(|v| v.unwrap_or(256));
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
    let extra_roots = match &raw.ca_file {
        Some(file) => extra_roots(file, base_dir, r),
        None => Some(Vec::new()),
    };
    let resolve = match &raw.resolve {
        Some(table) => resolve(table, r),
        None => Some(HashMap::new()),
    };
    let protection = super::protection::protection(&raw.protection, r);
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
        connect: ConnectOptions {
            connect_timeout: connect,
            pool_idle_timeout: pool_idle.ok()?,
            pool_max_idle_per_host: pool_max_idle_per_host.ok()?,
            extra_roots: extra_roots?,
            resolve: resolve?,
        },
        first_byte_timeout: first_byte,
        total_timeout: total,
        max_response_bytes: max_response_bytes.ok()?,
        credential: credential?,
        protection: protection?,
    })
}

/// PEM certificates to trust besides the webpki roots.
fn extra_roots(
    file: &Spanned<String>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<Vec<CertificateDer<'static>>> {
    let path = base_dir.join(file.get_ref());
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(&path).and_then(Iterator::collect);
    match certs {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            r.at(
                Some(file.span()),
                format!(
                    "upstream.ca_file {} holds no PEM certificate",
                    path.display()
                ),
            );
            None
        }
        Err(e) => {
            r.at(
                Some(file.span()),
                format!(
                    "upstream.ca_file: cannot read PEM certificates from {}: {e}",
                    path.display()
                ),
            );
            None
        }
    }
}

/// `host = "ip:port"` pairs answered without DNS.
fn resolve(
    table: &Spanned<std::collections::BTreeMap<String, Spanned<String>>>,
    r: &mut Reporter<'_>,
) -> Option<HashMap<String, SocketAddr>> {
    let mut out = HashMap::new();
    let mut ok = true;
    for (host, addr) in table.get_ref() {
        let valid_host = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        match addr.get_ref().parse::<SocketAddr>() {
            Ok(a) if valid_host => {
                out.insert(host.clone(), a);
            }
            Ok(_) => {
                r.at(
                    Some(table.span()),
                    format!("upstream.resolve: {host:?} must be a lowercase host name"),
                );
                ok = false;
            }
            Err(_) => {
                r.at(
                    Some(addr.span()),
                    format!("upstream.resolve.\"{host}\" must be an address and port such as \"10.0.0.5:443\""),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn credential(
    spanned: &Spanned<RawCredential>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<CredentialConfig> {
    let raw = spanned.get_ref();
    let mut secret = |field: &Option<Spanned<RawSecret>>, name: &str| match field {
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
