//! Whose quota a request spends: the caller (its subject, or the value of a claim the grant
//! names) under the deciding grant, and for per-report quotas the report.

use std::fmt;

use ring::digest;
use serde_json::Value;

use crate::auth::Identity;

/// Which quota a key belongs to; also why a request was limited.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Scope {
    /// The caller's requests under its grant, all reports together.
    Caller,
    /// The caller's requests for one report.
    Report,
    /// The caller's requests that go to iCasework (cache misses, uncached requests).
    Miss,
    /// Not a quota: the limiter holds as many keys as it may, and this request would add one.
    Capacity,
}

impl Scope {
    /// The metric label and the word in logs: a bounded set.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Caller => "caller",
            Scope::Report => "report",
            Scope::Miss => "miss",
            Scope::Capacity => "capacity",
        }
    }
}

impl Scope {
    /// What a refused caller is told: which quota, and when to retry; never anything about
    /// other callers.
    pub fn detail(self, retry_secs: u64) -> String {
        match self {
            Scope::Caller => format!(
                "you have used your request quota; retry in {retry_secs} seconds \
                 (RateLimit-* fields show the quota)"
            ),
            Scope::Report => format!(
                "you have used your request quota for this report; retry it in {retry_secs} \
                 seconds (other reports have their own quotas)"
            ),
            Scope::Miss => format!(
                "you have used your quota of requests that go to iCasework (answers not in \
                 casegate's cache); retry in {retry_secs} seconds"
            ),
            Scope::Capacity => format!(
                "casegate cannot take on more callers' quotas right now; retry in {retry_secs} \
                 seconds"
            ),
        }
    }
}

/// A caller under one grant, as a fixed-size digest. Fixed size bounds the memory of each key
/// whatever the claim values hold; a digest keeps subjects and claim values out of the
/// limiter's memory (and out of a shared store, later). 128 bits make a collision, which would
/// make two callers share quotas, practically impossible.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallerId([u8; 16]);

impl CallerId {
    /// The caller of `identity` under grant `grant`: the value of the claim `key_claim` when the
    /// grant names one and the token carries it as a string, number or boolean (a missing,
    /// null, empty, array or object claim falls back to the subject), otherwise the subject.
    /// The issuer is part of it, so equal subjects of two identity providers never share.
    pub fn of(grant: &str, identity: &Identity, key_claim: Option<&str>) -> CallerId {
        let claim = key_claim.and_then(|name| {
            let text = match identity.claim(name)? {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((name, text))
        });
        // Each field with its length first, so no two different field lists hash alike; one
        // buffer and one digest call (ring's per-update overhead dominates such small input).
        let mut input = Vec::with_capacity(128);
        let mut field = |bytes: &[u8]| {
            input.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            input.extend_from_slice(bytes);
        };
        field(b"casegate-quota-v1");
        field(grant.as_bytes());
        field(identity.issuer.as_bytes());
        match &claim {
            Some((name, value)) => {
                field(b"claim");
                field(name.as_bytes());
                field(value.as_bytes());
            }
            None => {
                field(b"sub");
                field(identity.subject.as_bytes());
            }
        }
        let mut id = [0; 16];
        id.copy_from_slice(&digest::digest(&digest::SHA256, &input).as_ref()[..16]);
        CallerId(id)
    }

    /// The digest, for a shared store's key names.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// A prefix of the digest: enough to tell keys apart in a debug print, nothing about whom.
impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CallerId({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// One quota's state is kept per key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    pub scope: Scope,
    pub caller: CallerId,
    /// The ReportId for [`Scope::Report`]; 0 (never a ReportId) otherwise.
    pub report: u64,
}
