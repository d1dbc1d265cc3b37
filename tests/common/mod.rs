//! Shared by the integration tests: a fake iCasework on 127.0.0.1:0 that records every request,
//! a gateway started from a TOML configuration, and an HTTP client for both.
#![allow(dead_code, unreachable_pub)]

pub mod fault_proxy;
pub mod pki;
pub mod process;
pub mod redis_server;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// One request as the fake upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("", |p| p.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The host the request was for: `Host` (HTTP/1.1) or `:authority` (HTTP/2).
    pub fn host(&self) -> Option<&str> {
        self.header("host")
            .or_else(|| self.uri.authority().map(|a| a.as_str()))
    }
}

pub type Handler =
    Arc<dyn Fn(Recorded) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync>;

pub fn body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn response(status: u16, headers: &[(&str, &str)], bytes: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(body(bytes));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    r
}

pub const EXAMPLE_JSON: &str =
    "[{\"CaseDetails.CaseId\":\"453781\",\"Customer.FullName\":\"Bloggs, Fred\"}]";

/// A fake iCasework: `/token` hands out `tok-1`, `tok-2`, ... and `/getreport` answers with
/// `EXAMPLE_JSON`, unless the test gives its own handler.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub in_flight_peak: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        Self::with(default_handler_arc()).await
    }

    pub async fn with(handler: Handler) -> Self {
        Self::serve(handler, None).await
    }

    /// The same fake, serving HTTPS with `acceptor`.
    pub async fn with_tls(handler: Handler, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self::serve(handler, Some(acceptor)).await
    }

    async fn serve(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = oneshot::channel();
        let recorded = requests.clone();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight_peak = Arc::new(AtomicUsize::new(0));
        let peak = in_flight_peak.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = &mut stopped => return,
                };
                let handler = handler.clone();
                let recorded = recorded.clone();
                let in_flight = in_flight.clone();
                let peak = peak.clone();
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        let recorded = recorded.clone();
                        let in_flight = in_flight.clone();
                        let peak = peak.clone();
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let r = Recorded {
                                method: parts.method,
                                uri: parts.uri,
                                headers: parts.headers,
                                body,
                            };
                            recorded.lock().unwrap().push(r.clone());
                            let response = handler(r).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(response)
                        }
                    });
                let tls = tls.clone();
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            requests,
            in_flight_peak,
            _stop: stop,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn getreport_requests(&self) -> Vec<Recorded> {
        self.all()
            .into_iter()
            .filter(|r| r.uri.path() == "/getreport")
            .collect()
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.all()
            .into_iter()
            .filter(|r| r.uri.path() == "/token")
            .collect()
    }
}

static TOKENS: AtomicUsize = AtomicUsize::new(0);

/// A token response with a fresh token.
pub fn token_response(expires_in: u64) -> Response<Body> {
    let n = TOKENS.fetch_add(1, Ordering::SeqCst) + 1;
    response(
        200,
        &[("content-type", "application/json")],
        format!("{{\"access_token\":\"tok-{n}\",\"token_type\":\"Bearer\",\"expires_in\":{expires_in}}}"),
    )
}

/// [`default_handler`] as a [`Handler`].
pub fn default_handler_arc() -> Handler {
    Arc::new(|r| Box::pin(async move { default_handler(&r) }))
}

pub fn default_handler(r: &Recorded) -> Response<Body> {
    match r.uri.path() {
        "/token" => token_response(3600),
        "/getreport" => {
            let query = r.uri.query().unwrap_or_default();
            let (content_type, body) = if query.contains("Format=json") {
                ("application/json; charset=utf-8", EXAMPLE_JSON)
            } else if query.contains("Format=csv") && query.contains("CSVFooter=yes") {
                ("text/csv; charset=utf-8", EXAMPLE_CSV_FOOTER)
            } else if query.contains("Format=csv") {
                ("text/csv; charset=utf-8", EXAMPLE_CSV)
            } else {
                ("text/xml; charset=utf-8", EXAMPLE_XML)
            };
            response(200, &[("content-type", content_type)], body)
        }
        _ => response(404, &[], "not found"),
    }
}

pub const EXAMPLE_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"1\">\n<Row>\n<CaseDetails.CaseId>453781</CaseDetails.CaseId>\n<Customer.FullName>Bloggs, Fred</Customer.FullName>\n</Row>\n</Rows>";
pub const EXAMPLE_CSV_FOOTER: &str =
    "CaseDetails.CaseId,Customer.FullName\r\n453781,\"Bloggs, Fred\"\r\n1\r\n";
