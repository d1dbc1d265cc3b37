//! The verified caller, as later layers (policy, limits, audit, metrics) see it.

use std::fmt;

use serde_json::{Map, Value};

/// A caller whose token was verified. Travels in the request's extensions as `Arc<Identity>`.
#[derive(Clone, PartialEq)]
pub struct Identity {
    /// The token's `iss`, exactly one of the configured issuers.
    pub issuer: String,
    /// The token's `sub` (empty when the token has none).
    pub subject: String,
    /// Every claim of the verified token, `iss` and `sub` included.
    pub claims: Map<String, Value>,
    /// The token's `exp`, Unix seconds.
    pub expires_at: u64,
}

impl Identity {
    /// An identity whose `issuer`, `subject` and `expires_at` are read from `claims` (for
    /// `explain --claims` and tests; the gateway builds identities from verified tokens only).
    pub fn from_claims(claims: Map<String, Value>) -> Self {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Identity {
            issuer: text("iss"),
            subject: text("sub"),
            expires_at: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
            claims,
        }
    }

    /// A claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

/// Claim values may be personal data (names, emails): Debug shows the issuer, the subject and
/// claim names only.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_claim_names_not_values() {
        let mut claims = Map::new();
        claims.insert("email".into(), "fred.bloggs@example.org".into());
        let id = Identity {
            issuer: "https://idp".into(),
            subject: "svc-1".into(),
            claims,
            expires_at: 0,
        };
        let debug = format!("{id:?}");
        assert!(debug.contains("email") && !debug.contains("fred.bloggs"));
    }
}
