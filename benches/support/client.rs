//! HTTP: raw hyper http1 connections, one request at a time each (keep-alive, no pipelining).

use std::net::SocketAddr;

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
    pub expected_len: usize,
    /// A header every answer must carry with this value (e.g. `X-Cache: HIT`).
    pub expected_header: Option<(HeaderName, HeaderValue)>,
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
            expected_len,
            expected_header: None,
        }
    }

    pub fn expecting(mut self, name: &'static str, value: &'static str) -> Self {
        self.expected_header = Some((
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
        self
    }
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
            Request::get(self.target.uri.clone()).header(HOST, self.target.host.clone());
        if let Some(auth) = &self.target.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let unexpected = self
            .target
            .expected_header
            .as_ref()
            .and_then(|(name, want)| {
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
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        if let Some(unexpected) = unexpected {
            return Err(unexpected);
        }
        if len != self.target.expected_len {
            return Err(format!(
                "body of {len} bytes, expected {}",
                self.target.expected_len
            ));
        }
        Ok(())
    }
}
