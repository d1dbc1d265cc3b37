//! The sandbox over real HTTP on loopback: a server on port 0 per test, hyper-util's client.

mod auth;
mod delay;
mod errors;
mod huge;
mod output;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{EncodingKey, Header};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{serve, SandboxConfig, DEMO_API_KEY, DEMO_SECRET_KEY};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A running sandbox and a client for it.
struct Harness {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

/// A response, read to the end.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// How many data frames the body arrived in.
    frames: usize,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    /// Asserts upstream's error shape and returns the error info.
    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("x-application-error-code"),
            Some(code),
            "{self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(self.text().starts_with("<html>"));
        self.header("x-application-error-info").unwrap()
    }
}

async fn start(config: SandboxConfig) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, config, async move {
        let _ = stop.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http();
    Harness {
        addr,
        client,
        shutdown,
        server,
    }
}

impl Harness {
    async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: &str) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let (parts, mut incoming) = response.into_parts();
        let (mut body, mut frames) = (Vec::new(), 0);
        while let Some(frame) = incoming.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                frames += 1;
                body.extend_from_slice(&data);
            }
        }
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.into(),
            frames,
        }
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, "").await
    }

    /// The token URL as the client calls it, which is the assertion's `aud`.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post_token(&self, path: &str, assertion: &str) -> Reply {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", assertion)
            .finish();
        self.request(Method::POST, path, None, &form).await
    }

    /// A token from the production-shape endpoint, with the demo credentials.
    async fn token(&self) -> String {
        let reply = self
            .post_token("/token", &demo_assertion(&self.url("/token")))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    }

    /// Stops the server and checks that `serve` returns cleanly.
    async fn stop(self) {
        drop(self.client);
        self.shutdown.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assertion(claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn demo_assertion(aud: &str) -> String {
    let claims = serde_json::json!({ "iss": DEMO_API_KEY, "aud": aud, "iat": now() });
    assertion(&claims, DEMO_SECRET_KEY)
}
