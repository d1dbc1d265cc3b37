//! Redaction throughput per format on a 100,000-row report (the sandbox's large-report generator:
//! ~586 MB of XML, ~396 MB of JSON, ~137 MB of CSV), each beside the bare parser reading the
//! same bytes in the same run. The grant is a typical one: `Customer.*` dropped but
//! `Customer.EmailAddress` hashed with HMAC-SHA256, exactly as the gateway's keyed pseudonym.
//! Input is fed in 64 KiB chunks, as it arrives from iCasework.
//!
//! `cargo bench --bench redact` (or `-- csv`, `-- xml`, `-- json` for one format). `ROWS=10000`
//! makes a quicker, smaller run.

use std::hint::black_box;

use casegate::redact::csv_report::{CsvOptions, CsvRedactor};
use casegate::redact::json::JsonRedactor;
use casegate::redact::xml::XmlRedactor;
use casegate::redact::{ColumnAction, Columns, Redactor};
use casegate::sandbox::generated_report_body;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ring::hmac;

const CHUNK: usize = 64 * 1024;

/// `Customer.*` dropped but the email address hashed; everything else kept.
struct Grant {
    key: hmac::Key,
}

impl Grant {
    fn new() -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]),
        }
    }
}

impl Columns for Grant {
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
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = hmac::sign(&self.key, value.as_bytes());
        tag.as_ref()[..8]
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
            .map(char::from)
            .collect()
    }
}

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

/// Runs a fresh redactor over `body` in 64 KiB chunks, discarding output as the body would.
fn redact(
    group: &mut BenchmarkGroup<'_, WallTime>,
    body: &[u8],
    new: impl Fn() -> Box<dyn Redactor>,
) {
    let mut out = Vec::with_capacity(4 * CHUNK);
    group.bench_function("redactor, 64 KiB chunks", |b| {
        b.iter(|| {
            let mut redactor = new();
            let mut written = 0;
            for chunk in black_box(body).chunks(CHUNK) {
                redactor.feed(chunk, &mut out).unwrap();
                written += out.len();
                out.clear();
            }
            redactor.finish(&mut out).unwrap();
            black_box(written + out.len())
        })
    });
}

fn xml(c: &mut Criterion) {
    use quick_xml::events::Event;
    let body = generated_report_body(rows(), "xml").unwrap();
    let mut group = group(c, "xml", &body);
    redact(&mut group, &body, || {
        Box::new(XmlRedactor::new(Grant::new()))
    });
    group.bench_function("quick-xml, every event", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_reader(black_box(&body[..]));
            let mut n = 0usize;
            loop {
                match reader.read_event().unwrap() {
                    Event::Eof => break n,
                    event => n += event.len(),
                }
            }
        })
    });
    group.finish();
}

fn json(c: &mut Criterion) {
    let body = generated_report_body(rows(), "json").unwrap();
    let mut group = group(c, "json", &body);
    redact(&mut group, &body, || {
        Box::new(JsonRedactor::new(Grant::new()))
    });
    group.bench_function("serde_json, a visitor touching every key and value", |b| {
        b.iter(|| {
            serde_json::from_slice::<visit::Rows>(black_box(&body))
                .unwrap()
                .0
        })
    });
    group.bench_function("serde_json IgnoredAny (validation only)", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).unwrap())
    });
    group.finish();
}

fn csv(c: &mut Criterion) {
    let body = generated_report_body(rows(), "csv").unwrap();
    let mut group = group(c, "csv", &body);
    redact(&mut group, &body, || {
        Box::new(CsvRedactor::new(Grant::new(), CsvOptions::default()))
    });
    group.bench_function("csv crate, every ByteRecord", |b| {
        b.iter(|| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(black_box(&body[..]));
            let mut record = csv::ByteRecord::new();
            let mut fields = 0;
            while reader.read_byte_record(&mut record).unwrap() {
                fields += record.len();
            }
            fields
        })
    });
    group.finish();
}

/// A bare JSON parse that looks at every key and value (the work any reader of the report
/// does), counting their bytes so nothing is optimised away.
mod visit {
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    pub(crate) struct Rows(pub(crate) usize);
    struct Row(usize);
    /// A key or string value, seen (escapes decoded where there are any) but not kept.
    struct Text(usize);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Text;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E>(self, text: &str) -> Result<Text, E> {
                    Ok(Text(text.len()))
                }
            }
            d.deserialize_str(V)
        }
    }

    impl<'de> Deserialize<'de> for Row {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Row;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a row")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                    let mut n = 0;
                    while let Some((Text(k), Text(v))) = map.next_entry()? {
                        n += k + v;
                    }
                    Ok(Row(n))
                }
            }
            d.deserialize_map(V)
        }
    }

    impl<'de> Deserialize<'de> for Rows {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Rows;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an array of rows")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
                    let mut n = 0;
                    while let Some(Row(bytes)) = seq.next_element()? {
                        n += bytes;
                    }
                    Ok(Rows(n))
                }
            }
            d.deserialize_seq(V)
        }
    }
}

criterion_group!(benches, csv, json, xml);
criterion_main!(benches);
