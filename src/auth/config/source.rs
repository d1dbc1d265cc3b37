//! An issuer's key source: exactly one of PEM files, an HMAC secret, a JWKS file (all read
//! and parsed here), a JWKS URL or a discovery URL; then whether each algorithm fits it.

use std::collections::HashSet;
use std::path::Path;

use jsonwebtoken::Algorithm;
use secrecy::ExposeSecret;
use serde_spanned::Spanned;

use super::{KeySource, RawIssuer, RawPemFile, Span, S};
use crate::auth::keys::{self, Key, KeyKind, KeySet};
use crate::config::problem::Reporter;
use crate::config::secret;

/// A key source, checked and loaded, before the algorithms are matched against it.
pub(super) enum Draft {
    Pem(KeySet),
    Hmac(KeySet, usize),
    JwksFile(KeySet),
    Remote(KeySource),
}

impl Draft {
    /// Whether `alg` can verify with these keys; the reason if not.
    pub(super) fn fits(&self, alg: Algorithm) -> Result<(), String> {
        let kind = KeyKind::of(alg);
        let min_secret = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            _ => 64,
        };
        match self {
            Draft::Hmac(_, len) if kind == KeyKind::Hmac && *len < min_secret => Err(format!(
                "needs an hmac_secret of at least {min_secret} bytes (RFC 7518 §3.2)"
            )),
            Draft::Hmac(..) if kind == KeyKind::Hmac => Ok(()),
            Draft::Hmac(..) => Err("needs a public key; hmac_secret verifies HS* only".to_owned()),
            _ if kind == KeyKind::Hmac => {
                Err("needs hmac_secret (HMAC keys come only from a secret)".to_owned())
            }
            Draft::Remote(_) => Ok(()),
            Draft::Pem(set) | Draft::JwksFile(set) => {
                if set.iter().any(|(_, k)| k.kind() == kind) {
                    Ok(())
                } else {
                    Err(format!(
                        "needs {}, and no configured key is one",
                        kind.name()
                    ))
                }
            }
        }
    }

    pub(super) fn into_key_source(self) -> KeySource {
        match self {
            Draft::Pem(set) | Draft::Hmac(set, _) | Draft::JwksFile(set) => KeySource::Static(set),
            Draft::Remote(source) => source,
        }
    }
}

pub(super) fn key_source(
    name: &str,
    x: &RawIssuer,
    whole: Option<Span>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<Draft> {
    let given: Vec<(&str, Span)> = [
        ("pem_files", x.pem_files.as_ref().map(Spanned::span)),
        ("hmac_secret", x.hmac_secret.as_ref().map(Spanned::span)),
        ("jwks_file", x.jwks_file.as_ref().map(Spanned::span)),
        ("jwks_url", x.jwks_url.as_ref().map(Spanned::span)),
        ("discovery_url", x.discovery_url.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(key, span)| Some((key, span?)))
    .collect();
    match given.as_slice() {
        [] => {
            r.at(
                whole,
                format!(
                    "{name} needs one key source: pem_files, hmac_secret, jwks_file, jwks_url \
                     or discovery_url"
                ),
            );
            return None;
        }
        [_] => {}
        [(first, _), (second, span), ..] => {
            r.at(
                Some(span.clone()),
                format!("{name} has both {first} and {second}: give exactly one key source"),
            );
            return None;
        }
    }
    if let Some(files) = &x.pem_files {
        return pem_files(name, files, base_dir, r).map(Draft::Pem);
    }
    if let Some(secret) = &x.hmac_secret {
        return match secret::resolve(secret.get_ref(), base_dir) {
            Ok(s) => {
                let bytes = s.expose_secret().as_bytes();
                Some(Draft::Hmac(keys::hmac_key_set(bytes), bytes.len()))
            }
            Err(e) => {
                r.at(Some(secret.span()), format!("{name}.hmac_secret: {e}"));
                None
            }
        };
    }
    if let Some(file) = &x.jwks_file {
        let path = base_dir.join(file.get_ref());
        let parsed = std::fs::read(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|bytes| keys::parse_jwks(&bytes).map(|(set, _skipped)| set));
        return match parsed {
            Ok(set) => Some(Draft::JwksFile(set)),
            Err(e) => {
                r.at(Some(file.span()), format!("{name}.jwks_file: {e}"));
                None
            }
        };
    }
    let (key, url, make): (_, _, fn(http::Uri) -> KeySource) = match (&x.jwks_url, &x.discovery_url)
    {
        (Some(url), _) => ("jwks_url", url, KeySource::JwksUrl),
        (None, Some(url)) => ("discovery_url", url, KeySource::Discovery),
        (None, None) => return None,
    };
    match fetch_url(url.get_ref()) {
        Ok(uri) => Some(Draft::Remote(make(uri))),
        Err(why) => {
            r.at(Some(url.span()), format!("{name}.{key} {why}"));
            None
        }
    }
}

fn pem_files(
    name: &str,
    files: &S<Vec<S<RawPemFile>>>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<KeySet> {
    if files.get_ref().is_empty() {
        r.at(
            Some(files.span()),
            format!("{name}.pem_files must not be empty"),
        );
        return None;
    }
    let mut set = KeySet::default();
    let mut kids = HashSet::new();
    let mut ok = true;
    for file in files.get_ref() {
        let f = file.get_ref();
        if let Some(kid) = &f.kid {
            if kid.get_ref().is_empty() || !kids.insert(kid.get_ref().clone()) {
                ok = false;
                let msg = format!(
                    "{name}.pem_files: kid {:?} is empty or repeated",
                    kid.get_ref()
                );
                r.at(Some(kid.span()), msg);
            }
        }
        let path = base_dir.join(f.path.get_ref());
        let parsed = std::fs::read(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|bytes| {
                keys::parse_public_pem(&bytes).map_err(|e| format!("{} is {e}", path.display()))
            });
        match parsed {
            Ok((kind, decoding, der)) => set.insert(
                f.kid.as_ref().map(|k| k.get_ref().clone()),
                Key::new(kind, None, decoding, &der),
            ),
            Err(e) => {
                ok = false;
                r.at(Some(f.path.span()), format!("{name}.pem_files: {e}"));
            }
        }
    }
    ok.then_some(set)
}

/// A key-set URL: `https://`, or `http://` to a loopback address only (a key set fetched in
/// the clear could be swapped by anyone on the path).
pub(crate) fn fetch_url(text: &str) -> Result<http::Uri, &'static str> {
    let uri: http::Uri = text.parse().map_err(|_| "is not a URL")?;
    let host = uri.host().ok_or("is not an absolute URL")?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if loopback => Ok(uri),
        Some("http") => Err("must use https:// (http:// only to a loopback address)"),
        _ => Err("must be an https:// URL"),
    }
}
