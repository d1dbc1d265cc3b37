//! Key material: public keys from PEM files and JWKS documents, HMAC secrets, each tagged with
//! the kind it was loaded as.
//!
//! A key is only ever used with an algorithm of its own kind (an RSA key with RS*/PS*, a P-256
//! key with ES256, ...): the classic confusion, HS256 "signed" with an RSA public key as the
//! secret, fails because the RSA key is never handed to HMAC.

mod der;
mod jwks;
mod pem;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

pub(crate) use jwks::parse_jwks;
pub(crate) use pem::parse_public_pem;

use super::AuthError;

/// What a key is, fixed when it is loaded; it decides the algorithms the key may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyKind {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    /// The one kind of key an algorithm verifies with.
    pub(crate) fn of(alg: Algorithm) -> KeyKind {
        use Algorithm::*;
        match alg {
            HS256 | HS384 | HS512 => KeyKind::Hmac,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => KeyKind::Rsa,
            ES256 => KeyKind::EcP256,
            ES384 => KeyKind::EcP384,
            EdDSA => KeyKind::Ed25519,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "an HMAC secret",
            KeyKind::Rsa => "an RSA key",
            KeyKind::EcP256 => "an EC P-256 key",
            KeyKind::EcP384 => "an EC P-384 key",
            KeyKind::Ed25519 => "an Ed25519 key",
        }
    }
}

/// A key's identity for the memo: SHA-256 over its kind and material. Never printed.
pub(crate) type Fingerprint = [u8; 32];

/// One verification key.
pub(crate) struct Key {
    kind: KeyKind,
    /// A JWK's own `alg`: when present, the only algorithm the key is used with.
    alg: Option<Algorithm>,
    decoding: DecodingKey,
    fingerprint: Fingerprint,
}

impl Key {
    /// `material` identifies the key (DER, JWK parameters or the secret); it is only hashed.
    pub(crate) fn new(
        kind: KeyKind,
        alg: Option<Algorithm>,
        decoding: DecodingKey,
        material: &[u8],
    ) -> Key {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(format!("casegate key {kind:?}\0").as_bytes());
        ctx.update(material);
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        Key {
            kind,
            alg,
            decoding,
            fingerprint,
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        self.kind
    }

    pub(crate) fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Whether this key may verify a token signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        KeyKind::of(alg) == self.kind && self.alg.is_none_or(|a| a == alg)
    }

    /// Checks `signature` (base64url) over `message` (`header.payload`). A key asked to verify
    /// an algorithm of another kind says no without looking.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        self.accepts(alg)
            && jsonwebtoken::crypto::verify(signature, message, &self.decoding, alg)
                .unwrap_or(false)
    }
}

/// Kind and pinned algorithm only: key material and secrets are never printed.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// One issuer's keys at one moment: by `kid`, plus keys configured without one.
#[derive(Clone, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Vec<Arc<Key>>>,
    unnamed: Vec<Arc<Key>>,
    // Looked up on every request a remembered token makes; SipHash over the 32 bytes cost
    // more than the rest of that check (foldhash, seeded, as the memo's own map).
    fingerprints: HashSet<Fingerprint, foldhash::quality::RandomState>,
}

impl KeySet {
    pub(crate) fn insert(&mut self, kid: Option<String>, key: Key) {
        self.fingerprints.insert(key.fingerprint);
        let key = Arc::new(key);
        match kid {
            Some(kid) => self.by_kid.entry(kid).or_default().push(key),
            None => self.unnamed.push(key),
        }
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.unnamed.len() + self.by_kid.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, with its kid.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Option<&str>, &Key)> {
        let named = self
            .by_kid
            .iter()
            .flat_map(|(kid, keys)| keys.iter().map(move |k| (Some(kid.as_str()), &**k)));
        named.chain(self.unnamed.iter().map(|k| (None, &**k)))
    }

    /// Whether a key with this fingerprint is (still) in the set.
    pub(crate) fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    /// The keys that may have signed a token with this `kid` and `alg`.
    ///
    /// A `kid` picks its keys; a kid the set does not name falls back to the keys configured
    /// without a kid (a single PEM key verifies whatever kid the provider stamps). A token
    /// without `kid` is tried against every key of the algorithm's kind. A kid that names only
    /// keys of another kind is `AlgorithmNotAllowed`: that key was not loaded for this algorithm.
    pub(crate) fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<&Key>, AuthError> {
        fn accepting(keys: &[Arc<Key>], alg: Algorithm) -> Vec<&Key> {
            keys.iter()
                .map(|k| &**k)
                .filter(|k| k.accepts(alg))
                .collect()
        }
        let found = match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(named) => {
                    let found = accepting(named, alg);
                    if found.is_empty() {
                        return Err(AuthError::AlgorithmNotAllowed);
                    }
                    found
                }
                None => accepting(&self.unnamed, alg),
            },
            None => self
                .iter()
                .map(|(_, k)| k)
                .filter(|k| k.accepts(alg))
                .collect(),
        };
        if found.is_empty() {
            Err(AuthError::UnknownKid)
        } else {
            Ok(found)
        }
    }
}

