//! casegate's own credential for iCasework: an OAuth access token (default) or Key + Signature.
//! Callers never see it and never choose it.

mod oauth;
mod signature;

use std::sync::Arc;

pub use oauth::{Token, TokenSource};
pub use signature::KeySigner;

use super::client::HttpClient;
use crate::config::CredentialConfig;
use crate::upstream::endpoint::Endpoint;

/// The configured credential, ready to attach to requests.
#[derive(Debug, Clone)]
pub enum Credential {
    OAuth(Arc<TokenSource>),
    KeySignature(Arc<KeySigner>),
}

impl Credential {
    pub fn new(config: &CredentialConfig, endpoint: &Endpoint, client: HttpClient) -> Self {
        match config {
            CredentialConfig::OAuth(c) => {
                Credential::OAuth(Arc::new(TokenSource::new(c, endpoint.token_url(), client)))
            }
            CredentialConfig::KeySignature(c) => {
                Credential::KeySignature(Arc::new(KeySigner::new(c)))
            }
        }
    }
}
