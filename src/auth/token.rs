//! A compact JWS taken apart (header, claims, signature) before any key is involved, and the
//! claim checks made after its signature verified.
//!
//! The header is read into a struct, so a repeated `alg` or `kid` is an error rather than
//! "the last one wins"; a repeated claim, at any depth, is refused too (see `unique`). `jku`,
//! `x5u`, `jwk` and `x5c` are ignored: keys come from the configuration only. `crit` is refused, since no extension is understood (RFC 7515 §4.1.11).

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::unique::Unique;
use super::AuthError;

/// A token, parsed but not yet trusted.
#[derive(Debug)]
pub(crate) struct Token<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    pub(crate) signing_input: &'a str,
    /// base64url, as sent.
    pub(crate) signature: &'a str,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

pub(crate) fn parse(token: &str) -> Result<Token<'_>, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "not three dot-separated parts: header.payload.signature",
        ));
    };
    let header: Header = json(h).ok_or(AuthError::Malformed(
        "the header is not base64url JSON with an alg",
    ))?;
    if header.crit.is_some() {
        return Err(AuthError::Malformed(
            "the header has crit, and no extension is understood",
        ));
    }
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::NoneAlgorithm);
    }
    let alg = Algorithm::from_str(&header.alg).map_err(|_| AuthError::AlgorithmNotAllowed)?;
    let Some(Unique(Value::Object(claims))) = json(payload) else {
        return Err(AuthError::Malformed(
            "the payload is not a base64url JSON object with each claim once",
        ));
    };
    Ok(Token {
        alg,
        kid: header.kid,
        claims,
        signing_input: &token[..h.len() + 1 + payload.len()],
        signature,
    })
}

/// A base64url JSON object (an array would otherwise fill a struct field by field).
fn json<T: DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// A string claim, if present.
pub(crate) fn string<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::Malformed(
            "a string claim (iss, sub) is not a string",
        )),
    }
}

