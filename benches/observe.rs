//! What the observe layer adds to one request on the cache-hit path: the request counters and
//! histogram at the response head, the in-flight gauge and the body wrapper, and, when the
//! auditor has an output, the audit event (built, serialized as a JSON line and appended to a
//! batching writer thread's buffer, as `casegate serve` does). Compare each with `bare`, the
//! same inner service without the layer; the runtime and the body collection cost the same in
//! all three.
//!
//! `cargo bench --bench observe -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use casegate::audit::{AuditConfig, Auditor};
use casegate::params::{parse, GetReportQuery, Limits};
use casegate::policy::PolicyStore;
use casegate::server::observe::{note_query, ObserveLayer};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

const POLICY: &str = r#"
[[grant]]
name = "bench"
reports = [10800, 10801]
[grant.who]
sub = "bench"
"#;

/// The hit's body: the size of the example report after a grant's column rules.
fn body() -> Bytes {
    Bytes::from(vec![b'x'; 4335])
}

fn request(query: &GetReportQuery) -> Request<()> {
    let mut request = Request::get("/getreport?ReportId=10800&Format=json")
        .body(())
        .unwrap();
    request.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_static("0b8f5c2e-5d7a-4b8e-9c1f-3a2d4e6f8a90"),
    );
    request.extensions_mut().insert(query.clone());
    request
}

/// Counts what the audit writer was given, so the bench can tell the events were written.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One request through `service`, its body read to the end; the body's length.
fn serve_once<S, B>(
    runtime: &tokio::runtime::Runtime,
    service: &mut S,
    request: Request<()>,
) -> usize
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len()
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let store = Arc::new(PolicyStore::load(&dir.path().join("policy.toml")).unwrap());
    let query = parse(Some("ReportId=10800&Format=json"), None, &Limits::default()).unwrap();
    let hit = body();
    let inner = tower::service_fn(move |_request: Request<()>| {
        let hit = hit.clone();
        async move {
            let mut response = Response::new(Full::new(hit));
            response
                .headers_mut()
                .insert("x-cache", HeaderValue::from_static("HIT"));
            Ok::<_, Infallible>(response)
        }
    });
    let inner = ServiceBuilder::new()
        .map_request({
            let mut note = note_query();
            move |request: Request<()>| {
                note(&request);
                request
            }
        })
        .service(inner);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut bare = inner.clone();
    c.bench_function("bare", |b| {
        b.iter(|| black_box(serve_once(&runtime, &mut bare, request(&query))))
    });

    // As `casegate serve` writes audit.file: JSON lines, batched by a writer thread.
    let written = Counting::default();
    let (writer, guard) =
        casegate::log_writer::LineWriter::spawn("audit", written.clone()).expect("writer thread");
    let layer = |output: Option<casegate::log_writer::LineWriter>| {
        let config = AuditConfig {
            hash_key: Some(
                "bench-audit-key-0123456789abcdef0123456789"
                    .to_owned()
                    .into(),
            ),
            ..AuditConfig::default()
        };
        let auditor = Auditor::with_output(&config, output);
        ObserveLayer::new(Arc::clone(&store), Arc::new(auditor)).layer(inner.clone())
    };
    let mut observed = layer(None);
    c.bench_function("observe, no audit output", |b| {
        b.iter(|| black_box(serve_once(&runtime, &mut observed, request(&query))))
    });
    let mut audited = layer(Some(writer));
    c.bench_function("observe, audit event written", |b| {
        b.iter(|| black_box(serve_once(&runtime, &mut audited, request(&query))))
    });
    drop(audited);
    drop(guard);
    assert!(
        written.0.load(Ordering::Relaxed) > 0,
        "no audit event was written"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
