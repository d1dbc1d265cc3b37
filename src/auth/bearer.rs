//! The caller's token: from the `Authorization` header only (RFC 6750 §2.1), never from the
//! query string or a cookie.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::AuthError;

/// The bearer token of a request: exactly one `Authorization: Bearer <token>` header (scheme in
/// any letter case, one or more spaces, then a `b64token` as RFC 6750 defines it).
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = single(headers)?
        .to_str()
        .map_err(|_| AuthError::Malformed("the Authorization header is not visible ASCII"))?;
    // The token is the end of the value, so its length finds it in the checked text.
    let token = &value[value.len() - token_of(value.as_bytes())?.len()..];
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
    if !ok {
        return Err(AuthError::Malformed(
            "the Bearer token holds characters a token cannot",
        ));
    }
    Ok(token)
}

/// The bytes of the presented token, by the header's rules only (one header, the Bearer scheme,
/// a token), its characters unchecked: for looking a remembered token up, which is found only
/// if equal to a token that passed [`bearer`]. Any other use must call [`bearer`].
pub(crate) fn presented(headers: &HeaderMap) -> Result<&[u8], AuthError> {
    token_of(single(headers)?.as_bytes())
}

/// The one `Authorization` header.
fn single(headers: &HeaderMap) -> Result<&HeaderValue, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed("more than one Authorization header"));
    }
    Ok(value)
}

/// What follows the Bearer scheme and its spaces.
fn token_of(value: &[u8]) -> Result<&[u8], AuthError> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::Malformed(
            "the Authorization scheme is not Bearer",
        ));
    }
    // Spaces only: a tab is not a separator here.
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if token.is_empty() {
        return Err(AuthError::Malformed("the Bearer token is empty"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn one_bearer_header_any_scheme_case() {
        assert_eq!(bearer(&headers(&["Bearer a.b.c"])), Ok("a.b.c"));
        assert_eq!(bearer(&headers(&["bearer  a.b.c"])), Ok("a.b.c"));
        assert_eq!(bearer(&headers(&["BEARER a-_.~+/=="])), Ok("a-_.~+/=="));
    }

    #[test]
    fn presented_is_what_bearer_takes_when_bearer_takes_it() {
        for value in ["Bearer a.b.c", "bearer  a.b.c", "BEARER a-_.~+/=="] {
            let h = headers(&[value]);
            assert_eq!(presented(&h).unwrap(), bearer(&h).unwrap().as_bytes());
        }
        // The header's rules hold for both...
        assert_eq!(presented(&HeaderMap::new()), Err(AuthError::Missing));
        for h in [
            headers(&["Bearer a.b.c", "Bearer a.b.c"]),
            headers(&["Basic dXNlcjpwYXNz"]),
            headers(&["Bearer "]),
            headers(&["Bearera.b.c"]),
        ] {
            assert!(matches!(presented(&h), Err(AuthError::Malformed(_))));
        }
        // ...the token's characters only for `bearer`: `presented` is for memo lookups alone.
        let junk = headers(&["Bearer a,b"]);
        assert_eq!(presented(&junk), Ok(&b"a,b"[..]));
        assert!(bearer(&junk).is_err());
    }

    #[test]
    fn missing_is_its_own_error() {
        assert_eq!(bearer(&HeaderMap::new()), Err(AuthError::Missing));
    }

    #[test]
    fn two_headers_other_schemes_and_junk_are_malformed() {
        for h in [
            headers(&["Bearer a.b.c", "Bearer a.b.c"]),
            headers(&["Basic dXNlcjpwYXNz"]),
            headers(&["Bearer"]),
            headers(&["Bearer "]),
            headers(&["Bearera.b.c"]),
            headers(&["Bearer a.b.c extra"]),
            headers(&["Bearer a,b"]),
            headers(&["Bearer ==="]),
            headers(&["Bearer\ta.b.c"]),
        ] {
            assert!(
                matches!(bearer(&h), Err(AuthError::Malformed(_))),
                "{h:?} should be malformed"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(bearer(&h), Err(AuthError::Malformed(_))));
    }
}
