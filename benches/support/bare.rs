//! The baseline: a bare hyper 1 HTTP/1.1 server answering every request with the same bytes and
//! Content-Type from memory, optionally after a fixed delay (an upstream's time to answer).
//! Nothing is parsed, checked or looked up; it is the ceiling any hyper-based server on this
//! core can reach. It runs as its own process, the bench binary started again with [`ARG`] (a
//! bench that uses it calls [`main_if_asked`] first), so that it can be pinned to core 1 like
//! the others.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::procs::Server;
use super::served::Body;

/// The argument that turns a bench into the bare server:
/// `ARG listen body-file content-type [delay-ms]`.
pub const ARG: &str = "--bare-hyper-server";

/// When this process was started as the bare server, serves until killed and returns its exit
/// code; otherwise `None`.
pub fn main_if_asked() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == ARG)?;
    Some(match serve_args(&args[i + 1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare hyper server: {e}");
            ExitCode::FAILURE
        }
    })
}

/// The arguments after [`ARG`] for a server on `listen` serving `body` (a file) as
/// `content_type`, each answer `delay` after its request.
fn args(listen: SocketAddr, body: &Path, content_type: &str, delay: Duration) -> Vec<String> {
    vec![
        ARG.to_owned(),
        listen.to_string(),
        body.to_string_lossy().into_owned(),
        content_type.to_owned(),
        delay.as_millis().to_string(),
    ]
}

fn serve_args(args: &[String]) -> Result<(), String> {
    let [listen, body, content_type, rest @ ..] = args else {
        return Err(format!(
            "usage: {ARG} LISTEN BODY-FILE CONTENT-TYPE [DELAY-MS]"
        ));
    };
    let delay = match rest.first() {
        Some(ms) => Duration::from_millis(ms.parse().map_err(|e| format!("{ms}: {e}"))?),
        None => Duration::ZERO,
    };
    let listen: SocketAddr = listen.parse().map_err(|e| format!("{listen}: {e}"))?;
    let body = Bytes::from(std::fs::read(body).map_err(|e| format!("{body}: {e}"))?);
    let content_type = HeaderValue::from_str(content_type).map_err(|e| e.to_string())?;
    // Like casegate: a multi-threaded runtime, one worker per core it may use (one when pinned).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(listen, body, content_type, delay))
}

async fn serve(
    listen: SocketAddr,
    body: Bytes,
    content_type: HeaderValue,
    delay: Duration,
) -> Result<(), String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("bind {listen}: {e}"))?;
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (body, content_type) = (body.clone(), content_type.clone());
        let service = service_fn(move |_: Request<Incoming>| {
            let mut response = Response::new(Full::new(body.clone()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Starts this bench binary again as a bare server on `listen` serving `body` (written to
/// `dir/{name}.body`), each answer `delay` after its request; returns once it listens.
/// `(pinned, lifetime)` as [`Server::spawn`].
pub fn spawn(
    dir: &Path,
    name: &str,
    listen: SocketAddr,
    body: &Body,
    delay: Duration,
    (pinned, lifetime): (bool, Duration),
) -> Result<Server, String> {
    let file = dir.join(format!("{name}.body"));
    std::fs::write(&file, &body.bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("this bench's path: {e}"))?;
    let content_type = body.content_type.to_str().map_err(|e| e.to_string())?;
    let args = args(listen, &file, content_type, delay);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::spawn(name, &exe.to_string_lossy(), &args, pinned, lifetime, dir)?;
    server.wait_ready(listen)?;
    Ok(server)
}
