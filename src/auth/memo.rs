//! Verified tokens, remembered so that a caller who sends the same token on every request pays
//! for the signature check once.
//!
//! Keyed by the token's SHA-256 (the token itself is never kept), bounded in number, and never
//! past the token's `exp`: an entry expires with its token, and a lookup checks the time again
//! rather than trusting the cache's housekeeping to have run.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;

use super::keys::Fingerprint;
use super::Identity;

/// A token's SHA-256.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash(token: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut hash = [0; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

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

/// The bounded memo; capacity 0 turns it off.
pub(crate) struct Memo {
    cache: Option<Cache<TokenHash, Arc<Remembered>>>,
}

impl Memo {
    pub(crate) fn new(capacity: u64) -> Memo {
        let cache = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp)
                .build()
        });
        Memo { cache }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.cache.is_some()
    }

    /// The remembered token, if it has not expired.
    pub(crate) fn get(&self, hash: &TokenHash) -> Option<Arc<Remembered>> {
        let cache = self.cache.as_ref()?;
        let found = cache.get(hash)?;
        if SystemTime::now() < found.expires {
            Some(found)
        } else {
            cache.invalidate(hash);
            None
        }
    }

    /// Remembers a verified token until its `exp` (not at all if that has passed: a token
    /// accepted within the leeway is verified each time).
    pub(crate) fn insert(&self, hash: TokenHash, remembered: Remembered) {
        if let Some(cache) = &self.cache {
            if SystemTime::now() < remembered.expires {
                cache.insert(hash, Arc::new(remembered));
            }
        }
    }

    pub(crate) fn forget(&self, hash: &TokenHash) {
        if let Some(cache) = &self.cache {
            cache.invalidate(hash);
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

impl Expiry<TokenHash, Arc<Remembered>> for UntilExp {
    fn expire_after_create(
        &self,
        _: &TokenHash,
        value: &Arc<Remembered>,
        _: Instant,
    ) -> Option<Duration> {
        Some(
            value
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

    #[test]
    fn entries_end_at_exp() {
        let memo = Memo::new(10);
        let now = SystemTime::now();
        memo.insert(hash("a"), remembered(now + Duration::from_millis(50)));
        memo.insert(hash("b"), remembered(now - Duration::from_secs(1)));
        assert!(memo.get(&hash("a")).is_some());
        assert!(
            memo.get(&hash("b")).is_none(),
            "an expired token is not remembered"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(memo.get(&hash("a")).is_none());
    }

    #[test]
    fn bounded_and_switchable() {
        let memo = Memo::new(2);
        let later = SystemTime::now() + Duration::from_secs(60);
        for t in ["a", "b", "c", "d", "e"] {
            memo.insert(hash(t), remembered(later));
        }
        let cache = memo.cache.as_ref().unwrap();
        cache.run_pending_tasks();
        assert!(cache.entry_count() <= 2);
        let off = Memo::new(0);
        off.insert(hash("a"), remembered(later));
        assert!(!off.is_on() && off.get(&hash("a")).is_none());
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hash("abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "FIPS 180-2 test vector"
        );
    }
}
