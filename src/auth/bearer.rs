//! The caller's token: from the `Authorization` header only (RFC 6750 §2.1), never from the
//! query string or a cookie.

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::AuthError;

/// The bearer token of a request: exactly one `Authorization: Bearer <token>` header (scheme in
/// any letter case, one or more spaces, then a `b64token` as RFC 6750 defines it).
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the Authorization header is not visible ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(
            "the Authorization scheme is not Bearer",
        ));
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::Malformed("the Bearer token is empty"));
    }
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
