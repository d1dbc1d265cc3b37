//! The caller as the layers after the policy see it: who (the verified identity) and under
//! which grant. Limits, the audit log and metrics read it from the request's extensions.

use std::sync::Arc;

use serde_json::Value;

use super::Grant;
use crate::auth::Identity;

#[derive(Debug, Clone)]
pub struct Principal {
    pub identity: Arc<Identity>,
    /// The grant that allowed the request, as it was when the request was decided.
    pub grant: Arc<Grant>,
}

impl Principal {
    pub fn issuer(&self) -> &str {
        &self.identity.issuer
    }

    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    pub fn grant_name(&self) -> &str {
        &self.grant.name
    }

    /// A claim by name, such as an `org` claim that later issues key limits on.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.identity.claim(name)
    }
}
