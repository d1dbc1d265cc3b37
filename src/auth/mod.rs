//! Who is calling: JWT verification against the configured issuers, and the `Identity` it
//! produces for the layers after it.
//!
//! `config` (the `[auth]` section) → `keys` (PEM, JWKS and HMAC key material, each key tagged
//! with its kind) and `remote` (JWKS URLs and OIDC discovery, refreshed and throttled) →
//! `verify` (`Verifier`: `token` parsing and claim checks, `memo` of verified tokens) →
//! `layer` (the tower layer). `bearer` takes the token from the request; `error` says why one
//! was refused.

mod bearer;
pub(crate) mod config;
mod error;
pub mod identity;
mod keys;
mod layer;
mod memo;
mod remote;
mod token;
mod unique;
mod verify;

pub use bearer::bearer;
pub use config::{AuthConfig, IssuerConfig, KeySource};
pub use error::AuthError;
pub use identity::Identity;
pub use keys::KeySet;
pub use layer::{Auth, AuthLayer};
pub use memo::LastToken;
pub use verify::Verifier;

#[cfg(test)]
mod tests;
