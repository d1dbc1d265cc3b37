//! One audit event as it is written: a JSON object on one line, built in a reused buffer.
//!
//! The line has a fixed shape, so it is written field by field here rather than through a
//! general serializer: through tracing (an event on the `audit` target and a formatting layer)
//! it cost a fifth of a cache hit, and through serde_json more still, as every key and value
//! was escaped byte by byte (`benches/cache_hit/instructions.sh`). Keys are constants; values
//! are checked for characters that need escaping in one pass and, as nearly all have none,
//! copied whole. The shape is that of casegate's JSON log lines (`timestamp`, `level`,
//! `target`, `message`) around the request's own fields; absent ones are left out.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::SystemTime;

/// What one request's audit event says (see `crate::audit` for what it may and may not hold).
/// `None` fields are left out of the line.
#[derive(Debug)]
pub struct Record<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub issuer: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub report_id: Option<u64>,
    pub format: Option<&'a str>,
    /// The parameter names, written comma-separated.
    pub params: Option<&'a [&'static str]>,
    pub keywords_hash: Option<&'a str>,
    pub attribute_filter_hash: Option<&'a str>,
    pub attribute_filter2_hash: Option<&'a str>,
    pub attribute_filter3_hash: Option<&'a str>,
    pub decision: &'a str,
    pub reason: Option<&'a str>,
    pub cache: &'a str,
    /// The withheld columns' names, comma-separated (empty when none), escaped once for all
    /// the events that name them.
    pub columns_withheld: &'a Escaped,
    pub status: u16,
    pub bytes: u64,
    pub duration_ms: f64,
    pub outcome: &'a str,
}

/// Text escaped once as the contents of a JSON string, for values many events repeat (a cache
/// entry's withheld columns: hundreds of bytes on every hit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escaped(Box<str>);

impl Escaped {
    pub fn new(text: &str) -> Escaped {
        let mut out = String::with_capacity(text.len());
        contents(&mut out, text);
        Escaped(out.into_boxed_str())
    }
}

thread_local! {
    static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(1024));
}

/// `record` as one JSON line (with its newline), handed to `write` from a reused buffer.
pub(super) fn with_line(record: &Record<'_>, write: impl FnOnce(&[u8])) {
    BUFFER.with(|buffer| {
        let mut fresh = String::new();
        // Only a writer that audits while writing could find it borrowed; it gets its own.
        let mut borrowed = buffer.try_borrow_mut();
        let buffer = match &mut borrowed {
            Ok(buffer) => &mut **buffer,
            Err(_) => &mut fresh,
        };
        buffer.clear();
        line(buffer, record, SystemTime::now());
        write(buffer.as_bytes());
    });
}

fn line(out: &mut String, r: &Record<'_>, now: SystemTime) {
    // humantime writes the digits directly; chrono's `format` parses its pattern every call.
    let _ = write!(
        out,
        "{{\"timestamp\":\"{}\",\"level\":\"INFO\",\"target\":\"{}\"",
        humantime::format_rfc3339_micros(now),
        super::TARGET
    );
    let mut o = Object(out);
    o.str("request_id", r.request_id);
    o.str("method", r.method);
    o.str("route", r.route);
    o.opt_str("issuer", r.issuer);
    o.opt_str("subject", r.subject);
    o.opt_str("grant", r.grant);
    if let Some(id) = r.report_id {
        o.u64("report_id", id);
    }
    o.opt_str("format", r.format);
    if let Some(names) = r.params {
        o.key("params");
        o.0.push('"');
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                o.0.push(',');
            }
            contents(o.0, name);
        }
        o.0.push('"');
    }
    o.opt_str("keywords_hash", r.keywords_hash);
    o.opt_str("attribute_filter_hash", r.attribute_filter_hash);
    o.opt_str("attribute_filter2_hash", r.attribute_filter2_hash);
    o.opt_str("attribute_filter3_hash", r.attribute_filter3_hash);
    o.str("decision", r.decision);
    o.opt_str("reason", r.reason);
    o.str("cache", r.cache);
    o.key("columns_withheld");
    o.0.push('"');
    o.0.push_str(&r.columns_withheld.0);
    o.0.push('"');
    o.u64("status", u64::from(r.status));
    o.u64("bytes", r.bytes);
    o.key("duration_ms");
    if r.duration_ms.is_finite() {
        o.0.push_str(ryu::Buffer::new().format_finite(r.duration_ms));
    } else {
        o.0.push_str("null");
    }
    o.str("outcome", r.outcome);
    o.str("message", "request");
    o.0.push_str("}\n");
}

