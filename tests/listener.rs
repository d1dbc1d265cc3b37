//! The public listener's header read timeout over plain HTTP/1.1 (`server.header_read_timeout`):
//! a client that does not finish a request head in time is disconnected, on a fresh connection
//! and on one that has served requests, and never sooner; so is a connection left idle; a
//! request that takes longer than the timeout does not cost the connection its next one. (The TLS handshake's share of the
//! timeout is in `listener_tls.rs`.)

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::process::PATIENCE;
use common::*;

const TIMEOUT: Duration = Duration::from_secs(1);
/// The timer's rounding (tokio's timer ticks in milliseconds); never the machine's load, since
/// every measurement starts before the gateway's clock does.
const SLACK: Duration = Duration::from_millis(20);

async fn gateway(handler: Handler) -> (FakeUpstream, TestGateway) {
    let upstream = FakeUpstream::with(handler).await;
    let toml = config_toml(&upstream.base_url(), "", "").replace(
        "listen = \"127.0.0.1:0\"\n\n[upstream]",
        "listen = \"127.0.0.1:0\"\nheader_read_timeout = \"1s\"\n\n[upstream]",
    );
    assert!(toml.contains("header_read_timeout"), "{toml}");
    (upstream, TestGateway::start(&toml).await)
}

/// Sends one whole request for `path` as the test caller and reads its whole answer (by its
/// length, or to the last chunk); returns the status line.
async fn ask(stream: &mut TcpStream, path: &str) -> String {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: casegate.test\r\nAuthorization: Bearer {}\r\n\r\n",
        caller_token()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = text[..end].to_ascii_lowercase();
        let complete = match head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            Some(length) => got.len() >= end + 4 + length.trim().parse::<usize>().unwrap(),
            None => {
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                got.ends_with(b"\r\n0\r\n\r\n")
            }
        };
        if complete {
            return text.lines().next().unwrap().to_owned();
        }
    }
}

/// Sends the start of a request head a byte at a time, every 200 ms, and returns how long
/// after `started` the gateway closed the connection (failing after `PATIENCE`). `started` is
/// taken before whatever starts the gateway's clock for this head (the connection, or the
/// request before it), so on a busy machine the figure can only come out longer.
async fn drip_until_closed(stream: &mut TcpStream, started: Instant) -> Duration {
    let head = b"GET /getreport?ReportId=1 HTTP/1.1\r\nHost: casegate.test\r\nX-Padding: ";
    let mut buf = [0u8; 256];
    for byte in head.iter().chain(std::iter::repeat(&b'a')) {
        assert!(started.elapsed() < PATIENCE, "never disconnected");
        if stream.write_all(&[*byte]).await.is_err() {
            return started.elapsed();
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Err(_) => {}
            // Closed (the gateway may answer 408 before it closes).
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {
                let rest = stream.read(&mut buf).await.unwrap_or(0);
                assert_eq!(rest, 0, "only a closing answer");
                return started.elapsed();
            }
        }
    }
    unreachable!()
}

#[tokio::test]
async fn a_head_that_never_ends_is_disconnected_after_the_timeout() {
    let (_upstream, gateway) = gateway(default_handler_arc()).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    let after = drip_until_closed(&mut stream, started).await;
    assert!(after >= TIMEOUT - SLACK, "{after:?}");
}

#[tokio::test]
async fn each_head_on_a_kept_alive_connection_gets_the_timeout_again() {
    let (_upstream, gateway) = gateway(default_handler_arc()).await;
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    // Requests spread over more than the timeout: each head is timed from its own start.
    let mut started = Instant::now();
    for n in 0..8 {
        if n > 0 {
            tokio::time::sleep(TIMEOUT / 4).await;
        }
        started = Instant::now();
        let status = ask(&mut stream, "/nothing-here").await;
        assert_eq!(status, "HTTP/1.1 404 Not Found");
    }
    // ...and a head that never ends is still cut off, not sooner than the timeout after the
    // last answer (the gateway starts the clock once it has sent it).
    let after = drip_until_closed(&mut stream, started).await;
    assert!(after >= TIMEOUT - SLACK, "{after:?}");
}

#[tokio::test]
async fn a_request_longer_than_the_timeout_keeps_its_connection_and_its_timeout() {
    let (upstream, gateway) = gateway(slow_on("/getreport", TIMEOUT * 5 / 2)).await;
    let mut stream = TcpStream::connect(gateway.addr).await.unwrap();
    // The slow one first (the timeout passes while it runs), then two more on the connection.
    let status = ask(&mut stream, "/getreport?ReportId=1").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let status = ask(&mut stream, "/getreport?ReportId=2").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let started = Instant::now();
    let status = ask(&mut stream, "/nothing-here").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert_eq!(upstream.getreport_requests().len(), 2);
    // The timeout still holds for the next head, which never starts: an idle connection is
    // closed too (nothing from the client wakes the gateway's side of it meanwhile).
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "closed, no answer: {read:?}"
    );
    let after = started.elapsed();
    assert!(after >= TIMEOUT - SLACK, "{after:?}");
}
