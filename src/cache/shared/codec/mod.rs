//! An entry as bytes at rest in Redis: compressed, then sealed with AES-256-GCM.
//!
//! ```text
//! "cg" | version (1) | key id length (1 byte) | key id | nonce (12) | ciphertext | tag (16)
//! └──────────── header: plaintext, authenticated ────────────┘
//! ```
//!
//! The additional authenticated data is the header followed by the Redis key name, so an entry
//! copied under another key name, or whose key id was edited, fails to open. The nonce is random
//! per entry (96 bits from the system's CSPRNG): entries are written a few times per report per
//! TTL, far below the ~2^32 messages per key where random nonces start to risk a collision.
//!
//! The plaintext is a length-prefixed JSON header (lifetime as unix milliseconds, content type,
//! withheld count, or the remembered 8051 status and info) followed by the body's gzip
//! representation exactly as the writer served it. A reader inflates it to rebuild the plain
//! representation; the ETags, SHA-256 of the bytes, come out the same on every replica.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::EncryptionKey;
use crate::cache::{Entry, Lifetime, Report, Representation, Stored};

const MAGIC: &[u8; 2] = b"cg";
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// Why a value could not be turned back into an entry. Every case is a miss for the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CodecError {
    #[error("the entry was sealed with key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("the value is not an entry this version of casegate reads ({0})")]
    Format(&'static str),
    #[error("the entry failed authentication (tampered, moved to another key name, or sealed with another secret under the same key id)")]
    Authentication,
    #[error("the entry's body is not valid gzip or is larger than cache.max_entry_bytes")]
    Body,
    #[error("the entry could not be sealed")]
    Seal,
}

/// The encryption keys: the first seals, any opens the entries sealed under its id.
pub(crate) struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
    random: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

impl Keyring {
    /// `None` when `keys` is empty or a secret is not 32 bytes (validation rules both out).
    pub(crate) fn new(keys: &[EncryptionKey]) -> Option<Keyring> {
        let keys = keys
            .iter()
            .map(|k| {
                let unbound = UnboundKey::new(&AES_256_GCM, k.secret.expose_secret()).ok()?;
                Some((k.id.clone(), LessSafeKey::new(unbound)))
            })
            .collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then(|| Keyring {
            keys,
            random: SystemRandom::new(),
        })
    }

