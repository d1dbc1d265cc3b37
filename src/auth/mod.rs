//! Who is calling: JWT verification against the configured issuers, and the `Identity` it
//! produces for the layers after it.

pub mod identity;

pub use identity::Identity;
