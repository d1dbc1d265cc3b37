//! Where GetReport and the token endpoint live for the configured environment and account.
//!
//! The upstream host comes from configuration alone: nothing a caller sends can change it.

use http::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::params::CanonicalParams;

/// Characters left as they are in a query value: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// iCasework environment of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `https://{account}reports.icasework.com/getreport`, token at `https://{account}.icasework.com/token`.
    Production,
    /// `https://uat.icasework.com/getreport?db={account}`, token at `https://uat.icasework.com/token?db={account}`.
    Uat,
}

impl Environment {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "production" => Some(Self::Production),
            "uat" => Some(Self::Uat),
            _ => None,
        }
    }
}

/// The resolved upstream URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://authority/path` of GetReport, without a query.
    getreport: String,
    /// `db={account}` on UAT, sent first in every query.
    db: Option<String>,
    /// The exact token URL; it is also the `aud` of the JWT assertion.
    token_url: String,
}

impl Endpoint {
    /// Builds the endpoint. `base_url` replaces scheme and host (the sandbox, tests); GetReport is
    /// then `{base_url}/getreport` and the token endpoint `{base_url}/token`, with `db=` on UAT.
    pub fn new(
        environment: Environment,
        account: &str,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<Self, String> {
        validate_account(account)?;
        let db = (environment == Environment::Uat).then(|| account.to_owned());
        let db_query = db
            .as_deref()
            .map(|a| format!("?db={}", utf8_percent_encode(a, QUERY_VALUE)))
            .unwrap_or_default();
        let (getreport, default_token) = match base_url {
            Some(base) => {
                let base = validate_base_url(base)?;
                (
                    format!("{base}/getreport"),
                    format!("{base}/token{db_query}"),
                )
            }
            None => match environment {
                Environment::Production => (
                    format!("https://{account}reports.icasework.com/getreport"),
                    format!("https://{account}.icasework.com/token"),
                ),
                Environment::Uat => (
                    "https://uat.icasework.com/getreport".to_owned(),
                    format!("https://uat.icasework.com/token{db_query}"),
                ),
            },
        };
        let token_url = match token_url {
            Some(url) => {
                validate_absolute(url).map_err(|e| format!("token_url {e}"))?;
                url.to_owned()
            }
            None => default_token,
        };
        Ok(Self {
            getreport,
            db,
            token_url,
        })
    }

    /// The GetReport URL without its query, safe for logs.
    pub fn getreport_base(&self) -> &str {
        &self.getreport
    }

    /// The token endpoint URL (the assertion's audience).
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The full GetReport URI for `params`, with `extra` pairs (a credential) appended.
    pub fn getreport_uri(&self, params: &CanonicalParams, extra: &[(&str, &str)]) -> Uri {
        let mut url = String::with_capacity(self.getreport.len() + 128);
        url.push_str(&self.getreport);
        url.push('?');
        if let Some(db) = &self.db {
            url.push_str("db=");
            url.extend(utf8_percent_encode(db, QUERY_VALUE));
            url.push('&');
        }
        params.write_query(&mut url);
        for (name, value) in extra {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        // Every part is validated or percent-encoded above, so this cannot fail; should it, the
        // request fails closed rather than going somewhere else.
        url.parse()
            .unwrap_or_else(|_| Uri::from_static("http://invalid.invalid/"))
    }
}

fn validate_account(account: &str) -> Result<(), String> {
    let ok = !account.is_empty()
        && account.len() <= 50
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !account.starts_with('-')
        && !account.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("account must be the iCasework account name your account manager gave you: 1-50 lowercase letters, digits or '-' (it becomes part of a host name)".to_owned())
    }
}

fn validate_absolute(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "must be an absolute http(s) URL".to_owned())?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(uri),
        _ => Err("must be an absolute http(s) URL".to_owned()),
    }
}

/// Returns `scheme://authority[/prefix]` without a trailing slash.
fn validate_base_url(base: &str) -> Result<String, String> {
    let uri = validate_absolute(base).map_err(|e| format!("base_url {e}"))?;
    if uri.query().is_some() {
        return Err("base_url must not have a query; casegate adds db= itself on UAT".to_owned());
    }
    Ok(base.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_urls() {
        let e = Endpoint::new(Environment::Production, "exampleco", None, None).unwrap();
        assert_eq!(
            e.getreport_base(),
            "https://examplecoreports.icasework.com/getreport"
        );
        assert_eq!(e.token_url(), "https://exampleco.icasework.com/token");
    }

    #[test]
    fn uat_urls() {
        let e = Endpoint::new(Environment::Uat, "exampleco", None, None).unwrap();
        assert_eq!(e.getreport_base(), "https://uat.icasework.com/getreport");
        assert_eq!(
            e.token_url(),
            "https://uat.icasework.com/token?db=exampleco"
        );
    }

    #[test]
    fn base_url_override() {
        let e = Endpoint::new(
            Environment::Uat,
            "acme",
            Some("http://127.0.0.1:9000/"),
            None,
        )
        .unwrap();
        assert_eq!(e.getreport_base(), "http://127.0.0.1:9000/getreport");
        assert_eq!(e.token_url(), "http://127.0.0.1:9000/token?db=acme");
    }

    #[test]
    fn bad_accounts_and_urls_are_refused() {
        for account in ["", "Example", "a.b", "evil.com/x", "-a", "a b"] {
            assert!(
                Endpoint::new(Environment::Production, account, None, None).is_err(),
                "{account:?}"
            );
        }
        assert!(Endpoint::new(Environment::Production, "a", Some("ftp://x"), None).is_err());
        assert!(Endpoint::new(Environment::Production, "a", Some("/relative"), None).is_err());
        assert!(Endpoint::new(Environment::Production, "a", Some("http://x/?db=z"), None).is_err());
    }
}