/// Kids and kinds only.
impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(kid, k)| (kid, k.kind)))
            .finish()
    }
}

/// An HMAC secret as a one-key set, for HS* only.
pub(crate) fn hmac_key_set(secret: &[u8]) -> KeySet {
    let mut set = KeySet::default();
    set.insert(
        None,
        Key::new(
            KeyKind::Hmac,
            None,
            DecodingKey::from_secret(secret),
            secret,
        ),
    );
    set
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keys")
            .join(name);
        std::fs::read(path).unwrap()
    }

    /// A fixture public key as a JWK with `kid`.
    pub(crate) fn jwk(name: &str, kid: &str) -> serde_json::Value {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let (kind, _, der) = parse_public_pem(&fixture(name)).unwrap();
        match kind {
            KeyKind::Rsa => {
                let (n, e) = der::rsa_components(&der);
                serde_json::json!({"kty": "RSA", "kid": kid, "n": B64.encode(n), "e": B64.encode(e)})
            }
            KeyKind::EcP256 => serde_json::json!({
                "kty": "EC", "kid": kid, "crv": "P-256",
                "x": B64.encode(&der[1..33]), "y": B64.encode(&der[33..]),
            }),
            KeyKind::Ed25519 => {
                serde_json::json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": B64.encode(&der)})
            }
            other => panic!("no fixture of kind {other:?}"),
        }
    }

    fn pem_key(name: &str) -> Key {
        let (kind, decoding, der) = parse_public_pem(&fixture(name)).unwrap();
        Key::new(kind, None, decoding, &der)
    }

    #[test]
    fn a_key_verifies_only_its_own_kind() {
        let rsa = pem_key("rsa-public.pem");
        assert!(rsa.accepts(Algorithm::RS256) && rsa.accepts(Algorithm::PS512));
        assert!(!rsa.accepts(Algorithm::HS256) && !rsa.accepts(Algorithm::ES256));
        // The RSA key asked to check an HMAC signature made with its own bytes: never.
        let der = pem::parse_public_pem(&fixture("rsa-public.pem")).unwrap().2;
        let message = b"e30.e30";
        let sig = jsonwebtoken::crypto::sign(
            message,
            &jsonwebtoken::EncodingKey::from_secret(&der),
            Algorithm::HS256,
        )
        .unwrap();
        assert!(!rsa.verify(Algorithm::HS256, message, &sig));
        let ec = pem_key("ec-public.pem");
        assert_eq!(ec.kind(), KeyKind::EcP256);
        assert!(ec.accepts(Algorithm::ES256) && !ec.accepts(Algorithm::ES384));
        assert_eq!(pem_key("ed-public.pem").kind(), KeyKind::Ed25519);
    }

    #[test]
    fn lookup_by_kid_falls_back_to_unnamed_keys() {
        let mut set = KeySet::default();
        set.insert(Some("r".into()), pem_key("rsa-public.pem"));
        set.insert(None, pem_key("ec-public.pem"));
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.candidates(Some("r"), Algorithm::RS256).unwrap().len(),
            1
        );
        assert_eq!(
            set.candidates(Some("r"), Algorithm::ES256).unwrap_err(),
            AuthError::AlgorithmNotAllowed
        );
        assert_eq!(
            set.candidates(Some("other"), Algorithm::ES256)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            set.candidates(Some("other"), Algorithm::RS256).unwrap_err(),
            AuthError::UnknownKid
        );
        assert_eq!(set.candidates(None, Algorithm::RS256).unwrap().len(), 1);
        assert_eq!(
            set.candidates(None, Algorithm::EdDSA).unwrap_err(),
            AuthError::UnknownKid
        );
    }

    #[test]
    fn debug_prints_no_secret() {
        let set = hmac_key_set(b"0123456789abcdef0123456789abcdef-secret");
        let debug = format!("{set:?}");
        assert!(debug.contains("Hmac") && !debug.contains("secret"));
    }
}
