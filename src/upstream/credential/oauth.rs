//! OAuth 2.0 JWT-bearer: sign an HS256 assertion with the secret key, trade it for an access
//! token at the token endpoint, and reuse that token until shortly before it expires.
//!
//! However many requests need a token at once, one token request is in flight; they all share
//! its result. A failure is remembered for `failure_backoff` so a burst of callers cannot turn
//! into a burst of token requests. While a renewal fails, a token that has not yet expired is
//! still used.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::OAuthConfig;
use crate::upstream::client::HttpClient;
use crate::upstream::error::CredentialError;
use crate::upstream::{error_chain, header_text, USER_AGENT_VALUE};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Token responses are a few hundred bytes; anything far larger is not one.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// Lifetime assumed when the token response does not say (iCasework's is one hour).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// An access token and when to stop using it.
pub struct Token {
    /// `Bearer {token}`, marked sensitive so it is never printed by `http`'s Debug.
    authorization: HeaderValue,
    expires_at: Instant,
    refresh_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The `Authorization` header value for GetReport.
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }
}

type Pending = Shared<BoxFuture<'static, Result<Arc<Token>, CredentialError>>>;

pub struct TokenSource {
    client: HttpClient,
    token_url: String,
    api_key: SecretString,
    secret_key: SecretString,
    refresh_margin: Duration,
    token_timeout: Duration,
    failure_backoff: Duration,
    current: arc_swap::ArcSwapOption<Token>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: Option<Pending>,
    last_failure: Option<(Instant, CredentialError)>,
    requests: u64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(config: &OAuthConfig, token_url: &str, client: HttpClient) -> Self {
        Self {
            client,
            token_url: token_url.to_owned(),
            api_key: config.api_key.clone(),
            secret_key: config.secret_key.clone(),
            refresh_margin: config.refresh_margin,
            token_timeout: config.token_timeout,
            failure_backoff: config.failure_backoff,
            current: arc_swap::ArcSwapOption::empty(),
            state: Mutex::new(State::default()),
        }
    }

    /// How many token requests have been sent (for tests and readiness).
    pub fn requests_sent(&self) -> u64 {
        self.lock().requests
    }

    /// A usable token: the cached one, or a new one from the token endpoint.
    pub async fn token(self: &Arc<Self>) -> Result<Arc<Token>, CredentialError> {
        let now = Instant::now();
        if let Some(token) = self.current.load_full() {
            if now < token.refresh_at {
                return Ok(token);
            }
        }
        match self.refresh().await {
            Ok(token) => Ok(token),
            Err(e) => match self.current.load_full() {
                // Renewal failed, but the old token has not expired: keep serving with it.
                Some(old) if Instant::now() < old.expires_at => Ok(old),
                _ => Err(e),
            },
        }
    }

    /// Forgets `token` after iCasework rejected it, unless it was already replaced.
    pub fn invalidate(&self, token: &Arc<Token>) {
        let _ = self
            .current
            .compare_and_swap(&Some(token.clone()), None::<Arc<Token>>);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn refresh(self: &Arc<Self>) -> Result<Arc<Token>, CredentialError> {
        let pending = {
            let mut state = self.lock();
            if let Some(token) = self.current.load_full() {
                if Instant::now() < token.refresh_at {
                    return Ok(token); // another request renewed it meanwhile
                }
            }
            if let Some((at, e)) = &state.last_failure {
                if at.elapsed() < self.failure_backoff {
                    return Err(e.clone());
                }
            }
            match &state.pending {
                Some(p) => p.clone(),
                None => {
                    state.requests += 1;
                    let this = self.clone();
                    let p = async move { this.fetch_and_store().await }.boxed().shared();
                    state.pending = Some(p.clone());
                    p
                }
            }
        };
        pending.await
    }

    async fn fetch_and_store(self: Arc<Self>) -> Result<Arc<Token>, CredentialError> {
        let result = tokio::time::timeout(self.token_timeout, self.request_token())
            .await
            .unwrap_or(Err(CredentialError::Timeout(self.token_timeout)));
        let mut state = self.lock();
        state.pending = None;
        crate::metrics::metrics()
            .credential_refreshes
            .with_label_values(&[if result.is_ok() { "success" } else { "failure" }])
            .inc();
        match &result {
            Ok(token) => {
                self.current.store(Some(token.clone()));
                state.last_failure = None;
                tracing::info!(token_url = %self.token_url, "obtained an iCasework access token");
            }
            Err(e) => {
                state.last_failure = Some((Instant::now(), e.clone()));
                tracing::error!(token_url = %self.token_url, error = %e, "could not obtain an iCasework access token");
            }
        }
        result
    }

    fn assertion(&self) -> Result<String, CredentialError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| CredentialError::Signing(e.to_string()))?
            .as_secs();
        let claims = Assertion {
            iss: self.api_key.expose_secret(),
            aud: &self.token_url,
            iat,
            exp: iat + 3600,
        };
        let key =
            jsonwebtoken::EncodingKey::from_secret(self.secret_key.expose_secret().as_bytes());
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &key,
        )
        .map_err(|e| CredentialError::Signing(e.to_string()))
    }

    async fn request_token(&self) -> Result<Arc<Token>, CredentialError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", &self.assertion()?)
            .finish();
        let request = Request::post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| CredentialError::Signing(e.to_string()))?;
        let sent = Instant::now();
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| CredentialError::Unreachable(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(CredentialError::Refused {
                status: parts.status,
                code: header_text(&parts.headers, "x-application-error-code")
                    .unwrap_or_else(|| "none".to_owned()),
                info: header_text(&parts.headers, "x-application-error-info")
                    .unwrap_or_else(|| "none".to_owned()),
            });
        }
        let body = Limited::new(body, MAX_TOKEN_RESPONSE)
            .collect()
            .await
            .map_err(|e| CredentialError::BadResponse(e.to_string()))?
            .to_bytes();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(CredentialError::NoAccessToken);
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| CredentialError::BadResponse("not a JSON token response".to_owned()))?;
        let access_token = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(CredentialError::NoAccessToken)?;
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {access_token}")).map_err(|_| {
                CredentialError::BadResponse("access_token is not a valid header value".to_owned())
            })?;
        authorization.set_sensitive(true);
        let lifetime = parsed
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs)
            .max(Duration::from_secs(1))
            // A token is renewed at least daily whatever it claims: `Instant` arithmetic on a
            // huge `expires_in` would overflow (panic), and a day is far beyond iCasework's hour.
            .min(Duration::from_secs(24 * 3600));
        // Renew a margin before expiry, but never sooner than half-way through a short lifetime.
        let margin = self.refresh_margin.min(lifetime / 2);
        Ok(Arc::new(Token {
            authorization,
            expires_at: sent + lifetime,
            refresh_at: sent + lifetime - margin,
        }))
    }
}
