//! HTTP: raw hyper http1 connections, one request at a time each (keep-alive, no pipelining).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::REQUEST_TIMEOUT;

pub async fn handshake<B>(addr: SocketAddr) -> Result<SendRequest<B>, String>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request on a fresh connection, its whole answer whatever the status.
pub async fn send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, String> {
    let mut sender = handshake::<Full<Bytes>>(addr).await?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// One GET on a fresh connection; anything but `200` is an error that shows the body.
pub async fn get(
    addr: SocketAddr,
    uri: &str,
    auth: Option<&HeaderValue>,
) -> Result<Response<Bytes>, String> {
    let mut request = Request::get(uri).header(HOST, addr.to_string());
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    let request = request.body(Full::default()).map_err(|e| e.to_string())?;
    let response = send(addr, request).await?;
    if response.status() != StatusCode::OK {
        return Err(format!(
            "GET http://{addr}{uri}: {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        ));
    }
    Ok(response)
}

pub async fn get_body(
    addr: SocketAddr,
    uri: &str,
    auth: Option<&HeaderValue>,
) -> Result<Bytes, String> {
    Ok(get(addr, uri, auth).await?.into_body())
}

/// Where a path's requests go and what a correct answer looks like.
#[derive(Clone)]
pub struct Target {
    pub label: &'static str,
    pub addr: SocketAddr,
    pub host: HeaderValue,
    pub uri: Uri,
    pub authorization: Option<HeaderValue>,
    /// More request headers (e.g. `Accept-Encoding: gzip`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// When set, every request appends `&{name}={unique value}` to the query, so that no two
    /// requests share a cache key: every one is a miss.
    pub unique_param: Option<&'static str>,
    pub expected_status: StatusCode,
    /// `None`: any length (error bodies carry a request id).
    pub expected_len: Option<usize>,
    /// Headers every answer must carry with these values (e.g. `X-Cache: HIT`).
    pub expected_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Target {
    pub fn new(
        label: &'static str,
        addr: SocketAddr,
        uri: &str,
        authorization: Option<&HeaderValue>,
        expected_len: usize,
    ) -> Self {
        Self {
            label,
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("host header"),
            uri: uri.parse().expect("uri"),
            authorization: authorization.cloned(),
            headers: Vec::new(),
            unique_param: None,
            expected_status: StatusCode::OK,
            expected_len: Some(expected_len),
            expected_headers: Vec::new(),
        }
    }

    pub fn expecting(mut self, name: &'static str, value: &'static str) -> Self {
        self.expected_headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
        self
    }

    /// Every answer must be `status`, of any length (error bodies differ per request).
    pub fn expecting_status(mut self, status: StatusCode) -> Self {
        self.expected_status = status;
        self.expected_len = None;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
        self
    }

    /// Every request a miss: see [`Target::unique_param`].
    pub fn unique(mut self, param: &'static str) -> Self {
        self.unique_param = Some(param);
        self
    }

    /// The URI of one request: the target's, or with a never-repeated parameter value.
    fn request_uri(&self) -> Uri {
        let Some(param) = self.unique_param else {
            return self.uri.clone();
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let run = std::process::id();
        format!("{}&{param}=u{run}x{n}", self.uri)
            .parse()
            .expect("uri with a unique parameter")
    }
}

/// One request to `target` as its connections send them, on a fresh connection, the whole
/// answer whatever the status: to learn what a correct answer looks like before the load.
pub async fn fetch_once(target: &Target) -> Result<Response<Bytes>, String> {
    let mut request = Request::get(target.request_uri()).header(HOST, target.host.clone());
    if let Some(auth) = &target.authorization {
        request = request.header(AUTHORIZATION, auth.clone());
    }
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::default()).map_err(|e| e.to_string())?;
    send(target.addr, request).await
}

/// One keep-alive connection; reconnects after a failure so one error does not end the run.
pub struct Conn {
    pub target: Target,
    pub sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Conn {
    pub async fn open(target: &Target) -> Result<Self, String> {
        let sender = Some(handshake(target.addr).await?);
        Ok(Self {
            target: target.clone(),
            sender,
        })
    }

    pub async fn request(&mut self) -> Result<(), String> {
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, self.try_request()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no complete response within {REQUEST_TIMEOUT:?}")),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    pub async fn try_request(&mut self) -> Result<(), String> {
        if self.sender.is_none() {
            self.sender = Some(handshake(self.target.addr).await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let mut request =
            Request::get(self.target.request_uri()).header(HOST, self.target.host.clone());
        if let Some(auth) = &self.target.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        for (name, value) in &self.target.headers {
            request = request.header(name, value);
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let unexpected = self
            .target
            .expected_headers
            .iter()
            .find_map(|(name, want)| {
                let got = response.headers().get(name);
                (got != Some(want)).then(|| {
                    let got =
                        got.map_or("(absent)".into(), |v| String::from_utf8_lossy(v.as_bytes()));
                    format!("{name}: {got} (expected {})", want.to_str().unwrap_or("?"))
                })
            });
        let mut body = response.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            len += frame.data_ref().map_or(0, Bytes::len);
        }
        if status != self.target.expected_status {
            return Err(format!("status {status}"));
        }
        if let Some(unexpected) = unexpected {
            return Err(unexpected);
        }
        match self.target.expected_len {
            Some(expected) if len != expected => {
                Err(format!("body of {len} bytes, expected {expected}"))
            }
            _ => Ok(()),
        }
    }
}