/// Checks `exp` (required), `nbf` and `iat` against `now` (Unix seconds) with `leeway`
/// seconds of clock skew; returns `exp`.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    now: f64,
    leeway: f64,
) -> Result<f64, AuthError> {
    let exp = time(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    if now >= exp + leeway {
        return Err(AuthError::Expired);
    }
    for name in ["nbf", "iat"] {
        if time(claims, name)?.is_some_and(|t| t > now + leeway) {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(exp)
}

fn time(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite())
            .map(Some)
            .ok_or(AuthError::Malformed(
                "a time claim (exp, nbf, iat) is not a number",
            )),
    }
}

/// `aud` (a string or an array of strings) must name one of `accepted`.
pub(crate) fn check_audience(
    claims: &Map<String, Value>,
    accepted: &[String],
) -> Result<(), AuthError> {
    let ok = match claims.get("aud") {
        None => return Err(AuthError::MissingClaim("aud")),
        Some(Value::String(aud)) => accepted.contains(aud),
        Some(Value::Array(auds)) => {
            let mut any = false;
            for aud in auds {
                let aud = aud.as_str().ok_or(AuthError::Malformed(
                    "aud is neither a string nor an array of strings",
                ))?;
                any |= accepted.iter().any(|a| a == aud);
            }
            any
        }
        Some(_) => {
            return Err(AuthError::Malformed(
                "aud is neither a string nor an array of strings",
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::WrongAudience)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: &Value, claims: &Value) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    #[test]
    fn parts_are_split_and_kept() {
        let t = token(&json!({"alg": "RS256", "kid": "k"}), &json!({"iss": "i"}));
        let parsed = parse(&t).unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k"));
        assert_eq!(parsed.signature, "c2ln");
        assert_eq!(parsed.signing_input, &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn header_problems() {
        let claims = json!({});
        let parse_with = |h: Value| parse(&token(&h, &claims)).map(|_| ()).unwrap_err();
        assert_eq!(parse_with(json!({"alg": "none"})), AuthError::NoneAlgorithm);
        assert_eq!(parse_with(json!({"alg": "nONe"})), AuthError::NoneAlgorithm);
        assert_eq!(
            parse_with(json!({"alg": "HS1024"})),
            AuthError::AlgorithmNotAllowed
        );
        for h in [
            json!({"alg": "RS256", "crit": ["exp"]}),
            json!({"kid": "k"}),
            json!({"alg": 5}),
            json!({"alg": "RS256", "kid": 7}),
            json!(["RS256"]),
        ] {
            assert!(matches!(parse_with(h), AuthError::Malformed(_)));
        }
        // A repeated alg is refused, not resolved.
        let dup = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","alg":"RS256"}"#);
        assert!(matches!(
            parse(&format!("{dup}.{}.x", b64(&claims))).unwrap_err(),
            AuthError::Malformed(_)
        ));
    }

    #[test]
    fn repeated_claims_are_refused() {
        let h = b64(&json!({"alg": "RS256"}));
        for payload in [r#"{"sub":"a","sub":"b"}"#, r#"{"exp":1,"exp":2}"#] {
            let t = format!("{h}.{}.c2ln", URL_SAFE_NO_PAD.encode(payload));
            assert!(
                matches!(parse(&t).unwrap_err(), AuthError::Malformed(_)),
                "{payload}"
            );
        }
    }

    #[test]
    fn jku_x5u_and_jwk_are_ignored() {
        let h = json!({"alg": "RS256", "jku": "https://evil/", "x5u": "https://evil/", "jwk": {"kty": "oct", "k": "AA"}});
        assert!(parse(&token(&h, &json!({}))).is_ok());
    }

    #[test]
    fn shape_problems() {
        let h = b64(&json!({"alg": "RS256"}));
        for t in [
            "a.b".to_owned(),
            "a.b.c.d.e".to_owned(),
            format!("{h}.e30=.sig"),
            format!("{h}.W10.sig"),
            format!("{h}.!!.sig"),
            format!("{h}..sig"),
        ] {
            assert!(
                matches!(parse(&t).unwrap_err(), AuthError::Malformed(_)),
                "{t}"
            );
        }
    }

    #[test]
    fn times() {
        let now = 1_000_000.0;
        let c = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            check_times(&c(json!({"exp": now + 1.0})), now, 0.0),
            Ok(now + 1.0)
        );
        assert_eq!(
            check_times(&c(json!({"exp": now})), now, 0.0),
            Err(AuthError::Expired)
        );
        assert!(check_times(&c(json!({"exp": now - 30.0})), now, 60.0).is_ok());
        assert_eq!(
            check_times(&c(json!({})), now, 60.0),
            Err(AuthError::MissingClaim("exp"))
        );
        assert!(matches!(
            check_times(&c(json!({"exp": "soon"})), now, 60.0),
            Err(AuthError::Malformed(_))
        ));
        let future = |name: &str, t: f64| {
            let mut m = c(json!({"exp": now + 600.0}));
            m.insert(name.into(), t.into());
            check_times(&m, now, 60.0)
        };
        for name in ["nbf", "iat"] {
            assert!(future(name, now + 59.0).is_ok(), "{name} within leeway");
            assert_eq!(
                future(name, now + 61.0),
                Err(AuthError::NotYetValid),
                "{name}"
            );
        }
    }

    #[test]
    fn audiences() {
        let ok = ["casegate".to_owned(), "reports".to_owned()];
        let c = |v: Value| v.as_object().unwrap().clone();
        assert!(check_audience(&c(json!({"aud": "reports"})), &ok).is_ok());
        assert!(check_audience(&c(json!({"aud": ["x", "casegate"]})), &ok).is_ok());
        let wrong = Err(AuthError::WrongAudience);
        assert_eq!(check_audience(&c(json!({"aud": "other"})), &ok), wrong);
        assert_eq!(check_audience(&c(json!({"aud": []})), &ok), wrong);
        assert_eq!(
            check_audience(&c(json!({})), &ok),
            Err(AuthError::MissingClaim("aud"))
        );
        assert!(matches!(
            check_audience(&c(json!({"aud": 1})), &ok),
            Err(AuthError::Malformed(_))
        ));
    }
}
