//! The JSON redactor's throughput on the sandbox's 5,000-row report (drop `Customer.*`, hash
//! `Customer.EmailAddress`) in 64 KiB chunks, beside serde_json merely parsing the same bytes:
//! the redactor should reach at least half the speed of a bare parse (`shared/performance.md`).

use std::hint::black_box;

use casegate::redact::json::JsonRedactor;
use casegate::redact::{ColumnAction, Columns, Redactor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CHUNK: usize = 64 * 1024;

/// Drop `Customer.*`, hash `Customer.EmailAddress` with a cheap stand-in for the keyed hash.
#[derive(Debug)]
struct Rules;

impl Columns for Rules {
    fn action(&mut self, column: &str) -> ColumnAction {
        if column.eq_ignore_ascii_case("Customer.EmailAddress") {
            ColumnAction::Hash
        } else if column.len() > 9 && column[..9].eq_ignore_ascii_case("Customer.") {
            ColumnAction::Drop
        } else {
            ColumnAction::Keep
        }
    }
    fn mask(&self) -> &str {
        "***"
    }
    fn pseudonym(&self, value: &str) -> String {
        format!("{:016x}", value.len())
    }
}

fn bench(c: &mut Criterion) {
    let body = casegate::sandbox::report_body(10801, "json").unwrap();
    let mut group = c.benchmark_group("redact_json");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    let mut out = Vec::with_capacity(body.len());
    group.bench_function("JsonRedactor, 64 KiB chunks", |b| {
        b.iter(|| {
            out.clear();
            let mut redactor = JsonRedactor::new(Rules);
            for chunk in black_box(&body).chunks(CHUNK) {
                redactor.feed(chunk, &mut out).unwrap();
            }
            redactor.finish(&mut out).unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("serde_json IgnoredAny", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