pub const EXAMPLE_CSV: &str = "CaseDetails.CaseId,Customer.FullName\r\n453781,\"Bloggs, Fred\"\r\n";

/// A handler that answers `/token` normally and GetReport with `f`.
pub fn on_getreport(f: impl Fn(&Recorded) -> Response<Body> + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |r| {
        let f = f.clone();
        Box::pin(async move {
            if r.uri.path() == "/token" {
                token_response(3600)
            } else {
                f(&r)
            }
        })
    })
}

/// A handler that answers `/token` normally and GetReport with the async `f`.
pub fn on_getreport_async<F, Fut>(f: F) -> Handler
where
    F: Fn(Recorded) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |r| {
        let f = f.clone();
        Box::pin(async move {
            if r.uri.path() == "/token" {
                token_response(3600)
            } else {
                f(r).await
            }
        })
    })
}

/// A handler that answers `/token` with `f` and GetReport normally.
pub fn on_token(f: impl Fn(&Recorded) -> Response<Body> + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |r| {
        let f = f.clone();
        Box::pin(async move {
            if r.uri.path() == "/token" {
                f(&r)
            } else {
                default_handler(&r)
            }
        })
    })
}

/// The default handler, but requests to `path` wait `delay` before the answer.
pub fn slow_on(path: &'static str, delay: std::time::Duration) -> Handler {
    Arc::new(move |r| {
        Box::pin(async move {
            if r.uri.path() == path {
                tokio::time::sleep(delay).await;
            }
            default_handler(&r)
        })
    })
}

/// An iCasework error: status, both `X-Application-Error-*` headers and an HTML body.
pub fn icasework_error(status: u16, code: &str, info: &str) -> Response<Body> {
    response(
        status,
        &[
            ("x-application-error-code", code),
            ("x-application-error-info", info),
            ("content-type", "text/html"),
        ],
        "<html><body>error</body></html>",
    )
}

/// A fake upstream with `handler` and a gateway in front of it.
pub async fn start_pair(
    handler: Handler,
    upstream_extra: &str,
    credential_extra: &str,
) -> (FakeUpstream, TestGateway) {
    let upstream = FakeUpstream::with(handler).await;
    let toml = config_toml(&upstream.base_url(), upstream_extra, credential_extra);
    let gateway = TestGateway::start(&toml).await;
    (upstream, gateway)
}

/// Configuration of a gateway in front of `base_url`, with `extra` TOML appended to
/// `[upstream]` (before the credential table).
pub fn config_toml(base_url: &str, upstream_extra: &str, credential_extra: &str) -> String {
    format!(
        r#"
policy = "policy.toml"

[server]
listen = "127.0.0.1:0"

[upstream]
environment = "production"
account = "exampleco"
base_url = "{base_url}"
{upstream_extra}

[upstream.credential]
api_key = {{ file = "api-key" }}
secret_key = {{ file = "secret-key" }}
{credential_extra}

{AUTH_TOML}

[admin]
listen = "127.0.0.1:0"
token = {{ file = "admin-token" }}
"#
    )
}

/// The callers' identity provider in the tests: HS256 tokens signed with `CALLER_SECRET`.
pub const ISSUER: &str = "https://idp.test.casegate";
pub const AUDIENCE: &str = "casegate";
pub const CALLER_SECRET: &str = "test-caller-hmac-secret-5b1e9d0c7a3f4e21";
pub const AUTH_TOML: &str = r#"[auth]
[[auth.issuers]]
issuer = "https://idp.test.casegate"
audiences = ["casegate"]
algorithms = ["HS256"]
hmac_secret = { file = "caller-hmac" }
"#;

/// The tests' policy: the test caller may read every report, never cached (tests that count
/// upstream requests rely on it; the cache tests bring their own grants).
pub const POLICY: &str = r#"
[[grant]]
name = "tests"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.limits]
cache_ttl = "0s"
"#;

/// A token for `sub` from the tests' identity provider, valid for an hour.
pub fn token_for(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(CALLER_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The test caller's token (made once per test binary).
pub fn caller_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| token_for("test-caller"))
}

/// The admin listener's token in the tests.
pub const ADMIN_TOKEN: &str = "test-admin-token-4d2c";

