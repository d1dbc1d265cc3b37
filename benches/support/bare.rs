//! The baseline: a bare hyper 1 HTTP/1.1 server answering every request with the same bytes and
//! Content-Type from memory, optionally after a fixed delay (an upstream's time to answer) or
//! after a fixed amount of busy work (a calibration: what a server that does that much more
//! per request than nothing gets in the same bench).
//! Nothing is parsed, checked or looked up; it is the ceiling any hyper-based server on this
//! core can reach. It runs as its own process, the bench binary started again with [`ARG`] (a
//! bench that uses it calls [`main_if_asked`] first), so that it can be pinned to core 1 like
//! the others.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
/// `ARG listen body-file content-type [delay-ms [work-ns]]`.
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

/// How the bare server paces its answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pace {
    /// Waited (asleep) before each answer: an upstream's time to answer.
    pub delay: Duration,
    /// Spent busy on the server's core before each answer.
    pub work: Duration,
}

impl Pace {
    pub fn delay(delay: Duration) -> Pace {
        Pace {
            delay,
            work: Duration::ZERO,
        }
    }
}

/// The arguments after [`ARG`] for a server on `listen` serving `body` (a file) as
/// `content_type`, each answer paced by `pace`.
fn args(listen: SocketAddr, body: &Path, content_type: &str, pace: Pace) -> Vec<String> {
    vec![
        ARG.to_owned(),
        listen.to_string(),
        body.to_string_lossy().into_owned(),
        content_type.to_owned(),
        pace.delay.as_millis().to_string(),
        pace.work.as_nanos().to_string(),
    ]
}

fn serve_args(args: &[String]) -> Result<(), String> {
    let [listen, body, content_type, rest @ ..] = args else {
        return Err(format!(
            "usage: {ARG} LISTEN BODY-FILE CONTENT-TYPE [DELAY-MS [WORK-NS]]"
        ));
    };
    let number = |i: usize| -> Result<u64, String> {
        rest.get(i)
            .map_or(Ok(0), |n| n.parse().map_err(|e| format!("{n}: {e}")))
    };
    let pace = Pace {
        delay: Duration::from_millis(number(0)?),
        work: Duration::from_nanos(number(1)?),
    };
    let listen: SocketAddr = listen.parse().map_err(|e| format!("{listen}: {e}"))?;
    let body = Bytes::from(std::fs::read(body).map_err(|e| format!("{body}: {e}"))?);
    let content_type = HeaderValue::from_str(content_type).map_err(|e| e.to_string())?;
    // Like casegate: a multi-threaded runtime, one worker per core it may use (one when pinned).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(listen, body, content_type, pace))
}

async fn serve(
    listen: SocketAddr,
    body: Bytes,
    content_type: HeaderValue,
    Pace { delay, work }: Pace,
) -> Result<(), String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("bind {listen}: {e}"))?;
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (body, content_type) = (body.clone(), content_type.clone());
        let service = service_fn(move |_: Request<Incoming>| {
            if !work.is_zero() {
                let started = Instant::now();
                while started.elapsed() < work {
                    std::hint::spin_loop();
                }
            }
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
/// `dir/{name}.body`), each answer paced by `pace`; returns once it listens.
/// `(pinned, lifetime)` as [`Server::spawn`].
pub fn spawn(
    dir: &Path,
    name: &str,
    listen: SocketAddr,
    body: &Body,
    pace: Pace,
    (pinned, lifetime): (bool, Duration),
) -> Result<Server, String> {
    let file = dir.join(format!("{name}.body"));
    std::fs::write(&file, &body.bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("this bench's path: {e}"))?;
    let content_type = body.content_type.to_str().map_err(|e| e.to_string())?;
    let args = args(listen, &file, content_type, pace);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::spawn(name, &exe.to_string_lossy(), &args, pinned, lifetime, dir)?;
    server.wait_ready(listen)?;
    Ok(server)
}
