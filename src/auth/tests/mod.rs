//! Verification end to end: tokens minted with the fixture keys (RSA, EC P-256, Ed25519, HMAC),
//! configurations parsed from TOML, and an identity provider on 127.0.0.1:0 serving a JWKS and
//! a discovery document over real HTTP, counting what it is asked.

mod accept;
mod memo;
mod rejections;
mod remote;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub(crate) use super::keys::tests::jwk;
use super::AuthConfig;

pub(crate) const ISS: &str = "https://login.example.org/";

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

/// Which fixture key signs, with its usual algorithm.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signer {
    Rsa,
    Rsa2,
    Ec,
    Ed,
    Hmac,
}

impl Signer {
    pub(crate) fn alg(self) -> Algorithm {
        match self {
            Signer::Rsa | Signer::Rsa2 => Algorithm::RS256,
            Signer::Ec => Algorithm::ES256,
            Signer::Ed => Algorithm::EdDSA,
            Signer::Hmac => Algorithm::HS256,
        }
    }

    pub(crate) fn key(self) -> EncodingKey {
        match self {
            Signer::Rsa => EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap(),
            Signer::Rsa2 => EncodingKey::from_rsa_pem(&fixture("rsa2-private.pem")).unwrap(),
            Signer::Ec => EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap(),
            Signer::Ed => EncodingKey::from_ed_pem(&fixture("ed-private.pem")).unwrap(),
            Signer::Hmac => {
                let secret = String::from_utf8(fixture("hmac-secret")).unwrap();
                EncodingKey::from_secret(secret.trim_end().as_bytes())
            }
        }
    }
}

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Valid claims for `ISS` and audience `casegate`, five minutes to live.
pub(crate) fn claims() -> Value {
    let now = now().floor();
    json!({
        "iss": ISS,
        "sub": "svc-reports",
        "aud": "casegate",
        "iat": now,
        "exp": now + 300.0,
        "org": "example-org",
    })
}

/// `claims` with some replaced (`null` removes one).
pub(crate) fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    let Value::Object(changes) = changes else {
        panic!("changes are an object")
    };
    for (k, v) in changes {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(&k);
        } else {
            c[k] = v;
        }
    }
    c
}

pub(crate) fn mint(signer: Signer, claims: &Value) -> String {
    mint_kid(signer, None, claims)
}

pub(crate) fn mint_kid(signer: Signer, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(signer.alg());
    header.kid = kid.map(str::to_owned);
    mint_header(&header, signer, claims)
}

pub(crate) fn mint_header(header: &Header, signer: Signer, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &signer.key()).unwrap()
}

/// An `[auth]` document with one issuer (`ISS`, audiences casegate and reports), `algorithms`
/// and the key-source lines `source`; relative files are in the fixtures folder.
pub(crate) fn issuer_config(algorithms: &[&str], source: &str) -> AuthConfig {
    config(&format!("[auth]\n{}", issuer_toml(ISS, algorithms, source)))
}

pub(crate) fn issuer_toml(issuer: &str, algorithms: &[&str], source: &str) -> String {
    format!(
        "[[auth.issuers]]\nissuer = {issuer:?}\naudiences = [\"casegate\", \"reports\"]\n\
         algorithms = {algorithms:?}\n{source}\n"
    )
}

pub(crate) fn config(text: &str) -> AuthConfig {
    AuthConfig::parse(&fixtures().join("casegate.toml"), text)
        .unwrap_or_else(|problems| panic!("{problems}\n---\n{text}"))
}

/// A stand-in identity provider: `/keys` (the JWKS) and `/.well-known/openid-configuration`.
pub(crate) struct IdP {
    pub(crate) addr: SocketAddr,
    state: Arc<IdPState>,
    _stop: oneshot::Sender<()>,
}

struct IdPState {
    jwks: Mutex<Value>,
    discovery_issuer: Mutex<String>,
    down: AtomicBool,
    delay: Mutex<Duration>,
    jwks_hits: AtomicUsize,
    other_hits: AtomicUsize,
}

impl IdP {
    /// Publishes `keys` (JWKs) at `/keys`.
    pub(crate) async fn start(keys: Vec<Value>) -> IdP {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(IdPState {
            jwks: Mutex::new(json!({ "keys": keys })),
            discovery_issuer: Mutex::new(ISS.to_owned()),
            down: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
            jwks_hits: AtomicUsize::new(0),
            other_hits: AtomicUsize::new(0),
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    _ = &mut stopped => return,
                };
                let state = served.clone();
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(answer(&state, addr, &request).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        IdP {
            addr,
            state,
            _stop: stop,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn publish(&self, keys: Vec<Value>) {
        *self.state.jwks.lock().unwrap() = json!({ "keys": Value::Array(keys) });
    }

    pub(crate) fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = issuer.to_owned();
    }

    /// While down, every path answers 503.
    pub(crate) fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Requests for the JWKS so far.
    pub(crate) fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Requests for anything other than the JWKS and the discovery document.
    pub(crate) fn other_hits(&self) -> usize {
        self.state.other_hits.load(Ordering::SeqCst)
    }
}

async fn answer<B>(
    state: &IdPState,
    addr: SocketAddr,
    request: &Request<B>,
) -> Response<Full<Bytes>> {
    let delay = *state.delay.lock().unwrap();
    let body = match request.uri().path() {
        "/keys" => {
            state.jwks_hits.fetch_add(1, Ordering::SeqCst);
            state.jwks.lock().unwrap().to_string()
        }
        "/.well-known/openid-configuration" => json!({
            "issuer": *state.discovery_issuer.lock().unwrap(),
            "jwks_uri": format!("http://{addr}/keys"),
        })
        .to_string(),
        _ => {
            state.other_hits.fetch_add(1, Ordering::SeqCst);
            return status(StatusCode::NOT_FOUND);
        }
    };
    tokio::time::sleep(delay).await;
    if state.down.load(Ordering::SeqCst) {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    response
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
