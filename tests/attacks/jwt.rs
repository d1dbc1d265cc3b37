//! Token attacks, against two issuers: the tests' HS256 provider (`ISSUER`, `CALLER_SECRET`) and
//! an RS256 provider (`RSA_ISSUER`, the fixtures' RSA key under kid `rsa`). Tokens are signed
//! for real, so each row fails for the reason it names (a forged signature, not a typo).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::{bearer, case, fixture, now, Case, Send, RSA_ISSUER};
use crate::common::{AUDIENCE, CALLER_SECRET, ISSUER};

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// `header.payload.signature` over the given JSON texts (not re-serialised, so duplicated
/// names stay), signed with `key` under `alg`.
fn signed(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{signature}")
}

fn hmac(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret)
}

fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture(name).as_bytes()).unwrap()
}

/// Valid claims of the HS256 issuer for the test caller, with `changes` (null removes).
fn claims(changes: Value) -> String {
    let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "test-caller", "iat": now(), "exp": now() + 600});
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c.to_string()
}

fn rsa_claims() -> String {
    claims(json!({"iss": RSA_ISSUER}))
}

/// An HS256 token of the tests' issuer with `changes` to its claims.
fn hs(changes: Value) -> String {
    signed(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims(changes),
        &hmac(CALLER_SECRET.as_bytes()),
        Algorithm::HS256,
    )
}

/// A genuine RS256 token of the RSA issuer (the control).
pub(crate) fn rsa_genuine() -> String {
    signed(
        r#"{"alg":"RS256","kid":"rsa"}"#,
        &rsa_claims(),
        &rsa_key("rsa-private.pem"),
        Algorithm::RS256,
    )
}

