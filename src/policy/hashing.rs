//! Keyed pseudonyms for hashed columns: HMAC-SHA256 under the policy's one key, in hex.
//!
//! One key for the whole policy, so one value gets the same pseudonym in every report and for
//! every caller: hashed columns still join and count, and nobody without the key can recompute
//! them from a guessed name or email address (as they could a plain SHA-256).

use std::fmt;

use ring::hmac;

/// The shortest key accepted: SHA-256's output size; shorter keys weaken the HMAC.
pub(crate) const MIN_KEY_BYTES: usize = 32;
/// Pseudonym lengths accepted, in hex characters, and the default.
pub(crate) const LENGTHS: std::ops::RangeInclusive<usize> = 8..=64;
pub(crate) const DEFAULT_LENGTH: usize = 16;

/// The policy's hashing key and pseudonym length. `Debug` never shows the key.
pub struct HashKey {
    key: hmac::Key,
    length: usize,
}

impl HashKey {
    /// `secret` as a key; `length` must be in [`LENGTHS`] and the secret at least
    /// [`MIN_KEY_BYTES`] long (validation checks both first).
    pub(crate) fn new(secret: &[u8], length: usize) -> HashKey {
        HashKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            length,
        }
    }

    /// HMAC(key, `label`): tells two keys apart without telling anything about either.
    pub(crate) fn tag(&self, label: &[u8]) -> hmac::Tag {
        hmac::sign(&self.key, label)
    }

    /// The pseudonym's length in hex characters.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The pseudonym of `value`: the first [`length`](Self::length) lowercase hex characters of
    /// HMAC-SHA256(key, UTF-8 bytes of `value`).
    pub fn pseudonym(&self, value: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = hmac::sign(&self.key, value.as_bytes());
        let mut out = String::with_capacity(self.length + 1);
        for b in tag.as_ref() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out.truncate(self.length);
        out
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("key", &"[REDACTED]")
            .field("algorithm", &"HMAC-SHA256")
            .field("length", &self.length)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2_and_lengths() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = HashKey::new(b"Jefe", 64);
        assert_eq!(
            key.pseudonym("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let short = HashKey::new(b"Jefe", 9);
        assert_eq!(short.pseudonym("what do ya want for nothing?"), "5bdcc146b");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = HashKey::new(b"a-very-secret-key-of-32-bytes-ok", 16);
        let shown = format!("{key:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }
}
