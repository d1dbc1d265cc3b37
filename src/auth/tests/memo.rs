//! The memo of verified tokens: no signature work on a repeat, and never past `exp`.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::auth::{AuthError, LastToken, Verifier};

async fn verifier(extra: &str) -> Verifier {
    let text = format!(
        "[auth]\nleeway = \"0s\"\n{extra}\n{}",
        issuer_toml(
            ISS,
            &["RS256"],
            r#"pem_files = [{ path = "rsa-public.pem", kid = "rsa" }]"#
        )
    );
    Verifier::new(&config(&text)).await
}

/// A valid token that expires 0.4 s from now (the tests then wait 0.5 s).
fn short_lived() -> String {
    mint_kid(
        Signer::Rsa,
        Some("rsa"),
        &claims_with(json!({"exp": now() + 0.4})),
    )
}

#[tokio::test]
async fn a_second_verification_does_no_signature_work() {
    let verifier = verifier("").await;
    let token = mint_kid(Signer::Rsa, Some("rsa"), &claims());
    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 1);
    for _ in 0..5 {
        let again = verifier.verify(&token).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }
    assert_eq!(verifier.signature_checks(), 1);
    // A different token is verified in full.
    verifier
        .verify(&mint_kid(
            Signer::Rsa,
            Some("rsa"),
            &claims_with(json!({"sub": "x"})),
        ))
        .await
        .unwrap();
    assert_eq!(verifier.signature_checks(), 2);
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_expired() {
    let verifier = verifier("").await;
    let token = short_lived();
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 1, "remembered");
    assert!(verifier.remembered(token.as_bytes()).is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The auth layer's synchronous lookup refuses it too (and `verify` then says why).
    assert!(verifier.remembered(token.as_bytes()).is_none());
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        AuthError::Expired
    );
}

#[tokio::test]
async fn only_the_very_token_that_was_verified_is_remembered() {
    let verifier = verifier("").await;
    let token = mint_kid(Signer::Rsa, Some("rsa"), &claims());
    verifier.verify(&token).await.unwrap();
    assert!(verifier.remembered(token.as_bytes()).is_some());
    // The same bytes but the last (in the signature), one fewer, one more.
    let mut altered = token.clone().into_bytes();
    let last = altered.last_mut().unwrap();
    *last = if *last == b'A' { b'B' } else { b'A' };
    let others = [
        altered,
        token.as_bytes()[..token.len() - 1].to_vec(),
        format!("{token}A").into_bytes(),
    ];
    for other in others {
        assert!(verifier.remembered(&other).is_none());
        let other = String::from_utf8(other).unwrap();
        assert!(
            verifier.verify(&other).await.is_err(),
            "a token sharing all but its end with a remembered one was accepted"
        );
        assert!(verifier.remembered(other.as_bytes()).is_none());
    }
    // And a token of another caller, verified in full.
    let other = mint_kid(Signer::Rsa, Some("rsa"), &claims_with(json!({"sub": "x"})));
    assert!(verifier.remembered(other.as_bytes()).is_none());
    assert_eq!(verifier.verify(&other).await.unwrap().subject, "x");
}

#[tokio::test]
async fn failures_are_not_remembered_and_the_memo_can_be_off() {
    let verifier = verifier("remember = 0").await;
    let token = mint_kid(Signer::Rsa, Some("rsa"), &claims());
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(verifier.signature_checks(), 3);
    let on = self::verifier("").await;
    let forged = mint_kid(Signer::Rsa2, Some("rsa"), &claims());
    for _ in 0..3 {
        assert_eq!(
            on.verify(&forged).await.unwrap_err(),
            AuthError::BadSignature
        );
    }
    assert_eq!(on.signature_checks(), 3);
}

/// Found by the `jwt_header` fuzz target: a validly signed token with an `exp` beyond what
/// `SystemTime` can hold (1.65e19 s, u64::MAX) panicked when the memo computed its expiry.
#[tokio::test]
async fn an_exp_past_the_end_of_time_is_verified_not_remembered() {
    let verifier = verifier("").await;
    for exp in [json!(1.65e19), json!(u64::MAX)] {
        let token = mint_kid(
            Signer::Rsa,
            Some("rsa"),
            &claims_with(json!({ "exp": exp })),
        );
        let before = verifier.signature_checks();
        for _ in 0..2 {
            verifier.verify(&token).await.unwrap();
        }
        assert_eq!(verifier.signature_checks(), before + 2, "not remembered");
    }
}

/// A connection's last token (`Verifier::recall`) is held to the same rules as the memo: the
/// very bytes, never past `exp`, and another token on the same connection is its own.
#[tokio::test]
async fn a_connections_last_token_is_only_ever_that_token_and_only_until_exp() {
    let verifier = verifier("").await;
    let short = short_lived();
    let other = mint_kid(Signer::Rsa, Some("rsa"), &claims_with(json!({"sub": "x"})));
    let mut last = LastToken::default();
    // Not verified yet: nothing to recall, on the connection or in the memo.
    assert!(verifier.recall(&mut last, short.as_bytes()).is_none());
    let verified = verifier.verify(&short).await.unwrap();
    let recalled = verifier.recall(&mut last, short.as_bytes()).unwrap();
    assert!(Arc::ptr_eq(&verified, &recalled));
    assert_eq!(
        format!("{last:?}"),
        "LastToken(held)",
        "kept for the connection"
    );
    // Another caller's token on the same connection is not taken for the last one; once
    // verified, it is recalled as itself.
    assert!(verifier.recall(&mut last, other.as_bytes()).is_none());
    verifier.verify(&other).await.unwrap();
    assert_eq!(
        verifier
            .recall(&mut last, other.as_bytes())
            .unwrap()
            .subject,
        "x"
    );
    // The same bytes but one at the end: neither the last token nor a remembered one.
    let altered = format!("{other}A");
    assert!(verifier.recall(&mut last, altered.as_bytes()).is_none());
    // Back to the short-lived token, held as the last one, until its `exp`.
    assert!(verifier.recall(&mut last, short.as_bytes()).is_some());
    assert!(verifier.recall(&mut last, short.as_bytes()).is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(verifier.recall(&mut last, short.as_bytes()).is_none());
    assert!(verifier.remembered(short.as_bytes()).is_none(), "forgotten");
    assert_eq!(format!("{last:?}"), "LastToken(none)");
    assert_eq!(verifier.signature_checks(), 2);
}
