//! The `[auth]` section: which issuers are trusted, for which audiences, with which algorithms
//! and keys. Raw serde structs, then one validation pass that reports every problem with its
//! place in the file. Local key files are read and parsed here, so `casegate check` sees them.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_spanned::Spanned;

pub(crate) use source::fetch_url;
use source::{key_source, Draft};

use super::keys::KeySet;
use crate::config::problem::Reporter;
use crate::config::raw::RawSecret;
use crate::config::Problems;

type S<T> = Spanned<T>;
type Span = std::ops::Range<usize>;

/// `[auth]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub(crate) max_token_bytes: Option<S<i64>>,
    pub(crate) leeway: Option<S<String>>,
    pub(crate) remember: Option<S<i64>>,
    #[serde(default)]
    pub(crate) issuers: Vec<S<RawIssuer>>,
}

/// One `[[auth.issuers]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIssuer {
    pub(crate) issuer: Option<S<String>>,
    pub(crate) audiences: Option<S<Vec<S<String>>>>,
    pub(crate) algorithms: Option<S<Vec<S<String>>>>,
    pub(crate) pem_files: Option<S<Vec<S<RawPemFile>>>>,
    pub(crate) hmac_secret: Option<S<RawSecret>>,
    pub(crate) jwks_file: Option<S<String>>,
    pub(crate) jwks_url: Option<S<String>>,
    pub(crate) discovery_url: Option<S<String>>,
    pub(crate) refresh_interval: Option<S<String>>,
    pub(crate) min_refetch_interval: Option<S<String>>,
    pub(crate) fetch_timeout: Option<S<String>>,
}

/// `{ path = "keys/idp.pem", kid = "k1" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPemFile {
    pub(crate) path: S<String>,
    pub(crate) kid: Option<S<String>>,
}

/// Verification settings shared by every issuer.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuers: Vec<IssuerConfig>,
    /// Longer bearer tokens are refused before any parsing.
    pub max_token_bytes: usize,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How many verified tokens are remembered; 0 turns the memo off.
    pub remember: u64,
}

/// One trusted identity provider.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// A token must name at least one of these in `aud`.
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
    /// Remote keys: how often the key set is fetched again.
    pub refresh_interval: Duration,
    /// Remote keys: an unknown `kid` fetches the key set at most this often.
    pub min_refetch_interval: Duration,
    /// Remote keys: one fetch, connection included.
    pub fetch_timeout: Duration,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Loaded from the configuration: PEM files, a JWKS file or an HMAC secret.
    Static(KeySet),
    /// A JWK Set fetched from this URL.
    JwksUrl(http::Uri),
    /// An OpenID Connect discovery document whose `jwks_uri` is fetched.
    Discovery(http::Uri),
}

impl AuthConfig {
    /// Validates a TOML document holding an `[auth]` table, as if read from `path` (key files
    /// are relative to its folder). The gateway reads `[auth]` from its own configuration; this
    /// is for tools, tests and benches.
    pub fn parse(path: &Path, text: &str) -> Result<AuthConfig, Problems> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            auth: RawAuth,
        }
        let mut problems = Problems::default();
        let mut r = Reporter::new(path, text, &mut problems);
        let config = match toml::from_str::<Doc>(text) {
            Ok(doc) => validate(&doc.auth, path.parent().unwrap_or(Path::new(".")), &mut r),
            Err(e) => {
                r.at(e.span(), e.message().trim().to_owned());
                None
            }
        };
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems),
        }
    }
}

/// Checks `[auth]`, reporting every problem; `None` if there was any.
/// `raw` carries no span of its own: toml cannot give one to a table that `[[auth.issuers]]`
/// defines implicitly.
pub(crate) fn validate(raw: &RawAuth, base_dir: &Path, r: &mut Reporter<'_>) -> Option<AuthConfig> {
    let a = raw;
    let max_token_bytes = int(&a.max_token_bytes, "auth.max_token_bytes", 512, 65_536, r);
    let remember = int(&a.remember, "auth.remember", 0, 10_000_000, r);
    let leeway = match &a.leeway {
        Some(s) => match humantime::parse_duration(s.get_ref()) {
            Ok(d) if d <= Duration::from_secs(300) => Ok(d),
            _ => {
                r.at(
                    Some(s.span()),
                    "auth.leeway must be a duration from \"0s\" to \"5m\"",
                );
                Err(())
            }
        },
        None => Ok(Duration::from_secs(60)),
    };
    if a.issuers.is_empty() {
        r.at(None, "auth needs at least one [[auth.issuers]] table");
    }
    let mut seen = HashSet::new();
    let issuers: Vec<_> = (a.issuers.iter().enumerate())
        .map(|(i, raw)| issuer(&format!("auth.issuers[{i}]"), raw, base_dir, &mut seen, r))
        .collect();
    Some(AuthConfig {
        issuers: issuers.into_iter().collect::<Option<Vec<_>>>()?,
        max_token_bytes: max_token_bytes.ok()?.unwrap_or(8192) as usize,
        leeway: leeway.ok()?,
        remember: remember.ok()?.unwrap_or(10_000) as u64,
    })
}