fn unsigned(alg: &str, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(&format!(r#"{{"alg":"{alg}"}}"#)),
        b64(&claims(json!({})))
    )
}

pub(crate) fn cases(attacker: &str) -> Vec<Case> {
    let secret = CALLER_SECRET.as_bytes();
    let genuine = hs(json!({}));
    let (head, rest) = genuine.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let rsa_public = fixture("rsa-public.pem");
    let header_hs_kid = |kid: &str| json!({"alg": "HS256", "kid": kid}).to_string();
    let jku = json!({"alg": "RS256", "kid": "attacker", "jku": format!("{attacker}/jwks.json")})
        .to_string();
    let x5u =
        json!({"alg": "RS256", "kid": "rsa", "x5u": format!("{attacker}/cert.pem")}).to_string();
    let jwk = json!({"alg": "RS256", "kid": "attacker", "jku": format!("{attacker}/jwks.json"),
        "jwk": {"kty": "RSA", "kid": "attacker", "n": "AQAB", "e": "AQAB"}})
    .to_string();
    let duplicate_sub = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"nobody","sub":"test-caller","exp":{}}}"#,
        now() + 600
    );
    let duplicate_exp = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"test-caller","exp":{},"exp":{}}}"#,
        now() - 3600,
        now() + 600
    );
    let duplicate_iss = format!(
        r#"{{"iss":"https://evil.example","iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"test-caller","exp":{}}}"#,
        now() + 600
    );
    let hs_key = hmac(secret);
    vec![
        // alg none, in any spelling, with or without a signature.
        case(
            "alg none",
            bearer(unsigned("none", "")),
            401,
            "token_alg_none",
        ),
        case(
            "alg None",
            bearer(unsigned("None", "")),
            401,
            "token_alg_none",
        ),
        case(
            "alg NONE with a signature",
            bearer(unsigned("NONE", signature)),
            401,
            "token_alg_none",
        ),
        case(
            "alg nOnE",
            bearer(unsigned("nOnE", "")),
            401,
            "token_alg_none",
        ),
        case(
            "alg not a JWS algorithm",
            bearer(unsigned("HS1024", signature)),
            401,
            "token_alg_not_allowed",
        ),
        // HS/RS confusion: the RSA issuer's public key used as an HMAC secret.
        case(
            "HS256 signed with the RSA public key, kid rsa",
            bearer(signed(
                &header_hs_kid("rsa"),
                &rsa_claims(),
                &hmac(rsa_public.as_bytes()),
                Algorithm::HS256,
            )),
            401,
            "token_alg_not_allowed",
        ),
        case(
            "HS256 signed with the RSA public key, no kid",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                &rsa_claims(),
                &hmac(rsa_public.as_bytes()),
                Algorithm::HS256,
            )),
            401,
            "token_alg_not_allowed",
        ),
        case(
            "RS256 for the HMAC issuer",
            bearer(signed(
                r#"{"alg":"RS256"}"#,
                &claims(json!({})),
                &rsa_key("rsa-private.pem"),
                Algorithm::RS256,
            )),
            401,
            "token_alg_not_allowed",
        ),
        // kid injection: a kid naming a file or holding SQL, signed with what that would yield.
        case(
            "kid path to /dev/null, empty secret",
            bearer(signed(
                &header_hs_kid("../../../../../../dev/null"),
                &claims(json!({})),
                &hmac(b""),
                Algorithm::HS256,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "kid /etc/hostname, its content as secret",
            bearer(signed(
                &header_hs_kid("/etc/hostname"),
                &claims(json!({})),
                &hmac(b"localhost\n"),
                Algorithm::HS256,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "kid SQL injection",
            bearer(signed(
                &header_hs_kid("x' UNION SELECT 'secret' --"),
                &claims(json!({})),
                &hmac(b"secret"),
                Algorithm::HS256,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "kid path for the RSA issuer",
            bearer(signed(
                r#"{"alg":"RS256","kid":"../../rsa-public.pem"}"#,
                &rsa_claims(),
                &rsa_key("rsa2-private.pem"),
                Algorithm::RS256,
            )),
            401,
            "token_unknown_kid",
        ),
        case(
            "kid of 4000 characters",
            bearer(signed(
                &header_hs_kid(&"k".repeat(4000)),
                &claims(json!({})),
                &hmac(b"k"),
                Algorithm::HS256,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "kid that is not a string",
            bearer(signed(
                r#"{"alg":"HS256","kid":["rsa"]}"#,
                &claims(json!({})),
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        // Key locations in the header: never fetched, never trusted (the attacker's server
        // must see nothing; `run` checks).
        case(
            "jku to the attacker, attacker's kid",
            bearer(signed(
                &jku,
                &rsa_claims(),
                &rsa_key("rsa2-private.pem"),
                Algorithm::RS256,
            )),
            401,
            "token_unknown_kid",
        ),
        case(
            "x5u to the attacker, the issuer's kid",
            bearer(signed(
                &x5u,
                &rsa_claims(),
                &rsa_key("rsa2-private.pem"),
                Algorithm::RS256,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "embedded jwk and jku",
            bearer(signed(
                &jwk,
                &rsa_claims(),
                &rsa_key("rsa2-private.pem"),
                Algorithm::RS256,
            )),
            401,
            "token_unknown_kid",
        ),
        // Claims.
        case(
            "expired an hour ago",
            bearer(hs(json!({"exp": now() - 3600}))),
            401,
            "token_expired",
        ),
        case(
            "expired beyond the leeway",
            bearer(hs(json!({"exp": now() - 120}))),
            401,
            "token_expired",
        ),
        case(
            "nbf in an hour",
            bearer(hs(json!({"nbf": now() + 3600}))),
            401,
            "token_not_yet_valid",
        ),
        case(
            "iat in an hour",
            bearer(hs(json!({"iat": now() + 3600}))),
            401,
            "token_not_yet_valid",
        ),
        case(
            "unknown iss",
            bearer(hs(json!({"iss": "https://evil.example"}))),
            401,
            "token_unknown_issuer",
        ),
        case(
            "iss with a trailing slash",
            bearer(hs(json!({"iss": format!("{ISSUER}/")}))),
            401,
            "token_unknown_issuer",
        ),
        case(
            "RSA issuer's iss on an HMAC token",
            bearer(hs(json!({"iss": RSA_ISSUER}))),
            401,
            "token_alg_not_allowed",
        ),
        case(
            "wrong aud",
            bearer(hs(json!({"aud": "someone-else"}))),
            401,
            "token_wrong_audience",
        ),
        case(
            "aud list without us",
            bearer(hs(json!({"aud": ["a", "b"]}))),
            401,
            "token_wrong_audience",
        ),
        case(
            "no exp",
            bearer(hs(json!({"exp": null}))),
            401,
            "token_missing_claim",
        ),
        case(
            "no aud",
            bearer(hs(json!({"aud": null}))),
            401,
            "token_missing_claim",
        ),
        case(
            "exp as a string",
            bearer(hs(json!({"exp": (now() + 600).to_string()}))),
            401,
            "token_malformed",
        ),
        // Signatures.
        case(
            "payload swapped under a genuine signature",
            bearer(format!(
                "{head}.{}.{signature}",
                b64(&claims(json!({"sub": "admin"})))
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "signature stripped",
            bearer(format!("{head}.{}.", rest.split_once('.').unwrap().0)),
            401,
            "token_bad_signature",
        ),
        case(
            "signed with another secret",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                &claims(json!({})),
                &hmac(b"guessed-secret-guessed-secret-00"),
                Algorithm::HS256,
            )),
            401,
            "token_bad_signature",
        ),
        // Headers and shape.
        case(
            "crit header",
            bearer(signed(
                r#"{"alg":"HS256","crit":["exp"]}"#,
                &claims(json!({})),
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        case(
            "alg given twice",
            bearer(signed(
                r#"{"alg":"none","alg":"HS256"}"#,
                &claims(json!({})),
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        case(
            "huge token",
            bearer(hs(json!({"pad": "x".repeat(9000)}))),
            401,
            "token_oversized",
        ),
        case(
            "huge Authorization header",
            bearer("a".repeat(64 * 1024)),
            401,
            "token_oversized",
        ),
        case(
            "five parts (JWE shape)",
            bearer(format!("{genuine}.e30.e30")),
            401,
            "token_malformed",
        ),
        case(
            "payload is an array",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                "[1]",
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        case("not a JWT", bearer("not.a.jwt"), 401, "token_malformed"),
        // Duplicated claims: validly signed, yet readers disagree on which value counts.
        case(
            "sub given twice",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                &duplicate_sub,
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        case(
            "exp given twice",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                &duplicate_exp,
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        case(
            "iss given twice",
            bearer(signed(
                r#"{"alg":"HS256"}"#,
                &duplicate_iss,
                &hs_key,
                Algorithm::HS256,
            )),
            401,
            "token_malformed",
        ),
        // Where the token comes from.
        case(
            "no token",
            Send::Get(
                "/getreport?ReportId=10800".into(),
                vec![("authorization", None)],
            ),
            401,
            "token_missing",
        ),
        case(
            "Basic scheme",
            Send::Get(
                "/getreport?ReportId=10800".into(),
                vec![("authorization", Some(format!("Basic {genuine}")))],
            ),
            401,
            "token_malformed",
        ),
        case(
            "empty Bearer",
            Send::Get(
                "/getreport?ReportId=10800".into(),
                vec![("authorization", Some("Bearer ".into()))],
            ),
            401,
            "token_malformed",
        ),
    ]
}
