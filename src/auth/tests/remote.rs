//! Remote key sets over real HTTP: rotation, outages, the refetch throttle, discovery.

use std::time::{Duration, Instant};

use super::*;
use crate::auth::{AuthError, LastToken, Verifier};

/// A verifier whose issuer's keys are at `url` (`jwks_url` or `discovery_url`).
async fn verifier(key: &str, url: &str, refresh: &str, refetch: &str) -> Verifier {
    let source = format!(
        "{key} = {url:?}\nrefresh_interval = {refresh:?}\nmin_refetch_interval = {refetch:?}\n\
         fetch_timeout = \"1s\""
    );
    Verifier::new(&issuer_config(&["RS256", "ES256"], &source)).await
}

fn token(signer: Signer, kid: &str) -> String {
    mint_kid(signer, Some(kid), &claims())
}

#[tokio::test]
async fn keys_are_fetched_at_start() {
    let idp = IdP::start(vec![
        jwk("rsa-public.pem", "k1"),
        jwk("ec-public.pem", "e1"),
    ])
    .await;
    let v = verifier("jwks_url", &idp.url("/keys"), "10s", "100ms").await;
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(v.key_status(), [(ISS.to_owned(), true)]);
    assert!(v.verify(&token(Signer::Rsa, "k1")).await.is_ok());
    assert!(v.verify(&token(Signer::Ec, "e1")).await.is_ok());
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn a_new_kid_is_accepted_after_one_refetch() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    let v = verifier("jwks_url", &idp.url("/keys"), "10s", "100ms").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    idp.publish(vec![
        jwk("rsa-public.pem", "k1"),
        jwk("rsa2-public.pem", "k2"),
    ]);
    assert!(v.verify(&token(Signer::Rsa2, "k2")).await.is_ok());
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn a_removed_kid_is_refused_after_the_next_scheduled_refresh() {
    let idp = IdP::start(vec![
        jwk("rsa-public.pem", "k1"),
        jwk("rsa2-public.pem", "k2"),
    ])
    .await;
    let v = verifier("jwks_url", &idp.url("/keys"), "200ms", "1s").await;
    let old = token(Signer::Rsa, "k1");
    assert!(v.verify(&old).await.is_ok());
    // A connection that presented it holds it as its last token.
    let mut last = LastToken::default();
    assert!(v.recall(&mut last, old.as_bytes()).is_some());
    idp.publish(vec![jwk("rsa2-public.pem", "k2")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(idp.jwks_hits() >= 2, "the schedule fetched again");
    // Remembered, held by a connection or neither, a token whose key is gone is refused.
    assert!(v.recall(&mut last, old.as_bytes()).is_none());
    assert!(v.remembered(old.as_bytes()).is_none());
    assert_eq!(v.verify(&old).await.unwrap_err(), AuthError::UnknownKid);
    assert!(v.verify(&token(Signer::Rsa2, "k2")).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_provider_leaves_the_last_good_keys_serving() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    let v = verifier("jwks_url", &idp.url("/keys"), "100ms", "50ms").await;
    idp.set_down(true);
    let hits = idp.jwks_hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(idp.jwks_hits() > hits, "the schedule kept trying");
    assert_eq!(v.key_status(), [(ISS.to_owned(), true)]);
    assert!(v.verify(&token(Signer::Rsa, "k1")).await.is_ok());
    // An unknown kid during the outage is refused, the old keys stay.
    assert_eq!(
        v.verify(&token(Signer::Rsa2, "k2")).await.unwrap_err(),
        AuthError::UnknownKid
    );
    assert!(v
        .verify(&mint_kid(
            Signer::Rsa,
            Some("k1"),
            &claims_with(serde_json::json!({"sub": "b"}))
        ))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_provider_down_at_start_refuses_until_a_fetch_succeeds() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    idp.set_down(true);
    let v = verifier("jwks_url", &idp.url("/keys"), "10s", "100ms").await;
    assert_eq!(v.key_status(), [(ISS.to_owned(), false)]);
    let t = token(Signer::Rsa, "k1");
    assert_eq!(v.verify(&t).await.unwrap_err(), AuthError::KeysUnavailable);
    idp.set_down(false);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        v.verify(&t).await.is_ok(),
        "a request refetches once the throttle allows"
    );
    assert_eq!(v.key_status(), [(ISS.to_owned(), true)]);
}

#[tokio::test]
async fn made_up_kids_refetch_at_most_once_per_interval() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    let v = verifier("jwks_url", &idp.url("/keys"), "10s", "200ms").await;
    let start = Instant::now();
    let before = idp.jwks_hits();
    for i in 0..100 {
        let kid = format!("made-up-{i}-{}", rand::random::<u64>());
        assert_eq!(
            v.verify(&token(Signer::Rsa, &kid)).await.unwrap_err(),
            AuthError::UnknownKid
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fetched = idp.jwks_hits() - before;
    let allowed = (start.elapsed().as_millis() / 200) as usize + 1;
    assert!(
        fetched >= 1 && fetched <= allowed,
        "{fetched} fetches, {allowed} allowed"
    );
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_refetch() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    let v = verifier("jwks_url", &idp.url("/keys"), "10s", "100ms").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    idp.publish(vec![
        jwk("rsa-public.pem", "k1"),
        jwk("rsa2-public.pem", "k2"),
    ]);
    idp.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let v = v.clone();
            let t = mint_kid(
                Signer::Rsa2,
                Some("k2"),
                &claims_with(serde_json::json!({"n": i})),
            );
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(
        idp.jwks_hits(),
        2,
        "the start, then one refetch for all twenty"
    );
}

#[tokio::test]
async fn discovery_finds_the_key_set() {
    let idp = IdP::start(vec![jwk("ec-public.pem", "e1")]).await;
    let url = idp.url("/.well-known/openid-configuration");
    let v = verifier("discovery_url", &url, "10s", "100ms").await;
    assert!(v.verify(&token(Signer::Ec, "e1")).await.is_ok());
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn discovery_for_another_issuer_is_refused() {
    let idp = IdP::start(vec![jwk("ec-public.pem", "e1")]).await;
    idp.set_discovery_issuer("https://evil.example/");
    let url = idp.url("/.well-known/openid-configuration");
    let v = verifier("discovery_url", &url, "10s", "100ms").await;
    assert_eq!(v.key_status(), [(ISS.to_owned(), false)]);
    assert_eq!(idp.jwks_hits(), 0, "its key set was never fetched");
    assert_eq!(
        v.verify(&token(Signer::Ec, "e1")).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn dropping_the_last_verifier_stops_the_schedule() {
    let idp = IdP::start(vec![jwk("rsa-public.pem", "k1")]).await;
    let v = verifier("jwks_url", &idp.url("/keys"), "100ms", "100ms").await;
    let clone = v.clone();
    drop(v);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(idp.jwks_hits() >= 2, "a clone keeps it running");
    drop(clone);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = idp.jwks_hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(idp.jwks_hits(), hits);
}
