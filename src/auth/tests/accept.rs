//! Tokens that must be accepted, one per algorithm family and key source.

use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use super::*;
use crate::auth::Verifier;

const PEMS: &str = r#"pem_files = [
    { path = "rsa-public.pem", kid = "rsa" },
    { path = "ec-public.pem", kid = "ec" },
    { path = "ed-public.pem", kid = "ed" },
]"#;

async fn pem_verifier() -> Verifier {
    Verifier::new(&issuer_config(&["RS256", "PS384", "ES256", "EdDSA"], PEMS)).await
}

#[tokio::test]
async fn rsa_ec_and_ed25519_tokens_from_pem_files() {
    let verifier = pem_verifier().await;
    for (signer, kid) in [(Signer::Rsa, "rsa"), (Signer::Ec, "ec"), (Signer::Ed, "ed")] {
        let token = mint_kid(signer, Some(kid), &claims());
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.issuer, ISS);
        assert_eq!(identity.subject, "svc-reports");
        assert_eq!(identity.claim("org"), Some(&json!("example-org")));
        assert_eq!(
            identity.expires_at,
            claims()["exp"].as_f64().unwrap() as u64
        );
    }
    assert_eq!(verifier.key_status(), [(ISS.to_owned(), true)]);
}

#[tokio::test]
async fn pss_and_tokens_without_kid() {
    let verifier = pem_verifier().await;
    let mut header = Header::new(Algorithm::PS384);
    header.kid = Some("rsa".into());
    assert!(verifier
        .verify(&mint_header(&header, Signer::Rsa, &claims()))
        .await
        .is_ok());
    // Without a kid, every key of the algorithm's kind is tried.
    assert!(verifier.verify(&mint(Signer::Ec, &claims())).await.is_ok());
}

#[tokio::test]
async fn hmac_tokens_from_a_secret_file() {
    let verifier = Verifier::new(&issuer_config(
        &["HS256", "HS512"],
        r#"hmac_secret = { file = "hmac-secret" }"#,
    ))
    .await;
    assert!(verifier
        .verify(&mint(Signer::Hmac, &claims()))
        .await
        .is_ok());
    let header = Header::new(Algorithm::HS512);
    assert!(verifier
        .verify(&mint_header(&header, Signer::Hmac, &claims()))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_jwks_file_any_accepted_audience_and_several_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = json!({"keys": [jwk("rsa2-public.pem", "k2")]});
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let text = format!(
        "[auth]\n{}{}",
        issuer_toml(
            "https://other.example/",
            &["RS256"],
            &format!("jwks_file = {:?}", dir.path().join("jwks.json"))
        ),
        issuer_toml(
            ISS,
            &["ES256"],
            r#"pem_files = [{ path = "ec-public.pem" }]"#
        ),
    );
    let verifier = Verifier::new(&config(&text)).await;
    let other = claims_with(json!({"iss": "https://other.example/", "aud": ["x", "reports"]}));
    let identity = verifier
        .verify(&mint_kid(Signer::Rsa2, Some("k2"), &other))
        .await
        .unwrap();
    assert_eq!(identity.issuer, "https://other.example/");
    assert!(verifier.verify(&mint(Signer::Ec, &claims())).await.is_ok());
    // Each issuer's keys are its own.
    let crossed = claims_with(json!({"iss": "https://other.example/"}));
    assert!(verifier
        .verify(&mint_kid(Signer::Rsa, Some("k2"), &crossed))
        .await
        .is_err());
}

#[tokio::test]
async fn leeway_covers_small_clock_differences() {
    let verifier = pem_verifier().await;
    let now = now().floor();
    let skewed = claims_with(json!({"exp": now - 30.0, "nbf": now + 30.0, "iat": now + 30.0}));
    assert!(verifier
        .verify(&mint_kid(Signer::Rsa, Some("rsa"), &skewed))
        .await
        .is_ok());
}
