//! Every way a token is refused, each its own test, against real keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::auth::{bearer, AuthError, Verifier};

async fn verifier() -> Verifier {
    Verifier::new(&issuer_config(
        &["RS256", "ES256"],
        r#"pem_files = [{ path = "rsa-public.pem", kid = "rsa" }, { path = "ec-public.pem", kid = "ec" }]"#,
    ))
    .await
}

async fn refused(token: &str) -> AuthError {
    verifier().await.verify(token).await.unwrap_err()
}

fn rsa(claims: &serde_json::Value) -> String {
    mint_kid(Signer::Rsa, Some("rsa"), claims)
}

fn headers(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn missing() {
    assert_eq!(bearer(&HeaderMap::new()), Err(AuthError::Missing));
}

#[test]
fn two_authorization_headers() {
    let token = rsa(&claims());
    let h = headers(&[&format!("Bearer {token}"), &format!("Bearer {token}")]);
    assert!(matches!(bearer(&h), Err(AuthError::Malformed(_))));
}

#[test]
fn non_bearer_scheme() {
    assert!(matches!(
        bearer(&headers(&["Basic dXNlcjpwYXNz"])),
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test]
async fn malformed_token() {
    for token in [
        "abc",
        "a.b.c",
        "a.b.c.d.e",
        "..",
        &format!("{}.", rsa(&claims())),
    ] {
        assert!(
            matches!(refused(token).await, AuthError::Malformed(_)),
            "{token}"
        );
    }
}

#[tokio::test]
async fn bad_signature() {
    // Signed by another RSA key under the configured kid.
    assert_eq!(
        refused(&mint_kid(Signer::Rsa2, Some("rsa"), &claims())).await,
        AuthError::BadSignature
    );
    // A genuine token whose payload was changed.
    let token = rsa(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims_with(json!({"sub": "admin"})).to_string());
    parts[1] = &forged;
    assert_eq!(refused(&parts.join(".")).await, AuthError::BadSignature);
}

#[tokio::test]
async fn alg_none() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    assert_eq!(
        refused(&format!("{header}.{payload}.")).await,
        AuthError::NoneAlgorithm
    );
}

#[tokio::test]
async fn algorithm_not_allowed_for_the_issuer() {
    assert_eq!(
        refused(&mint(Signer::Ed, &claims())).await,
        AuthError::AlgorithmNotAllowed
    );
    let mut header = Header::new(Algorithm::RS512);
    header.kid = Some("rsa".into());
    let token = mint_header(&header, Signer::Rsa, &claims());
    assert_eq!(refused(&token).await, AuthError::AlgorithmNotAllowed);
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_as_secret() {
    for secret in [
        fixture("rsa-public.pem"),
        crate::auth::keys::parse_public_pem(&fixture("rsa-public.pem"))
            .unwrap()
            .2,
    ] {
        for kid in [Some("rsa"), None] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            let token =
                jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret))
                    .unwrap();
            assert_eq!(refused(&token).await, AuthError::AlgorithmNotAllowed);
        }
    }
}

#[tokio::test]
async fn a_key_is_used_only_with_its_own_algorithm_family() {
    // ES256 is allowed for the issuer, but kid "rsa" names an RSA key: not loaded for ES256.
    let token = mint_kid(Signer::Ec, Some("rsa"), &claims());
    assert_eq!(refused(&token).await, AuthError::AlgorithmNotAllowed);
}

#[tokio::test]
async fn expired() {
    let token = rsa(&claims_with(json!({"exp": now().floor() - 61.0})));
    assert_eq!(refused(&token).await, AuthError::Expired);
}

#[tokio::test]
async fn not_yet_valid() {
    let token = rsa(&claims_with(json!({"nbf": now().floor() + 120.0})));
    assert_eq!(refused(&token).await, AuthError::NotYetValid);
}

#[tokio::test]
async fn issued_in_the_future() {
    let token = rsa(&claims_with(json!({"iat": now().floor() + 120.0})));
    assert_eq!(refused(&token).await, AuthError::NotYetValid);
}

#[tokio::test]
async fn wrong_issuer() {
    let token = rsa(&claims_with(json!({"iss": "https://login.example.org"})));
    assert_eq!(refused(&token).await, AuthError::UnknownIssuer);
}

#[tokio::test]
async fn wrong_audience() {
    for aud in [json!("other"), json!(["other", "more"]), json!([])] {
        let token = rsa(&claims_with(json!({ "aud": aud })));
        assert_eq!(refused(&token).await, AuthError::WrongAudience);
    }
}

#[tokio::test]
async fn missing_required_claims() {
    for claim in ["iss", "aud", "exp"] {
        let mut removed = serde_json::Map::new();
        removed.insert(claim.to_owned(), serde_json::Value::Null);
        let token = rsa(&claims_with(removed.into()));
        assert_eq!(refused(&token).await, AuthError::MissingClaim(claim));
    }
}

#[tokio::test]
async fn unknown_kid() {
    let token = mint_kid(Signer::Rsa, Some("made-up"), &claims());
    assert_eq!(refused(&token).await, AuthError::UnknownKid);
}

#[tokio::test]
async fn oversized() {
    let big = claims_with(json!({"padding": "x".repeat(9000)}));
    assert_eq!(
        refused(&rsa(&big)).await,
        AuthError::Oversized { limit: 8192 }
    );
}

#[tokio::test]
async fn crit_header() {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa".into());
    let mut h = serde_json::to_value(&header).unwrap();
    h["crit"] = json!(["exp"]);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &Signer::Rsa.key(), Algorithm::RS256).unwrap();
    assert!(matches!(
        refused(&format!("{input}.{sig}")).await,
        AuthError::Malformed(_)
    ));
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_never_fetched_or_trusted() {
    let idp = IdP::start(vec![jwk("rsa2-public.pem", "attacker")]).await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("attacker".into());
    header.jku = Some(idp.url("/jku"));
    header.x5u = Some(idp.url("/x5u"));
    header.jwk = Some(serde_json::from_value(jwk("rsa2-public.pem", "attacker")).unwrap());
    let token = mint_header(&header, Signer::Rsa2, &claims());
    assert_eq!(refused(&token).await, AuthError::UnknownKid);
    header.kid = Some("rsa".into());
    let token = mint_header(&header, Signer::Rsa2, &claims());
    assert_eq!(refused(&token).await, AuthError::BadSignature);
    assert_eq!(idp.other_hits() + idp.jwks_hits(), 0, "nothing was fetched");
}
