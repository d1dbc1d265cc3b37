//! `Verifier`: a bearer token in, an `Identity` or the reason for refusal out.
//!
//! In order: size; the memo; the token's shape, `alg` and `iss` (unverified, only to choose
//! the issuer and its keys); the issuer's algorithm allow-list; the signature, with a key of the
//! algorithm's own kind; then the claims (`exp`, `nbf`, `iat`, `aud`). Claims are judged only
//! after the signature, so a forged token learns nothing about them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::{AuthConfig, KeySource};
use super::keys::{Fingerprint, KeySet};
use super::memo::{LastToken, Memo, Remembered};
use super::remote::{AbortOnDrop, Remote};
use super::token::{self, Token};
use super::{AuthError, Identity};

/// Verifies bearer tokens against the configured issuers. Cheap to clone; the background key
/// refreshes stop when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<Issuer>,
    by_name: HashMap<String, usize>,
    max_token_bytes: usize,
    leeway: f64,
    memo: Memo,
    signature_checks: AtomicU64,
    _schedules: Vec<AbortOnDrop>,
}

struct Issuer {
    name: String,
    audiences: Vec<String>,
    algorithms: Vec<jsonwebtoken::Algorithm>,
    keys: Keys,
}

enum Keys {
    Static(Arc<KeySet>),
    Remote(Arc<Remote>),
}

impl Keys {
    fn current(&self) -> Option<Arc<KeySet>> {
        match self {
            Keys::Static(set) => Some(set.clone()),
            Keys::Remote(remote) => remote.keys(),
        }
    }
}

impl Verifier {
    /// Loads local keys, fetches remote key sets once (a failure is logged, not fatal: that
    /// issuer's tokens are refused with `KeysUnavailable` until a fetch succeeds), and starts
    /// the refresh schedules.
    pub async fn new(config: &AuthConfig) -> Self {
        let issuers: Vec<Issuer> = (config.issuers.iter())
            .map(|c| Issuer {
                name: c.issuer.clone(),
                audiences: c.audiences.clone(),
                algorithms: c.algorithms.clone(),
                keys: match (&c.keys, Remote::new(c)) {
                    (_, Some(remote)) => Keys::Remote(remote),
                    (KeySource::Static(set), None) => Keys::Static(Arc::new(set.clone())),
                    (_, None) => unreachable!("Remote::new is None for static keys only"),
                },
            })
            .collect();
        let remotes: Vec<&Arc<Remote>> = (issuers.iter())
            .filter_map(|i| match &i.keys {
                Keys::Remote(r) => Some(r),
                Keys::Static(_) => None,
            })
            .collect();
        futures_util::future::join_all(remotes.iter().map(|r| r.refresh())).await;
        let schedules = remotes.iter().map(|r| r.spawn_schedule()).collect();
        let by_name = (issuers.iter().enumerate())
            .map(|(i, issuer)| (issuer.name.clone(), i))
            .collect();
        Verifier {
            inner: Arc::new(Inner {
                issuers,
                by_name,
                max_token_bytes: config.max_token_bytes,
                leeway: config.leeway.as_secs_f64(),
                memo: Memo::new(config.remember),
                signature_checks: AtomicU64::new(0),
                _schedules: schedules,
            }),
        }
    }

    /// The identity `token` was verified as, if the memo holds it, it has not expired, and the
    /// key that verified it is still current; `None`: verify it with [`Verifier::verify`].
    /// Synchronous, so the auth layer answers a remembered caller without a future of its own.
    pub fn remembered(&self, token: &[u8]) -> Option<Arc<Identity>> {
        self.recall(&mut LastToken::default(), token)
    }

