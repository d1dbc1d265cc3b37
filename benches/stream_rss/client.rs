//! The bench's HTTP client: the report straight from the sandbox, and through the gateway with
//! the caller's token, read to the end, counted and checked.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use casegate::sandbox::{DEMO_ACCOUNT, DEMO_API_KEY, DEMO_SECRET_KEY, REPORT_HUGE};
use http::header::{ACCEPT_ENCODING, AUTHORIZATION};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use md5::{Digest, Md5};

use super::gateway::{CALLER_SECRET, ISSUER};
use super::{query, HttpClient};

/// What one streamed body was.
pub(crate) struct Streamed {
    /// Bytes on the wire.
    pub(crate) wire: u64,
    /// Bytes once inflated (the same as `wire` for an identity body).
    pub(crate) plain: u64,
    pub(crate) seconds: f64,
}

/// The report straight from the sandbox as the gateway asks for it (gzip): its size on the wire
/// and inflated.
pub(crate) async fn direct(
    client: &HttpClient,
    sandbox: SocketAddr,
    format: &str,
) -> Result<Streamed, String> {
    // Key + Signature: md5hex({ReportId}{today, UTC}{secret key}).
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let signature = Md5::new()
        .chain_update(REPORT_HUGE.to_string())
        .chain_update(today)
        .chain_update(DEMO_SECRET_KEY)
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let url = format!(
        "http://{sandbox}/getreport?db={DEMO_ACCOUNT}&{}&Compression=gzip&Key={DEMO_API_KEY}&Signature={signature}",
        query(format)
    );
    let request = Request::get(url)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let mut check = Check::new(format);
    let streamed = read(client, request, true, &mut check).await?;
    // The e-mail addresses are there before redaction: the check on the way out means something.
    if check.at_signs == 0 {
        return Err(format!("the unredacted {format} report holds no @"));
    }
    Ok(streamed)
}

/// The report through the gateway, checked.
pub(crate) async fn through(
    client: &HttpClient,
    url: &str,
    bearer: &str,
    format: &str,
    caller_gzip: bool,
) -> Result<Streamed, String> {
    let mut request = Request::get(url).header(AUTHORIZATION, bearer);
    if caller_gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
    let mut check = Check::new(format);
    let streamed = read(client, request, caller_gzip, &mut check).await?;
    check.verdict()?;
    Ok(streamed)
}

/// Reads a 200 response to its end, inflating it into `check` when `gzip`.
async fn read(
    client: &HttpClient,
    request: Request<Empty<Bytes>>,
    gzip: bool,
    check: &mut Check,
) -> Result<Streamed, String> {
    let started = Instant::now();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        return Err(format!("{status}: {:?}", body.unwrap_or_default()));
    }
    let mut body = response.into_body();
    let mut wire = 0;
    let mut inflate = gzip.then(|| flate2::write::GzDecoder::new(Vec::new()));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the body broke off after {wire} bytes: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        wire += data.len() as u64;
        match &mut inflate {
            None => check.feed(&data),
            Some(decoder) => {
                decoder.write_all(&data).map_err(|e| format!("gzip: {e}"))?;
                check.feed(decoder.get_ref());
                decoder.get_mut().clear();
            }
        }
    }
    if let Some(decoder) = inflate {
        check.feed(&decoder.finish().map_err(|e| format!("gzip: {e}"))?);
    }
    Ok(Streamed {
        wire,
        plain: check.bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Cheap checks on a streamed report: its size, its last bytes, no `@` anywhere after redaction,
/// and in its first 64 KiB the hashed column but no dropped one.
struct Check {
    format: String,
    bytes: u64,
    at_signs: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Check {
    fn new(format: &str) -> Self {
        Self {
            format: format.to_owned(),
            bytes: 0,
            at_signs: 0,
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.at_signs += memchr::memchr_iter(b'@', data).count() as u64;
        let room = (64 * 1024usize).saturating_sub(self.head.len());
        self.head.extend_from_slice(&data[..room.min(data.len())]);
        self.tail.extend_from_slice(data);
        let excess = self.tail.len().saturating_sub(16);
        self.tail.drain(..excess);
    }

    fn verdict(&self) -> Result<(), String> {
        let end: &[u8] = match self.format.as_str() {
            "xml" => b"</Rows>",
            "json" => b"\n]",
            _ => b"\r\n",
        };
        let head = String::from_utf8_lossy(&self.head);
        let problems = [
            (!self.tail.ends_with(end), "does not end the document"),
            (self.at_signs > 0, "holds an @"),
            (
                !head.contains("Customer.EmailAddress"),
                "lacks the hashed column",
            ),
            (head.contains("Customer.FullName"), "holds a dropped column"),
        ];
        match problems.iter().find(|(bad, _)| *bad) {
            Some((_, what)) => Err(format!("the {} report {what}", self.format)),
            None => Ok(()),
        }
    }
}

/// The bench caller's token: HS256 from the identity provider the gateway is configured with.
pub(crate) fn caller_bearer() -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": "casegate", "sub": "bench-caller", "iat": now, "exp": now + 7200,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(CALLER_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
        .map(|token| format!("Bearer {token}"))
        .map_err(|e| e.to_string())
}
