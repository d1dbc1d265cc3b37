//! Verified tokens, remembered so that a caller who sends the same token on every request pays
//! for the signature check once.
//!
//! Found by a keyed hash of the token (foldhash, seeded at random per memo: a tenth of the cost
//! of the SHA-256 it replaced, and all it must do is spread tokens, since it decides nothing)
//! and accepted only if the remembered token equals the presented one byte for byte: a
//! different token, whatever its hash, is never taken for a remembered one.
//! So the memo keeps the tokens themselves, as secrets (zeroed when an entry goes, never in
//! `Debug`), for no longer than they are valid. Bounded in number, and never past the token's
//! `exp`: an entry expires with its token, and a lookup checks the time again rather than
//! trusting the cache's housekeeping to have run.
//!
//! The comparison is not constant time, and need not be: a presented token is only ever
//! compared with the one remembered under its own keyed hash, so a caller cannot choose which
//! remembered token it is compared with.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use foldhash::quality::RandomState;
use moka::sync::Cache;
use moka::Expiry;
use secrecy::{ExposeSecret, SecretBox};

use super::keys::Fingerprint;
use super::Identity;

/// The keyed hash a token is found by.
type TokenKey = u64;

/// A token that passed every check, and what must still hold to accept it again.
#[derive(Debug)]
pub(crate) struct Remembered {
    pub(crate) identity: Arc<Identity>,
    /// Index of its issuer in the verifier.
    pub(crate) issuer: usize,
    /// The key that verified it: a token whose key was rotated out is verified afresh.
    pub(crate) key: Fingerprint,
    /// The token's `exp`.
    pub(crate) expires: SystemTime,
}

/// A remembered token and what it was verified as.
struct Entry {
    token: SecretBox<[u8]>,
    remembered: Arc<Remembered>,
}

/// The token a connection presented last, as it was found in the memo: a client sends the same
/// token on every request of a connection, and comparing it with this one spares the memo's
/// hashing and lookup. It shares the memo's entry (no other copy of the token is made), is
/// checked for `exp` and its key on every use like any remembered token, and lives no longer
/// than the connection's copy of the stack, or its next different token.
#[derive(Clone, Default)]
pub struct LastToken(Option<Arc<Entry>>);

impl fmt::Debug for LastToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "LastToken(held)"
        } else {
            "LastToken(none)"
        })
    }
}

/// The bounded memo; capacity 0 turns it off.
pub(crate) struct Memo {
    cache: Option<Cache<TokenKey, Arc<Entry>, RandomState>>,
    hasher: RandomState,
}

impl Memo {
    pub(crate) fn new(capacity: u64) -> Memo {
        let cache = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp)
                .build_with_hasher(RandomState::default())
        });
        Memo {
            cache,
            hasher: RandomState::default(),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.cache.is_some()
    }

    fn key(&self, token: &[u8]) -> TokenKey {
        self.hasher.hash_one(token)
    }

    /// The remembered token equal to `token`, if it has not expired at `now`.
    #[cfg(test)]
    pub(crate) fn get(&self, token: &[u8], now: SystemTime) -> Option<Arc<Remembered>> {
        self.get_via(&mut LastToken::default(), token, now)
    }

    /// As [`Memo::get`], trying `last` first: the entry the same connection presented last.
    /// The entry found is left there; an expired one is forgotten in both places.
    pub(crate) fn get_via(
        &self,
        last: &mut LastToken,
        token: &[u8],
        now: SystemTime,
    ) -> Option<Arc<Remembered>> {
        let cache = self.cache.as_ref()?;
        let entry = match last.0.take() {
            Some(entry) if entry.token.expose_secret() == token => entry,
            _ => cache
                .get(&self.key(token))
                .filter(|e| e.token.expose_secret() == token)?,
        };
        if now < entry.remembered.expires {
            let remembered = Arc::clone(&entry.remembered);
            last.0 = Some(entry);
            Some(remembered)
        } else {
            self.forget(token);
            None
        }
    }

    /// Remembers a verified token until its `exp` (not at all if that has passed: a token
    /// accepted within the leeway is verified each time).
    pub(crate) fn insert(&self, token: &[u8], remembered: Remembered) {
        if let Some(cache) = &self.cache {
            if SystemTime::now() < remembered.expires {
                let entry = Entry {
                    token: SecretBox::new(token.into()),
                    remembered: Arc::new(remembered),
                };
                cache.insert(self.key(token), Arc::new(entry));
            }
        }
    }

    /// Forgets `token`. Another token under the same hash stays, unless it replaced `token`
    /// between the check and the removal: it is then verified afresh, which is only slower.
    pub(crate) fn forget(&self, token: &[u8]) {
        if let Some(cache) = &self.cache {
            let key = self.key(token);
            if cache
                .get(&key)
                .is_some_and(|e| e.token.expose_secret() == token)
            {
                cache.invalidate(&key);
            }
        }
    }
}

