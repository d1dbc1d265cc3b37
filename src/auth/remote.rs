//! Key sets fetched from an identity provider: a JWKS URL, or the `jwks_uri` of an OpenID
//! Connect discovery document.
//!
//! Fetched at start, then every `refresh_interval` (sooner, with backoff, after a failure), and
//! when a token names a kid we do not know. That last trigger is the provider-facing risk: a
//! flood of made-up kids must not become a flood of fetches. So a refetch starts at most once
//! per `min_refetch_interval`, and callers that arrive while one is in flight wait for it rather
//! than start their own. A failed fetch changes nothing: the last good keys keep serving.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::header::{ACCEPT, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::config::{fetch_url, IssuerConfig, KeySource};
use super::keys::{parse_jwks, KeySet};
use crate::upstream::client::{self, ConnectOptions, HttpClient};
use crate::upstream::{error_chain, USER_AGENT_VALUE};

/// Discovery documents and key sets are a few KiB; far larger is not one.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// One issuer's remote key set.
pub(crate) struct Remote {
    issuer: String,
    source: Source,
    client: Result<HttpClient, String>,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
    fetch_timeout: Duration,
    keys: ArcSwapOption<KeySet>,
    state: Mutex<State>,
    fetches: AtomicU64,
}

enum Source {
    Jwks(Uri),
    Discovery(Uri),
}

type Pending = Shared<BoxFuture<'static, bool>>;

#[derive(Default)]
struct State {
    /// The fetch in flight, which every caller joins.
    pending: Option<Pending>,
    /// When the last fetch started.
    last_start: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Remote {
    /// `None` for an issuer whose keys are in the configuration.
    pub(crate) fn new(config: &IssuerConfig) -> Option<Arc<Remote>> {
        let source = match &config.keys {
            KeySource::Static(_) => return None,
            KeySource::JwksUrl(uri) => Source::Jwks(uri.clone()),
            KeySource::Discovery(uri) => Source::Discovery(uri.clone()),
        };
        let client = client::build(&ConnectOptions {
            connect_timeout: config.fetch_timeout,
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 1,
            ..ConnectOptions::default()
        })
        .map_err(|e| format!("cannot build the HTTP client: {e}"));
        Some(Arc::new(Remote {
            issuer: config.issuer.clone(),
            source,
            client,
            refresh_interval: config.refresh_interval,
            min_refetch_interval: config.min_refetch_interval,
            fetch_timeout: config.fetch_timeout,
            keys: ArcSwapOption::empty(),
            state: Mutex::new(State::default()),
            fetches: AtomicU64::new(0),
        }))
    }

    /// The last good key set; `None` until a fetch has succeeded.
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    /// How many fetches have started.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches now (at start, on schedule), or joins the fetch in flight. True on success.
    pub(crate) async fn refresh(self: &Arc<Self>) -> bool {
        match self.start_or_join(false) {
            Some(pending) => pending.await,
            None => false,
        }
    }

    /// Fetches because a token named an unknown kid (or no keys are loaded yet): joins the
    /// fetch in flight, starts one if none started within `min_refetch_interval`, else returns
    /// at once. The caller then looks again at whatever keys there are.
    pub(crate) async fn refetch(self: &Arc<Self>) {
        if let Some(pending) = self.start_or_join(true) {
            pending.await;
        }
    }

    fn start_or_join(self: &Arc<Self>, throttled: bool) -> Option<Pending> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pending) = &state.pending {
            return Some(pending.clone());
        }
        if throttled
            && state
                .last_start
                .is_some_and(|at| at.elapsed() < self.min_refetch_interval)
        {
            return None;
        }
        state.last_start = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // A task of its own, so the fetch completes even if the request that started it is
        // dropped (the caller hung up); `pending` is cleared under the same lock.
        let this = self.clone();
        let task = tokio::spawn(async move {
            let ok = this.fetch_and_store().await;
            this.state.lock().unwrap_or_else(|e| e.into_inner()).pending = None;
            ok
        });
        let pending = async move { task.await.unwrap_or(false) }.boxed().shared();
        state.pending = Some(pending.clone());
        Some(pending)
    }

    async fn fetch_and_store(&self) -> bool {
        let result = tokio::time::timeout(self.fetch_timeout, self.fetch())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.fetch_timeout)));
        match result {
            Ok((set, skipped)) => {
                for why in &skipped {
                    tracing::warn!(issuer = %self.issuer, "{why}");
                }
                tracing::info!(issuer = %self.issuer, keys = set.len(), "fetched the issuer's signing keys");
                self.keys.store(Some(Arc::new(set)));
                true
            }
            Err(e) if self.keys.load().is_some() => {
                tracing::warn!(issuer = %self.issuer, error = %e, "could not fetch the issuer's signing keys; the last good keys keep serving");
                false
            }
            Err(e) => {
                tracing::error!(issuer = %self.issuer, error = %e, "could not fetch the issuer's signing keys; its tokens are refused until a fetch succeeds");
                false
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Vec<String>), String> {
        let jwks_uri = match &self.source {
            Source::Jwks(uri) => uri.clone(),
            Source::Discovery(uri) => {
                let body = self.get(uri).await?;
                jwks_uri(&body, &self.issuer)?
            }
        };
        let body = self.get(&jwks_uri).await?;
        parse_jwks(&body).map_err(|e| format!("{jwks_uri}: {e}"))
    }

    async fn get(&self, uri: &Uri) -> Result<Bytes, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let request = Request::get(uri.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{uri}: {}", error_chain(&e)))?;
        if response.status() != StatusCode::OK {
            return Err(format!("{uri} answered {}", response.status()));
        }
        Limited::new(response.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| format!("{uri}: {e}"))
    }

    /// Runs the schedule until the returned guard is dropped.
    pub(crate) fn spawn_schedule(self: &Arc<Self>) -> AbortOnDrop {
        let weak: Weak<Remote> = Arc::downgrade(self);
        let mut failures = u32::from(self.keys.load().is_none());
        AbortOnDrop(tokio::spawn(async move {
            loop {
                let Some(wait) = weak.upgrade().map(|r| r.next_wait(failures)) else {
                    return;
                };
                tokio::time::sleep(wait).await;
                let Some(remote) = weak.upgrade() else { return };
                failures = if remote.refresh().await {
                    0
                } else {
                    failures.saturating_add(1)
                };
            }
        }))
    }

    /// After a failure, retry from `min_refetch_interval`, doubling, up to `refresh_interval`.
    fn next_wait(&self, failures: u32) -> Duration {
        if failures == 0 {
            return self.refresh_interval;
        }
        let backoff = self
            .min_refetch_interval
            .saturating_mul(1 << (failures - 1).min(16));
        backoff.min(self.refresh_interval)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Jwks(uri) => ("jwks_url", uri),
            Source::Discovery(uri) => ("discovery_url", uri),
        };
        f.debug_struct("Remote")
            .field("issuer", &self.issuer)
            .field("source", &source)
            .field("keys", &self.keys.load().as_ref().map(|k| k.len()))
            .finish_non_exhaustive()
    }
}