pub const API_KEY: &str = "test-api-key-7f3a";
pub const SECRET_KEY: &str = "test-secret-key-9c41e0";

/// A gateway serving on 127.0.0.1:0 until dropped.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub gateway_upstream: casegate::upstream::Upstream,
    pub policy: Arc<casegate::policy::PolicyStore>,
    /// The gateway's response cache, when it is on (a handle to the same store).
    pub cache: Option<casegate::cache::ResponseCache>,
    dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl TestGateway {
    pub async fn start(toml: &str) -> Self {
        Self::start_with_secrets(toml, API_KEY, SECRET_KEY).await
    }

    pub async fn start_with_secrets(toml: &str, api_key: &str, secret_key: &str) -> Self {
        Self::start_in(toml, &[("api-key", api_key), ("secret-key", secret_key)]).await
    }

    /// With extra files beside the configuration (the default secrets included).
    pub async fn start_with_files(toml: &str, files: &[(&str, &str)]) -> Self {
        Self::start_in(toml, files).await
    }

    async fn start_in(toml: &str, files: &[(&str, &str)]) -> Self {
        Self::start_in_dir(tempfile::tempdir().unwrap(), toml, files).await
    }

    /// In `dir`, which the test may have prepared (with a symlink, say); default files that
    /// are already there are kept.
    pub async fn start_in_dir(dir: tempfile::TempDir, toml: &str, files: &[(&str, &str)]) -> Self {
        let path = write_config_dir(dir.path(), toml, files);
        let config = casegate::Config::load(&path).unwrap_or_else(|p| panic!("{p}"));
        let gateway = casegate::Gateway::new(&config).await.unwrap();
        let gateway_upstream = gateway.upstream().clone();
        let policy = gateway.policy().clone();
        let cache = gateway.cache().cloned();
        let listeners = gateway.bind().await.unwrap();
        let addr = listeners.public.local_addr().unwrap();
        let admin_addr = listeners.admin.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listeners, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            admin_addr,
            gateway_upstream,
            policy,
            cache,
            dir,
            _stop: stop,
        }
    }

    /// The folder holding the configuration, the policy and the secrets.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }
}

/// Writes `toml` as `casegate.toml` into `dir` with `files` and the tests' default secrets
/// and policy (those already there are kept); returns the configuration's path.
pub fn write_config_dir(
    dir: &std::path::Path,
    toml: &str,
    files: &[(&str, &str)],
) -> std::path::PathBuf {
    let defaults = [
        ("api-key", API_KEY),
        ("secret-key", SECRET_KEY),
        ("caller-hmac", CALLER_SECRET),
        ("policy.toml", POLICY),
        ("admin-token", ADMIN_TOKEN),
    ];
    for (name, content) in defaults.iter().filter(|(n, _)| !dir.join(n).exists()) {
        std::fs::write(dir.join(name), content).unwrap();
    }
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let path = dir.join("casegate.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A whole response, read to the end (or to the error that cut it off).
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body ended with an error instead of cleanly.
    pub aborted: bool,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn get(url: &str) -> Got {
    send(Request::get(url).body(Full::default()).unwrap()).await
}

/// Sends `request` as the test caller: with its token unless the request has an Authorization
/// header already.
pub async fn send(mut request: Request<Full<Bytes>>) -> Got {
    if !request.headers().contains_key("authorization") {
        let bearer = format!("Bearer {}", caller_token());
        request
            .headers_mut()
            .insert("authorization", bearer.parse().unwrap());
    }
    send_as_is(request).await
}

/// Sends `request` exactly as given (no token added).
pub async fn send_as_is(request: Request<Full<Bytes>>) -> Got {
    try_send(request).await.unwrap()
}

/// Sends `request` as given; `Err` when the connection ends before a response head arrives.
pub async fn try_send(
    request: Request<Full<Bytes>>,
) -> Result<Got, hyper_util::client::legacy::Error> {
    let response = client().request(request).await?;
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    let mut aborted = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    bytes.extend_from_slice(&d);
                }
            }
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Ok(Got {
        status: parts.status,
        headers: parts.headers,
        body: bytes.into(),
        aborted,
    })
}

/// The text of a gzip body (panics if it is not gzip).
pub fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut plain = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut plain)
        .expect("a gzip body");
    plain
}

/// Sends raw bytes (for requests no well-behaved client would build) and returns the raw answer.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}
