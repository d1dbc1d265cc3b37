//! Redaction throughput per format on a 100,000-row report (the sandbox's large-report generator:
//! ~586 MB of XML, ~396 MB of JSON, ~137 MB of CSV), each beside the bare parser reading the
//! same bytes in the same run. The workloads (grant, chunking, parsers) are in
//! `benches/support/redaction.rs`, shared with `compare`'s short redaction rows.
//!
//! `cargo bench --bench redact` (or `-- csv`, `-- xml`, `-- json` for one format). `ROWS=10000`
//! makes a quicker, smaller run.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

#[path = "support/mod.rs"]
mod support;

use support::redaction::{bare_parser, parse, redact, report, CHUNK};

fn rows() -> usize {
    std::env::var("ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(100_000)
}

/// A group for one format's body: throughput in bytes of input.
fn group<'c>(c: &'c mut Criterion, name: &str, body: &[u8]) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(10);
    group
}

/// The redactor and the bare parser over one format's report.
fn format(c: &mut Criterion, format: &str) {
    let body = report(rows(), format);
    let mut group = group(c, format, &body);
    let mut out = Vec::with_capacity(4 * CHUNK);
    group.bench_function("redactor, 64 KiB chunks", |b| {
        b.iter(|| redact(format, &body, &mut out))
    });
    group.bench_function(bare_parser(format), |b| b.iter(|| parse(format, &body)));
    if format == "json" {
        group.bench_function("serde_json IgnoredAny (validation only)", |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap())
        });
    }
    group.finish();
}

fn xml(c: &mut Criterion) {
    format(c, "xml");
}

fn json(c: &mut Criterion) {
    format(c, "json");
}

fn csv(c: &mut Criterion) {
    format(c, "csv");
}

criterion_group!(benches, csv, json, xml);
criterion_main!(benches);