/// The `jwks_uri` of a discovery document that names `issuer` exactly (OpenID Connect
/// Discovery §4.3: a document for another issuer must not be used).
fn jwks_uri(body: &[u8], issuer: &str) -> Result<Uri, String> {
    let doc: Discovery = serde_json::from_slice(body)
        .map_err(|_| "the discovery document is not JSON with issuer and jwks_uri".to_owned())?;
    if doc.issuer != issuer {
        let theirs: String = doc.issuer.chars().take(200).collect();
        return Err(format!(
            "the discovery document is for issuer {theirs:?}, not the configured {issuer:?}"
        ));
    }
    fetch_url(&doc.jwks_uri).map_err(|why| format!("the discovery document's jwks_uri {why}"))
}

/// Aborts a background task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://login.example.org/";

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = |iss: &str, uri: &str| format!(r#"{{"issuer":"{iss}","jwks_uri":"{uri}"}}"#);
        let ok = jwks_uri(doc(ISS, "https://login.example.org/keys").as_bytes(), ISS).unwrap();
        assert_eq!(ok.path(), "/keys");
        let other = jwks_uri(doc("https://evil/", "https://evil/keys").as_bytes(), ISS);
        assert!(other.unwrap_err().contains("not the configured"));
        let plain = jwks_uri(doc(ISS, "http://login.example.org/keys").as_bytes(), ISS);
        assert!(plain.unwrap_err().contains("https"));
        assert!(jwks_uri(b"{}", ISS).is_err());
    }

    #[tokio::test]
    async fn backoff_doubles_up_to_the_refresh_interval() {
        let config = crate::auth::AuthConfig::parse(
            std::path::Path::new("t.toml"),
            r#"[auth]
[[auth.issuers]]
issuer = "i"
audiences = ["a"]
algorithms = ["RS256"]
jwks_url = "https://login.example.org/keys"
refresh_interval = "10s"
min_refetch_interval = "1s"
"#,
        )
        .unwrap();
        let remote = Remote::new(&config.issuers[0]).unwrap();
        let waits: Vec<u64> = (0..7).map(|f| remote.next_wait(f).as_secs()).collect();
        assert_eq!(waits, [10, 1, 2, 4, 8, 10, 10]);
    }
}
