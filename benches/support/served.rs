//! What a server served: the body every target of a comparison must serve alike, and the checks
//! made while the caches warm up (a failure shows the server's log).

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};

use super::client::get;
use super::procs::Server;

/// A body and its Content-Type, as one target served it.
pub struct Body {
    pub bytes: Bytes,
    pub content_type: HeaderValue,
}

impl Body {
    pub fn of(response: Response<Bytes>, who: &str) -> Result<Self, String> {
        Ok(Self {
            content_type: response
                .headers()
                .get(CONTENT_TYPE)
                .cloned()
                .ok_or(format!("{who}'s answer has no Content-Type"))?,
            bytes: response.into_body(),
        })
    }
}

/// One GET to `server` with the caller's token; anything but 200 is an error with its log.
pub async fn fetch(
    addr: SocketAddr,
    server: &Server,
    uri: &str,
    caller: &HeaderValue,
) -> Result<Response<Bytes>, String> {
    get(addr, uri, Some(caller))
        .await
        .map_err(|e| server.with_log(&e))
}

pub fn expect_header(
    response: &Response<Bytes>,
    name: &str,
    value: &str,
    server: &Server,
) -> Result<(), String> {
    match response.headers().get(name) {
        Some(v) if v == value => Ok(()),
        other => Err(server.with_log(&format!(
            "warming the cache: {name} is {other:?} on the second request, expected {value}"
        ))),
    }
}

pub fn same_bytes(response: &Response<Bytes>, body: &Body, who: &str) -> Result<(), String> {
    if response.body() != &body.bytes {
        return Err(format!(
            "{who} served {} bytes, not casegate's {}",
            response.body().len(),
            body.bytes.len()
        ));
    }
    if response.headers().get(CONTENT_TYPE) != Some(&body.content_type) {
        return Err(format!(
            "{who} served Content-Type {:?}, not casegate's {:?}",
            response.headers().get(CONTENT_TYPE),
            body.content_type
        ));
    }
    Ok(())
}