    /// As [`Verifier::remembered`], trying `last` (the connection's last token) first.
    pub fn recall(&self, last: &mut LastToken, token: &[u8]) -> Option<Arc<Identity>> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes || !inner.memo.is_on() {
            return None;
        }
        let found = inner.memo.get_via(last, token, SystemTime::now())?;
        let keys = inner.issuers[found.issuer].keys.current();
        if keys.is_some_and(|k| k.contains(&found.key)) {
            return Some(Arc::clone(&found.identity));
        }
        // Its key was rotated out: verify afresh (and most likely refuse).
        *last = LastToken::default();
        inner.memo.forget(token);
        None
    }

    /// Verifies a bearer token string.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(AuthError::Oversized {
                limit: inner.max_token_bytes,
            });
        }
        if let Some(identity) = self.remembered(token.as_bytes()) {
            return Ok(identity);
        }
        let raw = token;
        let token = token::parse(token)?;
        let iss = token::string(&token.claims, "iss")?.ok_or(AuthError::MissingClaim("iss"))?;
        let index = *inner.by_name.get(iss).ok_or(AuthError::UnknownIssuer)?;
        let issuer = &inner.issuers[index];
        if !issuer.algorithms.contains(&token.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let key = self.check_signature(issuer, &token).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let exp = token::check_times(&token.claims, now.as_secs_f64(), inner.leeway)?;
        token::check_audience(&token.claims, &issuer.audiences)?;
        let subject = token::string(&token.claims, "sub")?
            .unwrap_or_default()
            .to_owned();
        let identity = Arc::new(Identity {
            issuer: issuer.name.clone(),
            subject,
            claims: token.claims,
            expires_at: exp.max(0.0) as u64,
        });
        // An `exp` past the last time `SystemTime` holds (a signed token may say 1e19) would
        // overflow: such a token is verified, just not remembered.
        let expires = Duration::try_from_secs_f64(exp)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d));
        if let Some(expires) = expires {
            inner.memo.insert(
                raw.as_bytes(),
                Remembered {
                    identity: identity.clone(),
                    issuer: index,
                    key,
                    expires,
                },
            );
        }
        Ok(identity)
    }

    /// Finds the keys the token may be signed with and checks the signature; an unknown kid
    /// (or no keys yet) asks a remote issuer for its current keys once, throttled.
    async fn check_signature(
        &self,
        issuer: &Issuer,
        token: &Token<'_>,
    ) -> Result<Fingerprint, AuthError> {
        let mut refetched = false;
        loop {
            let keys = issuer.keys.current();
            let candidates = match &keys {
                Some(set) => set.candidates(token.kid.as_deref(), token.alg),
                None => Err(AuthError::KeysUnavailable),
            };
            match (candidates, &issuer.keys) {
                (Ok(candidates), _) => {
                    for key in candidates {
                        self.inner.signature_checks.fetch_add(1, Ordering::Relaxed);
                        let input = token.signing_input.as_bytes();
                        if key.verify(token.alg, input, token.signature) {
                            return Ok(*key.fingerprint());
                        }
                    }
                    return Err(AuthError::BadSignature);
                }
                (Err(AuthError::UnknownKid | AuthError::KeysUnavailable), Keys::Remote(remote))
                    if !refetched =>
                {
                    remote.refetch().await;
                    refetched = true;
                }
                (Err(e), _) => return Err(e),
            }
        }
    }

    /// For readiness: per issuer, whether keys are loaded.
    pub fn key_status(&self) -> Vec<(String, bool)> {
        (self.inner.issuers.iter())
            .map(|i| {
                let loaded = i.keys.current().is_some_and(|k| !k.is_empty());
                (i.name.clone(), loaded)
            })
            .collect()
    }

    /// How many signature verifications have been made (memo hits make none): for metrics,
    /// and for tests that the memo works.
    pub fn signature_checks(&self) -> u64 {
        self.inner.signature_checks.load(Ordering::Relaxed)
    }

    /// How many key-set fetches have started, per issuer with remote keys.
    pub fn key_fetches(&self) -> Vec<(String, u64)> {
        (self.inner.issuers.iter())
            .filter_map(|i| match &i.keys {
                Keys::Remote(r) => Some((i.name.clone(), r.fetches())),
                Keys::Static(_) => None,
            })
            .collect()
    }
}

/// Issuers, their key counts and the memo; never key material.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<_> = (self.inner.issuers.iter())
            .map(|i| (&i.name, i.keys.current().map(|k| k.len())))
            .collect();
        f.debug_struct("Verifier")
            .field("issuers", &issuers)
            .field("memo", &self.inner.memo)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_can_be_shared_by_every_connection() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        shared::<Verifier>();
    }

    #[tokio::test]
    async fn debug_shows_issuers_not_keys() {
        let config = crate::auth::tests::issuer_config(
            &["HS256"],
            r#"hmac_secret = { file = "hmac-secret" }"#,
        );
        let debug = format!("{:?}", Verifier::new(&config).await);
        assert!(debug.contains("login.example.org") && !debug.contains("casegate-test-hmac"));
    }
}
