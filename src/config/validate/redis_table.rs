//! What every Redis table (`[cache.redis]`, `[limits.redis]`) writes alike: where Redis is, its
//! password, and the namespace that starts every key name. Messages name the table they are in.

use std::ops::Range;
use std::path::Path;

use secrecy::ExposeSecret;
use serde_spanned::Spanned;

use super::super::problem::Reporter;
use super::super::raw::RawSecret;
use super::super::secret;

/// `url`, and `password` when given; `span` is the table's, for a missing url.
pub(super) fn connection(
    url: &Option<Spanned<String>>,
    password: &Option<Spanned<RawSecret>>,
    span: Range<usize>,
    table: &str,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<redis::ConnectionInfo> {
    let Some(url) = url else {
        r.at(
            Some(span),
            format!(
                "{table}.url is required when [{table}] is present, e.g. url = \"redis://10.0.0.7:6379/0\""
            ),
        );
        return None;
    };
    let at = Some(url.span());
    if !url.get_ref().starts_with("redis://") {
        r.at(
            at,
            format!(
                "{table}.url must start with redis:// (rediss:// and unix sockets are not \
                 supported), e.g. \"redis://10.0.0.7:6379/0\""
            ),
        );
        return None;
    }
    let Ok(info) = redis::IntoConnectionInfo::into_connection_info(url.get_ref().as_str()) else {
        // The URL is not repeated: it might hold a password.
        r.at(
            at,
            format!(
                "{table}.url must be a Redis URL: redis://host:port/database, e.g. \"redis://10.0.0.7:6379/0\""
            ),
        );
        return None;
    };
    if info.redis_settings().password().is_some() {
        r.at(
            at,
            format!(
                "{table}.url must not hold a password: give {table}.password = {{ env = \
                 \"REDIS_PASSWORD\" }} or {{ file = \"...\" }} instead (secrets are never written inline)"
            ),
        );
        return None;
    }
    let Some(password) = password else {
        return Some(info);
    };
    match secret::resolve(password.get_ref(), base_dir) {
        Ok(secret) => {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(secret.expose_secret());
            Some(info.set_redis_settings(settings))
        }
        Err(e) => {
            r.at(Some(password.span()), format!("{table}.password: {e}"));
            None
        }
    }
}

/// `namespace`, "casegate" unless given.
pub(super) fn namespace(
    raw: &Option<Spanned<String>>,
    table: &str,
    r: &mut Reporter<'_>,
) -> Option<String> {
    match raw {
        None => Some("casegate".to_owned()),
        Some(ns) if is_name(ns.get_ref(), 64) => Some(ns.get_ref().clone()),
        Some(ns) => {
            r.at(
                Some(ns.span()),
                format!(
                    "{table}.namespace must be 1 to 64 of A-Z a-z 0-9 . _ - (it starts every key \
                     name; purging everything matches on it)"
                ),
            );
            None
        }
    }
}

/// 1 to `max` of A-Z a-z 0-9 . _ -
pub(super) fn is_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
