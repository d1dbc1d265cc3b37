//! The baseline: a bare hyper 1 HTTP/1.1 server answering every request with the same bytes and
//! Content-Type from memory. Nothing is parsed, checked or looked up; it is the ceiling any
//! hyper-based server on this core can reach. It runs as its own process, this bench binary
//! started again with [`ARG`], so that it can be pinned to core 1 like the others.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The argument that turns this bench into the bare server: `ARG listen body-file content-type`.
pub(crate) const ARG: &str = "--bare-hyper-server";

pub(crate) fn main(args: &[String]) -> ExitCode {
    match serve_args(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare hyper server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_args(args: &[String]) -> Result<(), String> {
    let [listen, body, content_type, ..] = args else {
        return Err(format!("usage: {ARG} LISTEN BODY-FILE CONTENT-TYPE"));
    };
    let listen: SocketAddr = listen.parse().map_err(|e| format!("{listen}: {e}"))?;
    let body = Bytes::from(std::fs::read(body).map_err(|e| format!("{body}: {e}"))?);
    let content_type = HeaderValue::from_str(content_type).map_err(|e| e.to_string())?;
    // Like casegate: a multi-threaded runtime, one worker per core it may use (one when pinned).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(listen, body, content_type))
}

async fn serve(listen: SocketAddr, body: Bytes, content_type: HeaderValue) -> Result<(), String> {
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
            std::future::ready(Ok::<_, Infallible>(response))
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
