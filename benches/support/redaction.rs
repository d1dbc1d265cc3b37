//! The redaction workloads and their bare parsers, shared by the criterion bench `redact` and
//! the comparison harness `compare`: the sandbox's generated report, a typical grant
//! (`Customer.*` dropped but `Customer.EmailAddress` hashed with HMAC-SHA256, exactly as the
//! gateway's keyed pseudonym), input fed in 64 KiB chunks as it arrives from iCasework.

use std::hint::black_box;

use casegate::redact::csv_report::{CsvOptions, CsvRedactor};
use casegate::redact::json::JsonRedactor;
use casegate::redact::xml::XmlRedactor;
use casegate::redact::{ColumnAction, Columns, Redactor};
use ring::hmac;

pub const CHUNK: usize = 64 * 1024;
/// The formats, in the order the tables show them.
pub const FORMATS: [&str; 3] = ["xml", "json", "csv"];

/// `Customer.*` dropped but the email address hashed; everything else kept.
pub struct Grant {
    key: hmac::Key,
}

impl Grant {
    pub fn new() -> Self {
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

/// The sandbox generator's report of `rows` rows in `format` (CSV with its header row).
pub fn report(rows: usize, format: &str) -> Vec<u8> {
    casegate::sandbox::generated_report_body(rows, format).expect("xml, json or csv")
}

/// A fresh redactor for `format` with the typical grant.
pub fn redactor(format: &str) -> Box<dyn Redactor> {
    match format {
        "xml" => Box::new(XmlRedactor::new(Grant::new())),
        "json" => Box::new(JsonRedactor::new(Grant::new())),
        _ => Box::new(CsvRedactor::new(Grant::new(), CsvOptions::default())),
    }
}

/// Redacts `body` once with a fresh redactor, in 64 KiB chunks, discarding the output as the
/// response body would (`out` is scratch); returns the bytes written.
pub fn redact(format: &str, body: &[u8], out: &mut Vec<u8>) -> usize {
    let mut redactor = redactor(format);
    let mut written = 0;
    for chunk in black_box(body).chunks(CHUNK) {
        redactor.feed(chunk, out).unwrap();
        written += out.len();
        out.clear();
    }
    redactor.finish(out).unwrap();
    written += out.len();
    out.clear();
    written
}

/// What the bare parser of `format` is, for tables.
pub fn bare_parser(format: &str) -> &'static str {
    match format {
        "xml" => "quick-xml, every event",
        "json" => "serde_json, a visitor touching every key and value",
        _ => "csv crate, every ByteRecord",
    }
}

/// The bare parser of `format` reading all of `body`: the work any reader of the report does.
pub fn parse(format: &str, body: &[u8]) -> usize {
    match format {
        "xml" => parse_xml(body),
        "json" => {
            serde_json::from_slice::<visit::Rows>(black_box(body))
                .unwrap()
                .0
        }
        _ => parse_csv(body),
    }
}

fn parse_xml(body: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(black_box(body));
    let mut n = 0usize;
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break n,
            event => n += event.len(),
        }
    }
}

fn parse_csv(body: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(black_box(body));
    let mut record = csv::ByteRecord::new();
    let mut fields = 0;
    while reader.read_byte_record(&mut record).unwrap() {
        fields += record.len();
    }
    fields
}

/// A bare JSON parse that looks at every key and value (the work any reader of the report
/// does), counting their bytes so nothing is optimised away.
pub mod visit {
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    pub struct Rows(pub usize);
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