fn issuer(
    name: &str,
    raw: &S<RawIssuer>,
    base_dir: &Path,
    seen: &mut HashSet<String>,
    r: &mut Reporter<'_>,
) -> Option<IssuerConfig> {
    let x = raw.get_ref();
    let whole = Some(raw.span());
    let issuer = match &x.issuer {
        None => {
            r.at(
                whole.clone(),
                format!("{name}.issuer is required: the exact iss of its tokens"),
            );
            None
        }
        Some(s) if s.get_ref().is_empty() => {
            r.at(Some(s.span()), format!("{name}.issuer must not be empty"));
            None
        }
        Some(s) if !seen.insert(s.get_ref().clone()) => {
            let msg = format!("{name}.issuer {:?} is configured twice", s.get_ref());
            r.at(Some(s.span()), msg);
            None
        }
        Some(s) => Some(s.get_ref().clone()),
    };
    let audiences = audiences(name, x, whole.clone(), r);
    let algorithms = algorithms(name, x, whole.clone(), r);
    let source = key_source(name, x, whole, base_dir, r);
    let remote = matches!(source, Some(Draft::Remote(_)));
    let durations = [
        (&x.refresh_interval, "refresh_interval", 600),
        (&x.min_refetch_interval, "min_refetch_interval", 30),
        (&x.fetch_timeout, "fetch_timeout", 5),
    ]
    .map(|(value, key, default)| match value {
        Some(s) if source.is_some() && !remote => {
            let msg = format!("{name}.{key} applies to jwks_url and discovery_url only");
            r.at(Some(s.span()), msg);
            None
        }
        Some(s) => match humantime::parse_duration(s.get_ref()) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => {
                let msg = format!("{name}.{key} must be a positive duration such as \"30s\"");
                r.at(Some(s.span()), msg);
                None
            }
        },
        None => Some(Duration::from_secs(default)),
    });
    let ((algorithms, all_known), source) = (algorithms?, source?);
    let fits = algorithms
        .iter()
        .map(|(alg, span)| match source.fits(*alg) {
            Ok(()) => true,
            Err(why) => {
                r.at(
                    Some(span.clone()),
                    format!("{name}.algorithms: {alg:?} {why}"),
                );
                false
            }
        })
        .fold(all_known, |all, ok| all && ok);
    let [refresh_interval, min_refetch_interval, fetch_timeout] = durations;
    Some(IssuerConfig {
        issuer: issuer?,
        audiences: audiences?,
        algorithms: fits.then(|| algorithms.iter().map(|(a, _)| *a).collect())?,
        keys: source.into_key_source(),
        refresh_interval: refresh_interval?,
        min_refetch_interval: min_refetch_interval?,
        fetch_timeout: fetch_timeout?,
    })
}

fn audiences(
    name: &str,
    x: &RawIssuer,
    whole: Option<Span>,
    r: &mut Reporter<'_>,
) -> Option<Vec<String>> {
    let Some(list) = &x.audiences else {
        r.at(
            whole,
            format!("{name}.audiences is required: the aud values tokens may carry"),
        );
        return None;
    };
    if list.get_ref().is_empty() || list.get_ref().iter().any(|a| a.get_ref().is_empty()) {
        r.at(
            Some(list.span()),
            format!("{name}.audiences must list one or more non-empty audiences"),
        );
        return None;
    }
    Some(list.get_ref().iter().map(|a| a.get_ref().clone()).collect())
}

/// The algorithms named, each with its place, and whether every name was known.
fn algorithms(
    name: &str,
    x: &RawIssuer,
    whole: Option<Span>,
    r: &mut Reporter<'_>,
) -> Option<(Vec<(Algorithm, Span)>, bool)> {
    let Some(list) = &x.algorithms else {
        r.at(
            whole,
            format!("{name}.algorithms is required, e.g. [\"RS256\"]"),
        );
        return None;
    };
    if list.get_ref().is_empty() {
        r.at(
            Some(list.span()),
            format!("{name}.algorithms must not be empty"),
        );
        return None;
    }
    let mut ok = true;
    let mut algs = Vec::new();
    for s in list.get_ref() {
        match Algorithm::from_str(s.get_ref()) {
            Ok(alg) => algs.push((alg, s.span())),
            Err(_) => {
                ok = false;
                r.at(
                    Some(s.span()),
                    format!(
                        "{name}.algorithms: unknown algorithm {:?}; use RS256, RS384, RS512, \
                         PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 or HS512",
                        s.get_ref()
                    ),
                );
            }
        }
    }
    Some((algs, ok))
}

fn int(
    raw: &Option<S<i64>>,
    name: &str,
    min: i64,
    max: i64,
    r: &mut Reporter<'_>,
) -> Result<Option<i64>, ()> {
    match raw {
        Some(v) if !(min..=max).contains(v.get_ref()) => {
            r.at(
                Some(v.span()),
                format!("{name} must be between {min} and {max}"),
            );
            Err(())
        }
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    }
}

mod source;
#[cfg(test)]
mod tests;
