//! HTTP: raw hyper http1 connections, one request at a time each (keep-alive, no pipelining).

use super::*;

pub(crate) async fn handshake<B>(addr: SocketAddr) -> Result<SendRequest<B>, String>
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

/// A direct call needs what the gateway has: an OAuth access token from the sandbox.
pub(crate) async fn fetch_token(sandbox: SocketAddr) -> Result<HeaderValue, String> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        aud: &'a str,
        iat: u64,
        exp: u64,
    }
    let path = format!("/token?db={DEMO_ACCOUNT}");
    let aud = format!("http://{sandbox}{path}");
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        iss: DEMO_API_KEY,
        aud: &aud,
        iat,
        exp: iat + 3600,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(DEMO_SECRET_KEY.as_bytes());
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
        .map_err(|e| e.to_string())?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &jwt)
        .finish();
    let mut sender = handshake::<Full<Bytes>>(sandbox).await?;
    let request = Request::post(path)
        .header(HOST, sandbox.to_string())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("token: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("token response ({status}): {e}"))?;
    let token = json["access_token"]
        .as_str()
        .ok_or(format!("no access_token in the token response ({status})"))?;
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())
}

pub(crate) async fn get_body(
    addr: SocketAddr,
    uri: &str,
    auth: Option<&HeaderValue>,
) -> Result<Bytes, String> {
    let mut sender = handshake::<Empty<Bytes>>(addr).await?;
    let mut request = Request::get(uri).header(HOST, addr.to_string());
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    let response = sender
        .send_request(request.body(Empty::new()).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!(
            "GET http://{addr}{uri}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(body)
}

/// Where a path's requests go and what a correct answer looks like.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) label: &'static str,
    pub(crate) addr: SocketAddr,
    pub(crate) host: HeaderValue,
    pub(crate) uri: Uri,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) expected_len: usize,
}

/// One keep-alive connection; reconnects after a failure so one error does not end the run.
pub(crate) struct Conn {
    pub(crate) target: Target,
    pub(crate) sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Conn {
    pub(crate) async fn open(target: &Target) -> Result<Self, String> {
        let sender = Some(handshake(target.addr).await?);
        Ok(Self {
            target: target.clone(),
            sender,
        })
    }

    pub(crate) async fn request(&mut self) -> Result<(), String> {
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, self.try_request()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no complete response within {REQUEST_TIMEOUT:?}")),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    pub(crate) async fn try_request(&mut self) -> Result<(), String> {
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
        let mut body = response.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            len += frame.data_ref().map_or(0, Bytes::len);
        }
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
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
