//! A JWK Set (RFC 7517 §5): the signature keys in it, each checked on its own, so one key of a
//! kind we do not use (an encryption key, P-521, ...) does not make the whole set unusable.
//!
//! Symmetric (`oct`) keys are never taken from a JWKS: HMAC secrets come from `hmac_secret`.

use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::{der, Key, KeyKind, KeySet};

/// The usable signature keys of a JWKS document, and why each other key was skipped.
pub(crate) fn parse_jwks(bytes: &[u8]) -> Result<(KeySet, Vec<String>), String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|_| "not JSON".to_owned())?;
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err("not a JWK Set: no \"keys\" array".to_owned());
    };
    let mut set = KeySet::default();
    let mut skipped = Vec::new();
    for (i, value) in keys.iter().enumerate() {
        let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
        match key(value) {
            Ok(key) => set.insert(kid, key),
            Err(why) => skipped.push(format!("key {} skipped: {why}", name(i, kid.as_deref()))),
        }
    }
    if set.is_empty() {
        let why = if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join("; "))
        };
        return Err(format!("no usable signature key{why}"));
    }
    Ok((set, skipped))
}

/// `#3 "kid"`, with the kid cut short and stripped of anything odd: it is the provider's text.
fn name(index: usize, kid: Option<&str>) -> String {
    match kid {
        Some(kid) => {
            let clean: String = kid
                .chars()
                .take(64)
                .map(|c| if c.is_ascii_graphic() { c } else { '?' })
                .collect();
            format!("#{index} (kid {clean})")
        }
        None => format!("#{index}"),
    }
}

fn key(value: &Value) -> Result<Key, &'static str> {
    if value.get("kid").is_some_and(|k| !k.is_string()) {
        return Err("kid is not a string");
    }
    match value.get("use") {
        None => {}
        Some(u) if u == "sig" => {}
        Some(_) => return Err("not a signature key (use)"),
    }
    if let Some(ops) = value.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verify {
            return Err("not a verification key (key_ops)");
        }
    }
    if value.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err("symmetric keys are never taken from a JWKS");
    }
    let jwk: Jwk = serde_json::from_value(value.clone())
        .map_err(|_| "unsupported or incomplete key (kty, crv, alg or parameters)")?;
    let alg = match &jwk.common.key_algorithm {
        Some(a) => Some(
            Algorithm::from_str(&a.to_string()).map_err(|_| "alg is not a signature algorithm")?,
        ),
        None => None,
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let n = base64url(&p.n)?;
            der::rsa_bits(&n).map_err(|_| "RSA modulus outside 2048 to 8192 bits")?;
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let (kind, len) = match p.curve {
                EllipticCurve::P256 => (KeyKind::EcP256, 32),
                EllipticCurve::P384 => (KeyKind::EcP384, 48),
                _ => return Err("EC curve other than P-256 or P-384"),
            };
            if base64url(&p.x)?.len() != len || base64url(&p.y)?.len() != len {
                return Err("EC coordinates of the wrong length");
            }
            kind
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 || base64url(&p.x)?.len() != 32 {
                return Err("OKP key that is not Ed25519");
            }
            KeyKind::Ed25519
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric keys are never taken from a JWKS")
        }
    };
    if alg.is_some_and(|a| KeyKind::of(a) != kind) {
        return Err("alg does not match the key type");
    }
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| "invalid key parameters")?;
    let material = serde_json::to_vec(&jwk.algorithm).map_err(|_| "invalid key parameters")?;
    Ok(Key::new(kind, alg, decoding, &material))
}

fn base64url(s: &str) -> Result<Vec<u8>, &'static str> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "a parameter is not base64url")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::jwk;
    use super::*;

    #[test]
    fn usable_keys_are_kept_and_the_rest_explained() {
        let doc = json!({"keys": [
            jwk("rsa-public.pem", "r1"),
            jwk("ec-public.pem", "e1"),
            jwk("ed-public.pem", "d1"),
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "bad-alg", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        ]});
        let (set, skipped) = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(skipped.len(), 5, "{skipped:?}");
        assert!(skipped[0].contains("kid h") && skipped[0].contains("symmetric"));
    }

    #[test]
    fn a_jwk_alg_pins_the_key_to_that_algorithm() {
        let mut k = jwk("rsa-public.pem", "r1");
        k["alg"] = "PS256".into();
        let (set, _) = parse_jwks(json!({"keys": [k]}).to_string().as_bytes()).unwrap();
        assert!(set.candidates(Some("r1"), Algorithm::PS256).is_ok());
        assert!(set.candidates(Some("r1"), Algorithm::RS256).is_err());
        let mut mismatched = jwk("ec-public.pem", "e1");
        mismatched["alg"] = "RS256".into();
        assert!(
            parse_jwks(json!({"keys": [mismatched]}).to_string().as_bytes())
                .unwrap_err()
                .contains("alg does not match")
        );
    }

    #[test]
    fn documents_without_usable_keys_are_errors() {
        assert!(parse_jwks(b"nope").unwrap_err().contains("JSON"));
        assert!(parse_jwks(b"{}").unwrap_err().contains("keys"));
        assert!(parse_jwks(br#"{"keys": []}"#)
            .unwrap_err()
            .contains("no usable"));
        assert!(parse_jwks(br#"{"keys": [{"kty": "oct", "k": "AA"}]}"#)
            .unwrap_err()
            .contains("symmetric"));
    }
}