/// The fields after the first of a JSON object being written.
struct Object<'a>(&'a mut String);

impl Object<'_> {
    /// `,"key":` (keys here are constants that need no escaping).
    fn key(&mut self, key: &str) {
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push('"');
        contents(self.0, value);
        self.0.push('"');
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        self.0.push_str(itoa::Buffer::new().format(value));
    }
}

/// Whether any byte of `bytes` must be escaped in a JSON string. Nearly no value has one; the
/// check runs over fixed-size chunks without early exit inside them, which the compiler turns
/// into vector code (a byte at a time, it was most of an event's cost).
fn needs_escape(bytes: &[u8]) -> bool {
    let special = |b: u8| u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        let mut found = 0;
        for &b in chunk {
            found |= special(b);
        }
        if found != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| special(b) != 0)
}

/// `value` escaped as the contents of a JSON string.
fn contents(out: &mut String, value: &str) {
    if !needs_escape(value.as_bytes()) {
        out.push_str(value);
        return;
    }
    let mut plain = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a character boundary.
        out.push_str(&value[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&value[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(record: &Record<'_>) -> serde_json::Value {
        let mut out = Vec::new();
        with_line(record, |line| out.extend_from_slice(line));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(text.ends_with('\n'));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    static EMPTY: std::sync::LazyLock<Escaped> = std::sync::LazyLock::new(Escaped::default);

    fn record<'a>() -> Record<'a> {
        Record {
            request_id: "req-1",
            method: "GET",
            route: "getreport",
            issuer: Some("https://idp.example"),
            subject: Some("someone"),
            grant: None,
            report_id: Some(10800),
            format: Some("json"),
            params: Some(&["Format", "ReportId"]),
            keywords_hash: Some("0123456789abcdef"),
            attribute_filter_hash: None,
            attribute_filter2_hash: None,
            attribute_filter3_hash: None,
            decision: "allow",
            reason: None,
            cache: "hit",
            columns_withheld: &EMPTY,
            status: 200,
            bytes: 4335,
            duration_ms: 0.25,
            outcome: "complete",
        }
    }

    #[test]
    fn a_record_is_one_json_line_with_the_log_fields_around_it() {
        let event = parsed(&record());
        assert_eq!(event["level"], "INFO");
        assert_eq!(event["target"], "audit");
        assert_eq!(event["message"], "request");
        assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(event["request_id"], "req-1");
        assert_eq!(event["issuer"], "https://idp.example");
        assert_eq!(event["report_id"], 10800);
        assert_eq!(event["params"], "Format,ReportId");
        assert_eq!(event["keywords_hash"], "0123456789abcdef");
        assert_eq!(event["columns_withheld"], "");
        assert_eq!(event["status"], 200);
        assert_eq!(event["bytes"], 4335);
        assert_eq!(event["duration_ms"], 0.25);
        assert_eq!(event["outcome"], "complete");
        // Absent values are left out, not written as null.
        for absent in [
            "grant",
            "reason",
            "attribute_filter_hash",
            "attribute_filter3_hash",
        ] {
            assert!(event.get(absent).is_none(), "{absent}: {event}");
        }
        let none = parsed(&Record {
            report_id: None,
            params: None,
            ..record()
        });
        assert!(none.get("report_id").is_none() && none.get("params").is_none());
    }

    #[test]
    fn every_string_reads_back_unchanged() {
        for value in [
            "",
            "plain",
            "quote \" and backslash \\ inside",
            "\n\r\t\u{0}\u{1f} controls",
            "café — ünïcode ✓ and \u{1F600}",
            "\"\"\\\\",
            "ends with a control\u{7}",
        ] {
            let escaped = Escaped::new(value);
            let event = parsed(&Record {
                subject: Some(value),
                columns_withheld: &escaped,
                ..record()
            });
            assert_eq!(event["subject"], value);
            assert_eq!(event["columns_withheld"], value);
        }
    }

    #[test]
    fn a_duration_that_is_not_a_number_is_null() {
        let event = parsed(&Record {
            duration_ms: f64::NAN,
            ..record()
        });
        assert!(event["duration_ms"].is_null());
    }
}
