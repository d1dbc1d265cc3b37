//! `params::parse` is on every request's path: measure it on a typical query.

use std::hint::black_box;

use casegate::params::{parse, Limits};
use criterion::{criterion_group, criterion_main, Criterion};

const TYPICAL: &str = "ReportId=10800&Format=json&From=2024-01-01&Until=2024-01-31&Keywords=a,b";

/// The same request as a browser or HTTP library would encode it, in other letter cases.
const ENCODED: &str =
    "reportid=10800&format=JSON&fromtime=2024-01-01T00%3A00%3A00&until=2024-01-31&keywords=a%2Cb";

fn bench_parse(c: &mut Criterion) {
    let limits = Limits::default();
    c.bench_function("parse typical", |b| {
        b.iter(|| parse(black_box(Some(TYPICAL)), None, &limits))
    });
    c.bench_function("parse encoded", |b| {
        b.iter(|| parse(black_box(Some(ENCODED)), None, &limits))
    });
    let parsed = parse(Some(TYPICAL), None, &limits).unwrap();
    let mut out = String::with_capacity(256);
    c.bench_function("write_query typical", |b| {
        b.iter(|| {
            out.clear();
            black_box(&parsed.canonical).write_query(&mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
