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

/// HS256 under `header`, with `secret`.
fn hs_as(header: &str, payload: &str, secret: &[u8]) -> String {
    signed(header, payload, &hmac(secret), Algorithm::HS256)
}

/// HS256 with the header `{"alg":"HS256"}`.
fn hs_plain(payload: &str, secret: &[u8]) -> String {
    hs_as(r#"{"alg":"HS256"}"#, payload, secret)
}

/// RS256 under `header`, with the fixture private key `key`.
fn rs_as(header: &str, payload: &str, key: &str) -> String {
    signed(header, payload, &rsa_key(key), Algorithm::RS256)
}

/// A row refused with 401 and `code`.
fn refused(name: &'static str, token: impl Into<String>, code: &'static str) -> Case {
    case(name, bearer(token), 401, code)
}

fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture(name).as_bytes()).unwrap()
}

/// Valid claims of the HS256 issuer for the test caller, with `changes` (null removes).
fn claims(changes: Value) -> String {
    let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "test-caller", "iat": now(), "exp": now() + 600});
    let Value::Object(changes) = changes else {
        panic!("changes are an object")
    };
    for (k, v) in changes {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(&k);
        } else {
            c[k] = v;
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

#[rustfmt::skip] // a table: one row per line
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
    let ok = claims(json!({}));
    let rsa = rsa_claims();
    let pem = rsa_public.as_bytes();
    vec![
        // alg none, in any spelling, with or without a signature.
        refused("alg none", unsigned("none", ""), "token_alg_none"),
        refused("alg None", unsigned("None", ""), "token_alg_none"),
        refused("alg NONE with a signature", unsigned("NONE", signature), "token_alg_none"),
        refused("alg nOnE", unsigned("nOnE", ""), "token_alg_none"),
        refused("alg not a JWS algorithm", unsigned("HS1024", signature), "token_alg_not_allowed"),
        // HS/RS confusion: the RSA issuer's public key used as an HMAC secret.
        refused("HS256 signed with the RSA public key, kid rsa", hs_as(&header_hs_kid("rsa"), &rsa, pem), "token_alg_not_allowed"),
        refused("HS256 signed with the RSA public key, no kid", hs_plain(&rsa, pem), "token_alg_not_allowed"),
        refused("RS256 for the HMAC issuer", rs_as(r#"{"alg":"RS256"}"#, &ok, "rsa-private.pem"), "token_alg_not_allowed"),
        // kid injection: a kid naming a file or holding SQL, signed with what that would yield.
        refused("kid path to /dev/null, empty secret", hs_as(&header_hs_kid("../../../../../../dev/null"), &ok, b""), "token_bad_signature"),
        refused("kid /etc/hostname, its content as secret", hs_as(&header_hs_kid("/etc/hostname"), &ok, b"localhost\n"), "token_bad_signature"),
        refused("kid SQL injection", hs_as(&header_hs_kid("x' UNION SELECT 'secret' --"), &ok, b"secret"), "token_bad_signature"),
        refused("kid path for the RSA issuer", rs_as(r#"{"alg":"RS256","kid":"../../rsa-public.pem"}"#, &rsa, "rsa2-private.pem"), "token_unknown_kid"),
        refused("kid of 4000 characters", hs_as(&header_hs_kid(&"k".repeat(4000)), &ok, b"k"), "token_bad_signature"),
        refused("kid that is not a string", hs_as(r#"{"alg":"HS256","kid":["rsa"]}"#, &ok, secret), "token_malformed"),
        // Key locations in the header: never fetched, never trusted (the attacker's server
        // must see nothing; `run` checks).
        refused("jku to the attacker, attacker's kid", rs_as(&jku, &rsa, "rsa2-private.pem"), "token_unknown_kid"),
        refused("x5u to the attacker, the issuer's kid", rs_as(&x5u, &rsa, "rsa2-private.pem"), "token_bad_signature"),
        refused("embedded jwk and jku", rs_as(&jwk, &rsa, "rsa2-private.pem"), "token_unknown_kid"),
        // Claims.
        refused("expired an hour ago", hs(json!({"exp": now() - 3600})), "token_expired"),
        refused("expired beyond the leeway", hs(json!({"exp": now() - 120})), "token_expired"),
        refused("nbf in an hour", hs(json!({"nbf": now() + 3600})), "token_not_yet_valid"),
        refused("iat in an hour", hs(json!({"iat": now() + 3600})), "token_not_yet_valid"),
        refused("unknown iss", hs(json!({"iss": "https://evil.example"})), "token_unknown_issuer"),
        refused("iss with a trailing slash", hs(json!({"iss": format!("{ISSUER}/")})), "token_unknown_issuer"),
        refused("RSA issuer's iss on an HMAC token", hs(json!({"iss": RSA_ISSUER})), "token_alg_not_allowed"),
        refused("wrong aud", hs(json!({"aud": "someone-else"})), "token_wrong_audience"),
        refused("aud list without us", hs(json!({"aud": ["a", "b"]})), "token_wrong_audience"),
        refused("no exp", hs(json!({"exp": null})), "token_missing_claim"),
        refused("no aud", hs(json!({"aud": null})), "token_missing_claim"),
        refused("exp as a string", hs(json!({"exp": (now() + 600).to_string()})), "token_malformed"),
        // Signatures.
        refused("payload swapped under a genuine signature", format!("{head}.{}.{signature}", b64(&claims(json!({"sub": "admin"})))), "token_bad_signature"),
        refused("signature stripped", format!("{head}.{}.", rest.split_once('.').unwrap().0), "token_bad_signature"),
        refused("signed with another secret", hs_plain(&ok, b"guessed-secret-guessed-secret-00"), "token_bad_signature"),
        // Headers and shape.
        refused("crit header", hs_as(r#"{"alg":"HS256","crit":["exp"]}"#, &ok, secret), "token_malformed"),
        refused("alg given twice", hs_as(r#"{"alg":"none","alg":"HS256"}"#, &ok, secret), "token_malformed"),
        refused("huge token", hs(json!({"pad": "x".repeat(9000)})), "token_oversized"),
        refused("huge Authorization header", "a".repeat(64 * 1024), "token_oversized"),
        refused("five parts (JWE shape)", format!("{genuine}.e30.e30"), "token_malformed"),
        refused("payload is an array", hs_plain("[1]", secret), "token_malformed"),
        refused("not a JWT", "not.a.jwt", "token_malformed"),
        // Duplicated claims: validly signed, yet readers disagree on which value counts.
        refused("sub given twice", hs_plain(&duplicate_sub, secret), "token_malformed"),
        refused("exp given twice", hs_plain(&duplicate_exp, secret), "token_malformed"),
        refused("iss given twice", hs_plain(&duplicate_iss, secret), "token_malformed"),
        // Where the token comes from.
        case("no token", Send::Get("/getreport?ReportId=10800".into(), vec![("authorization", None)]), 401, "token_missing"),
        case("Basic scheme", Send::Get("/getreport?ReportId=10800".into(), vec![("authorization", Some(format!("Basic {genuine}")))]), 401, "token_malformed"),
        case("empty Bearer", Send::Get("/getreport?ReportId=10800".into(), vec![("authorization", Some("Bearer ".into()))]), 401, "token_malformed"),
    ]
}
