//! MB/s of the XML redactor on the sandbox's 5,000-row report, fed in 64 KiB chunks, beside a
//! bare quick-xml read of every event of the same bytes (the ceiling it is built on).
//!
//! `CARGO_TARGET_DIR=/work/main/target cargo bench --bench redact_xml`

use std::hint::black_box;

use casegate::redact::xml::XmlRedactor;
use casegate::redact::{ColumnAction, Columns, Redactor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Drop `Customer.*` but hash `Customer.EmailAddress`, keep the rest.
struct Plan;

impl Columns for Plan {
    fn action(&mut self, column: &str) -> ColumnAction {
        if column.eq_ignore_ascii_case("Customer.EmailAddress") {
            ColumnAction::Hash
        } else if column.len() >= 9 && column[..9].eq_ignore_ascii_case("Customer.") {
            ColumnAction::Drop
        } else {
            ColumnAction::Keep
        }
    }

    fn mask(&self) -> &str {
        "***"
    }

    fn pseudonym(&self, value: &str) -> String {
        format!("h{:08x}", value.len())
    }
}

fn bench(c: &mut Criterion) {
    let body = casegate::sandbox::report_body(10801, "xml").expect("the sandbox report");
    let mut group = c.benchmark_group("xml");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    group.bench_function("quick_xml_events", |b| {
        b.iter(|| {
            let mut reader = Reader::from_reader(black_box(&body[..]));
            let mut n = 0usize;
            loop {
                match reader.read_event().unwrap() {
                    Event::Eof => break,
                    event => n += event.len(),
                }
            }
            n
        })
    });
    let mut out = Vec::with_capacity(body.len());
    group.bench_function("xml_redactor_64k", |b| {
        b.iter(|| {
            out.clear();
            let mut redactor = XmlRedactor::new(Plan);
            for chunk in black_box(&body[..]).chunks(64 * 1024) {
                redactor.feed(chunk, &mut out).unwrap();
            }
            redactor.finish(&mut out).unwrap();
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