    /// `entry` as the value to store under the Redis key `name`.
    pub(crate) fn seal(&self, name: &str, entry: &Entry) -> Result<Vec<u8>, CodecError> {
        let (id, key) = self.keys.first().ok_or(CodecError::Seal)?;
        let (meta, body) = Meta::of(entry);
        let meta = serde_json::to_vec(&meta).map_err(|_| CodecError::Seal)?;
        let id_len = u8::try_from(id.len()).map_err(|_| CodecError::Seal)?;
        let mut nonce = [0; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| CodecError::Seal)?;

        let header_len = MAGIC.len() + 2 + id.len();
        let plain_len = 4 + meta.len() + body.len();
        let mut out = Vec::with_capacity(header_len + NONCE_LEN + plain_len + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(id_len);
        out.extend_from_slice(id.as_bytes());
        let aad = aad(&out, name);
        out.extend_from_slice(&nonce);
        let start = out.len();
        let meta_len = u32::try_from(meta.len()).map_err(|_| CodecError::Seal)?;
        out.extend_from_slice(&meta_len.to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(body);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .map_err(|_| CodecError::Seal)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The entry `value` holds, read from the Redis key `name`. A plain body larger than
    /// `max_plain` bytes is refused.
    pub(crate) fn open(
        &self,
        name: &str,
        value: &[u8],
        max_plain: usize,
    ) -> Result<Entry, CodecError> {
        let rest = value
            .strip_prefix(MAGIC)
            .ok_or(CodecError::Format("no magic bytes"))?;
        let (&version, rest) = rest.split_first().ok_or(CodecError::Format("truncated"))?;
        if version != VERSION {
            return Err(CodecError::Format("unknown version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or(CodecError::Format("truncated"))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(CodecError::Format("truncated"));
        }
        let (id, rest) = rest.split_at(id_len);
        let id = std::str::from_utf8(id).map_err(|_| CodecError::Format("key id"))?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| CodecError::UnknownKey(id.to_owned()))?;
        let header_len = MAGIC.len() + 2 + id_len;
        let aad = aad(&value[..header_len], name);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CodecError::Authentication)?;
        let mut buf = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| CodecError::Authentication)?;
        // Authenticated from here on: only a replica holding the key wrote these bytes.
        if plain.len() < 4 {
            return Err(CodecError::Format("no metadata"));
        }
        let (len, rest) = plain.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(CodecError::Format("metadata length"));
        }
        let (meta, body) = rest.split_at(len);
        let meta: Meta =
            serde_json::from_slice(meta).map_err(|_| CodecError::Format("metadata"))?;
        meta.into_entry(body, max_plain)
    }
}

/// Header, then the key name: both must match for the entry to open.
fn aad(header: &[u8], name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + name.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// The entry's metadata, before its body in the plaintext.
#[derive(Serialize, Deserialize)]
struct Meta {
    stored_at: u64,
    fresh_until: u64,
    revalidate_until: u64,
    stale_until: u64,
    stored: StoredMeta,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredMeta {
    Report {
        content_type: String,
        withheld: usize,
        /// The withheld columns' names (absent in entries of earlier versions).
        #[serde(default)]
        columns: Vec<String>,
    },
    NotFound {
        status: u16,
        info: Option<String>,
    },
}

impl Meta {
    /// The metadata of `entry` and the body bytes that follow it.
    fn of(entry: &Entry) -> (Meta, &[u8]) {
        let l = &entry.lifetime;
        let (stored, body) = match &entry.stored {
            Stored::Report(r) => (
                StoredMeta::Report {
                    // Content types come from iCasework or the redactor: visible ASCII.
                    content_type: String::from_utf8_lossy(r.content_type.as_bytes()).into_owned(),
                    withheld: r.withheld,
                    columns: r.columns.names().iter().map(|n| n.to_string()).collect(),
                },
                &r.gzip.bytes[..],
            ),
            Stored::NotFound { status, info } => (
                StoredMeta::NotFound {
                    status: status.as_u16(),
                    info: info.clone(),
                },
                &[][..],
            ),
        };
        let meta = Meta {
            stored_at: millis(l.stored_at),
            fresh_until: millis(l.fresh_until),
            revalidate_until: millis(l.revalidate_until),
            stale_until: millis(l.stale_until),
            stored,
        };
        (meta, body)
    }

    fn into_entry(self, body: &[u8], max_plain: usize) -> Result<Entry, CodecError> {
        let lifetime = Lifetime {
            stored_at: time(self.stored_at),
            fresh_until: time(self.fresh_until),
            revalidate_until: time(self.revalidate_until),
            stale_until: time(self.stale_until),
        };
        let stored = match self.stored {
            StoredMeta::Report {
                content_type,
                withheld,
                columns,
            } => {
                let mut plain = Vec::new();
                // A replica with a larger max_entry_bytes may have written it: refuse, never
                // inflate without bound.
                flate2::read::GzDecoder::new(body)
                    .take(max_plain as u64 + 1)
                    .read_to_end(&mut plain)
                    .map_err(|_| CodecError::Body)?;
                if plain.len() > max_plain {
                    return Err(CodecError::Body);
                }
                Stored::Report(Report {
                    content_type: http::HeaderValue::try_from(content_type)
                        .map_err(|_| CodecError::Format("content type"))?,
                    withheld,
                    columns: crate::redact::WithheldColumns::new(columns),
                    plain: Representation::new(Bytes::from(plain), ""),
                    gzip: Representation::new(Bytes::copy_from_slice(body), "-gzip"),
                })
            }
            StoredMeta::NotFound { status, info } => Stored::NotFound {
                status: http::StatusCode::from_u16(status)
                    .map_err(|_| CodecError::Format("status"))?,
                info,
            },
        };
        Ok(Entry::new(stored, lifetime))
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests;
