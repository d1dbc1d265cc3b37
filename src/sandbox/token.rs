//! `POST /token`: the OAuth 2.0 JWT-bearer grant as iCasework runs it, and the store of the
//! access tokens it has issued.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde::Deserialize;

use super::response::{html, AppError, ChunkedBody};
use super::Sandbox;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A token request is a short form; anything bigger is not one.
const MAX_FORM: usize = 64 * 1024;
/// At most this many live tokens are kept; past it the ones closest to expiry go first.
pub(crate) const MAX_TOKENS: usize = 10_000;

/// The issued access tokens and when each expires.
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Instant>>,
    capacity: usize,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the tokens themselves.
        let live = self.tokens.lock().map_or(0, |tokens| tokens.len());
        f.debug_struct("TokenStore").field("tokens", &live).finish()
    }
}

impl TokenStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            tokens: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Issues a new random token valid for `lifetime`.
    pub(crate) fn issue(&self, lifetime: Duration) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut tokens = self.tokens.lock().expect("token store poisoned");
        if tokens.len() >= self.capacity {
            tokens.retain(|_, expiry| *expiry > now);
        }
        while tokens.len() >= self.capacity {
            let soonest = tokens
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(t, _)| t.clone());
            match soonest {
                Some(token) => tokens.remove(&token),
                None => break,
            };
        }
        tokens.insert(token.clone(), now + lifetime);
        token
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn is_valid(&self, token: &str) -> bool {
        let mut tokens = self.tokens.lock().expect("token store poisoned");
        match tokens.get(token) {
            Some(expiry) if *expiry > Instant::now() => true,
            Some(_) => {
                tokens.remove(token);
                false
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.tokens.lock().expect("token store poisoned").len()
    }
}

/// The claims the sandbox needs besides `iss` and `aud`, which `jsonwebtoken` checks.
#[derive(Deserialize)]
struct Assertion {
    #[allow(dead_code)] // required: deserializing fails without it
    iat: u64,
}

/// Handles `POST /token` and `POST /token?db={account}`.
pub(crate) async fn handle(sandbox: &Sandbox, request: Request<Incoming>) -> Response<ChunkedBody> {
    if request.method() != Method::POST {
        let mut response = html(StatusCode::METHOD_NOT_ALLOWED, "Use POST.");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let db = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name.eq_ignore_ascii_case("db"))
            .map(|(_, value)| value.into_owned())
    });
    if db.is_some_and(|db| !db.is_empty() && db != sandbox.config.account) {
        // Upstream answers an unknown account with an empty 200: no token is the failure signal.
        return Response::new(ChunkedBody::default());
    }
    let audience = token_url(&request);
    let Ok(form) = Limited::new(request.into_body(), MAX_FORM).collect().await else {
        return invalid_grant();
    };
    let form = form.to_bytes();
    let mut grant_type = None;
    let mut assertion = None;
    for (name, value) in form_urlencoded::parse(&form) {
        match &*name {
            "grant_type" if grant_type.is_none() => grant_type = Some(value),
            "assertion" if assertion.is_none() => assertion = Some(value),
            _ => {}
        }
    }
    let (Some(JWT_BEARER), Some(assertion)) = (grant_type.as_deref(), assertion) else {
        return invalid_grant();
    };
    if let Err(error) = verify(sandbox, &assertion, &audience) {
        tracing::debug!(%error, "sandbox: assertion rejected");
        return invalid_grant();
    }
    let lifetime = sandbox.config.token_lifetime;
    let token = sandbox.tokens.issue(lifetime);
    tracing::debug!(live_tokens = sandbox.tokens.len(), "sandbox: token issued");
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
    });
    let mut response = Response::new(ChunkedBody::new(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The URL the client called, which must be the assertion's `aud`: `http://{Host}{path?query}`.
fn token_url(request: &Request<Incoming>) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        })
        .unwrap_or_default();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/token", |pq| pq.as_str());
    format!("http://{host}{path}")
}

fn verify(sandbox: &Sandbox, assertion: &str, audience: &str) -> jsonwebtoken::errors::Result<()> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[&sandbox.config.api_key]);
    validation.set_audience(&[audience]);
    // `exp` is optional (clients differ) but, when present, must not have passed.
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.leeway = 0;
    let key = DecodingKey::from_secret(sandbox.config.secret_key.as_bytes());
    jsonwebtoken::decode::<Assertion>(assertion, &key, &validation).map(drop)
}

fn invalid_grant() -> Response<ChunkedBody> {
    AppError::bad_request(19002, "invalid_grant").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_the_store_is_bounded() {
        let store = TokenStore::new(3);
        let expired = store.issue(Duration::ZERO);
        assert!(!store.is_valid(&expired));
        let tokens: Vec<_> = (0..5)
            .map(|_| store.issue(Duration::from_secs(60)))
            .collect();
        assert_eq!(store.len(), 3);
        assert!(tokens[2..].iter().all(|token| store.is_valid(token)));
        assert!(!store.is_valid("not-a-token"));
        assert_eq!(tokens[0].len(), 64);
        assert_ne!(tokens[0], tokens[1]);
        assert!(!format!("{store:?}").contains(&tokens[4]));
    }
}
