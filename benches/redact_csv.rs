//! MB/s of the CSV redactor on the sandbox's 5,000-row report (Customer.* dropped,
//! Customer.EmailAddress hashed with HMAC-SHA256 as the gateway does), fed in 64 KiB chunks,
//! beside the csv crate reading every ByteRecord of the same bytes (the bare parser).

use std::hint::black_box;

use casegate::policy::ColumnAction;
use casegate::redact::csv_report::{CsvOptions, CsvRedactor};
use casegate::redact::{Columns, Redactor};
use casegate::sandbox::{report_body, REPORT_LARGE};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ring::hmac;

const CHUNK: usize = 64 * 1024;

/// Customer.* dropped but the email address hashed, like a typical grant.
#[derive(Debug)]
struct Grant {
    key: hmac::Key,
}

impl Columns for Grant {
    fn action(&mut self, column: &str) -> ColumnAction {
        if column.eq_ignore_ascii_case("Customer.EmailAddress") {
            ColumnAction::Hash
        } else if column.to_ascii_lowercase().starts_with("customer.") {
            ColumnAction::Drop
        } else {
            ColumnAction::Keep
        }
    }

    fn mask(&self) -> &str {
        "***"
    }

    fn pseudonym(&self, value: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = hmac::sign(&self.key, value.as_bytes());
        tag.as_ref()[..8]
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
            .map(char::from)
            .collect()
    }
}

fn bench(c: &mut Criterion) {
    let body = report_body(REPORT_LARGE, "csv").expect("the large report");
    let mut group = c.benchmark_group("redact_csv");
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("csv_redactor_64k_chunks", |b| {
        let mut out = Vec::with_capacity(2 * CHUNK);
        b.iter(|| {
            let grant = Grant {
                key: hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]),
            };
            let mut redactor = CsvRedactor::new(grant, CsvOptions::default());
            let mut written = 0;
            for chunk in body.chunks(CHUNK) {
                redactor.feed(chunk, &mut out).unwrap();
                written += out.len();
                out.clear();
            }
            redactor.finish(&mut out).unwrap();
            black_box(written + out.len())
        });
    });

    group.bench_function("csv_crate_byte_records", |b| {
        b.iter(|| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&body[..]);
            let mut record = csv::ByteRecord::new();
            let mut fields = 0;
            while reader.read_byte_record(&mut record).unwrap() {
                fields += record.len();
            }
            black_box(fields)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
