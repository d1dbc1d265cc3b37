//! A credential for calling the sandbox directly: an OAuth access token, as casegate gets one
//! (`added_latency`'s direct path, `compare`'s nginx in front of the sandbox).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY};
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request};
use http_body_util::Full;

use super::client::send;

/// `Bearer <access token>` from the sandbox at `sandbox`.
pub async fn fetch_token(sandbox: SocketAddr) -> Result<HeaderValue, String> {
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
    let request = Request::post(path)
        .header(HOST, sandbox.to_string())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| e.to_string())?;
    let response = send(sandbox, request)
        .await
        .map_err(|e| format!("token: {e}"))?;
    let (status, body) = (response.status(), response.body());
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("token response ({status}): {e}"))?;
    let token = json["access_token"]
        .as_str()
        .ok_or(format!("no access_token in the token response ({status})"))?;
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())
}