impl fmt::Debug for Memo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field(
                "capacity",
                &self.cache.as_ref().and_then(|c| c.policy().max_capacity()),
            )
            .field("entries", &self.cache.as_ref().map(Cache::entry_count))
            .finish()
    }
}

/// Each entry lives until its token's `exp`.
struct UntilExp;

impl Expiry<TokenKey, Arc<Entry>> for UntilExp {
    fn expire_after_create(
        &self,
        _: &TokenKey,
        value: &Arc<Entry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(
            value
                .remembered
                .expires
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn remembered(expires: SystemTime) -> Remembered {
        Remembered {
            identity: Arc::new(Identity {
                issuer: "i".into(),
                subject: "s".into(),
                claims: Map::new(),
                expires_at: 0,
            }),
            issuer: 0,
            key: [0; 32],
            expires,
        }
    }

    fn get(memo: &Memo, token: &str) -> Option<Arc<Remembered>> {
        memo.get(token.as_bytes(), SystemTime::now())
    }

    #[test]
    fn entries_end_at_exp() {
        let memo = Memo::new(10);
        let now = SystemTime::now();
        memo.insert(b"a", remembered(now + Duration::from_millis(50)));
        memo.insert(b"b", remembered(now - Duration::from_secs(1)));
        assert!(get(&memo, "a").is_some());
        assert!(
            get(&memo, "b").is_none(),
            "an expired token is not remembered"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(get(&memo, "a").is_none());
    }

    #[test]
    fn a_remembered_token_past_its_exp_is_refused_and_forgotten() {
        let memo = Memo::new(10);
        let exp = SystemTime::now() + Duration::from_secs(3600);
        memo.insert(b"a.b.c", remembered(exp));
        assert!(memo.get(b"a.b.c", exp - Duration::from_secs(1)).is_some());
        // The lookup judges the time it is given, not the store's housekeeping.
        assert!(memo.get(b"a.b.c", exp).is_none());
        assert!(
            memo.get(b"a.b.c", exp - Duration::from_secs(1)).is_none(),
            "the expired entry was removed"
        );
    }

    #[test]
    fn only_the_very_same_token_is_found() {
        let memo = Memo::new(10);
        let later = SystemTime::now() + Duration::from_secs(60);
        memo.insert(b"header.claims.signature", remembered(later));
        assert!(get(&memo, "header.claims.signature").is_some());
        for other in [
            "header.claims.signatur",
            "header.claims.signature=",
            "header.claims.signaturE",
            "Header.claims.signature",
            "",
        ] {
            assert!(
                get(&memo, other).is_none(),
                "{other:?} was taken for the token"
            );
        }
    }

    #[test]
    fn a_different_token_under_the_same_hash_is_not_found() {
        let memo = Memo::new(10);
        let later = SystemTime::now() + Duration::from_secs(60);
        memo.insert(b"token-a", remembered(later));
        // A collision, made by filing token-a's entry under token-b's hash.
        let cache = memo.cache.as_ref().unwrap();
        let entry = cache.get(&memo.key(b"token-a")).unwrap();
        cache.insert(memo.key(b"token-b"), entry);
        assert!(get(&memo, "token-b").is_none());
        assert!(get(&memo, "token-a").is_some());
        // Forgetting token-b leaves the entry it does not own.
        memo.forget(b"token-b");
        assert!(cache.get(&memo.key(b"token-b")).is_some());
        memo.forget(b"token-a");
        assert!(get(&memo, "token-a").is_none());
    }

    #[test]
    fn bounded_and_switchable() {
        let memo = Memo::new(2);
        let later = SystemTime::now() + Duration::from_secs(60);
        for t in ["a", "b", "c", "d", "e"] {
            memo.insert(t.as_bytes(), remembered(later));
        }
        let cache = memo.cache.as_ref().unwrap();
        cache.run_pending_tasks();
        assert!(cache.entry_count() <= 2);
        let off = Memo::new(0);
        off.insert(b"a", remembered(later));
        assert!(!off.is_on() && get(&off, "a").is_none());
    }

    #[test]
    fn debug_never_shows_a_token() {
        let memo = Memo::new(10);
        memo.insert(
            b"secret-token-bytes",
            remembered(SystemTime::now() + Duration::from_secs(60)),
        );
        assert!(!format!("{memo:?}").contains("secret-token-bytes"));
    }
}
