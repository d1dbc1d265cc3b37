//! Why a caller's token was refused.
//!
//! `Display` is the problem's `detail`: what the caller should fix. `description()` goes into
//! `WWW-Authenticate`. Neither ever holds the token or a claim's value.

/// A refused (or, for `KeysUnavailable`, unverifiable) bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no bearer token: send `Authorization: Bearer <token>` with a token from your \
         organisation's identity provider"
    )]
    Missing,
    /// What is wrong, in fixed words of ours (never the caller's bytes).
    #[error(
        "the bearer token is malformed ({0}): send exactly one `Authorization: Bearer <token>` \
         header holding one signed JWT"
    )]
    Malformed(&'static str),
    #[error(
        "the bearer token is longer than {limit} bytes: ask your identity provider for a token \
         with fewer claims"
    )]
    Oversized { limit: usize },
    #[error("the token is unsigned (alg none): send a token signed by your identity provider")]
    NoneAlgorithm,
    #[error(
        "the token's issuer (iss) is not one this gateway trusts: use a token from your \
         organisation's configured identity provider"
    )]
    UnknownIssuer,
    #[error(
        "the token's signing algorithm (alg) is not accepted for its issuer: ask your identity \
         provider for a token signed with an accepted algorithm"
    )]
    AlgorithmNotAllowed,
    #[error(
        "the token's key id (kid) is not among its issuer's current keys: get a fresh token from \
         your identity provider"
    )]
    UnknownKid,
    #[error(
        "the token's signature does not verify: get a fresh token from your identity provider"
    )]
    BadSignature,
    #[error("the token has expired (exp): get a fresh token from your identity provider")]
    Expired,
    #[error(
        "the token is not valid yet (nbf or iat lies in the future): check the clock of the \
         machine that made it, or wait"
    )]
    NotYetValid,
    #[error(
        "the token is not meant for this gateway (aud): ask your identity provider for a token \
         whose audience is this gateway"
    )]
    WrongAudience,
    #[error(
        "the token lacks the required claim {0}: ask your identity provider for a token with it"
    )]
    MissingClaim(&'static str),
    #[error(
        "the signing keys of the token's issuer could not be loaded; this is a gateway problem, \
         not your token: retry later or give the request id to the gateway's operators"
    )]
    KeysUnavailable,
}

impl AuthError {
    /// The stable, snake_case code in the problem body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Malformed(_) => "token_malformed",
            AuthError::Oversized { .. } => "token_oversized",
            AuthError::NoneAlgorithm => "token_alg_none",
            AuthError::UnknownIssuer => "token_unknown_issuer",
            AuthError::AlgorithmNotAllowed => "token_alg_not_allowed",
            AuthError::UnknownKid => "token_unknown_kid",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongAudience => "token_wrong_audience",
            AuthError::MissingClaim(_) => "token_missing_claim",
            AuthError::KeysUnavailable => "token_keys_unavailable",
        }
    }

    /// The `casegate_auth_failures_total` reason (one of `metrics::AUTH_FAILURE_REASONS`).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed(_) | AuthError::Oversized { .. } => "malformed",
            AuthError::NoneAlgorithm | AuthError::AlgorithmNotAllowed => "algorithm",
            AuthError::UnknownIssuer => "unknown_issuer",
            AuthError::UnknownKid => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingClaim(_) => "claims",
            AuthError::KeysUnavailable => "key_fetch",
        }
    }

    /// A short text for `WWW-Authenticate`'s `error_description`: ASCII, no quotes or
    /// backslashes, so it needs no escaping inside the quoted string.
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::Missing => "No bearer token",
            AuthError::Malformed(_) => "The token is malformed",
            AuthError::Oversized { .. } => "The token is too large",
            AuthError::NoneAlgorithm => "Unsigned tokens are not accepted",
            AuthError::UnknownIssuer => "The token issuer is not trusted",
            AuthError::AlgorithmNotAllowed => "The signing algorithm is not accepted",
            AuthError::UnknownKid => "The signing key is unknown",
            AuthError::BadSignature => "The signature is invalid",
            AuthError::Expired => "The token has expired",
            AuthError::NotYetValid => "The token is not valid yet",
            AuthError::WrongAudience => "The token audience is wrong",
            AuthError::MissingClaim(_) => "A required claim is missing",
            AuthError::KeysUnavailable => "The issuer keys are unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [AuthError; 13] = [
        AuthError::Missing,
        AuthError::Malformed("x"),
        AuthError::Oversized { limit: 8192 },
        AuthError::NoneAlgorithm,
        AuthError::UnknownIssuer,
        AuthError::AlgorithmNotAllowed,
        AuthError::UnknownKid,
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongAudience,
        AuthError::MissingClaim("exp"),
        AuthError::KeysUnavailable,
    ];

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut codes: Vec<_> = ALL.iter().map(AuthError::code).collect();
        assert!(codes
            .iter()
            .all(|c| c.starts_with("token_")
                && c.bytes().all(|b| b == b'_' || b.is_ascii_lowercase())));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
    }

    #[test]
    fn metric_reasons_are_the_documented_set() {
        for e in &ALL {
            assert!(crate::metrics::AUTH_FAILURE_REASONS.contains(&e.metric_reason()));
        }
    }

    #[test]
    fn descriptions_fit_a_quoted_string() {
        for e in &ALL {
            let d = e.description();
            assert!(!d.is_empty());
            assert!(d
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
        }
    }
}
