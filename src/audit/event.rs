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
/// `None` fields are left out of the line. The request id, method and the caller's issuer,
/// subject and grant are escaped as needed; the other strings are casegate's own (routes,
/// formats, decisions, problem codes, cache states, outcomes, parameter names, hex digests) and
/// written as they are.
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
    /// From the request to the body's end; written in milliseconds with three decimals.
    pub duration: std::time::Duration,
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

/// `,"name":`, one constant per key.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

fn line(out: &mut String, r: &Record<'_>, now: SystemTime) {
    out.push_str("{\"timestamp\":\"");
    timestamp(out, now);
    out.push_str("\",\"level\":\"INFO\",\"target\":\"");
    out.push_str(super::TARGET);
    out.push('"');
    let mut o = Object(out);
    o.str(key!("request_id"), r.request_id);
    LAST_CALLER.with(|last| match last.try_borrow_mut() {
        Ok(mut last) => last.write(o.0, r),
        // Only a writer that audits while writing could find it borrowed.
        Err(_) => caller(o.0, r),
    });
    o.plain(key!("cache"), r.cache);
    o.escaped(key!("columns_withheld"), r.columns_withheld);
    o.u64(key!("status"), u64::from(r.status));
    o.u64(key!("bytes"), r.bytes);
    o.0.push_str(key!("duration_ms"));
    millis(o.0, r.duration);
    o.plain(key!("outcome"), r.outcome);
    o.plain(key!("message"), "request");
    o.0.push_str("}\n");
}

/// The fields from `method` to `reason`: who asked, for what, and what was decided.
fn caller(out: &mut String, r: &Record<'_>) {
    let mut o = Object(out);
    o.str(key!("method"), r.method);
    o.plain(key!("route"), r.route);
    o.opt_str(key!("issuer"), r.issuer);
    o.opt_str(key!("subject"), r.subject);
    o.opt_str(key!("grant"), r.grant);
    if let Some(id) = r.report_id {
        o.u64(key!("report_id"), id);
    }
    if let Some(format) = r.format {
        o.plain(key!("format"), format);
    }
    if let Some(names) = r.params {
        o.0.push_str(key!("params"));
        o.0.push('"');
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                o.0.push(',');
            }
            o.0.push_str(name);
        }
        o.0.push('"');
    }
    let hashes = [
        (key!("keywords_hash"), r.keywords_hash),
        (key!("attribute_filter_hash"), r.attribute_filter_hash),
        (key!("attribute_filter2_hash"), r.attribute_filter2_hash),
        (key!("attribute_filter3_hash"), r.attribute_filter3_hash),
    ];
    for (key, hash) in hashes {
        if let Some(hash) = hash {
            o.plain(key, hash);
        }
    }
    o.plain(key!("decision"), r.decision);
    if let Some(reason) = r.reason {
        o.plain(key!("reason"), reason);
    }
}

thread_local! {
    /// The caller fields this thread wrote last, and their text.
    static LAST_CALLER: RefCell<LastCaller> = RefCell::default();
}

/// The caller fields of the last event a thread wrote, with their text: consecutive events of
/// one caller polling one report (most of a gateway's traffic) repeat them exactly, and
/// comparing them costs a fraction of writing (and escape-checking) them again. Compared by
/// value, field by field, so a different caller or query is always written afresh.
#[derive(Default)]
struct LastCaller {
    key: Option<CallerKey>,
    text: String,
}

#[derive(Debug, PartialEq, Eq)]
struct CallerKey {
    method: String,
    route: String,
    issuer: Option<String>,
    subject: Option<String>,
    grant: Option<String>,
    report_id: Option<u64>,
    format: Option<String>,
    params: Option<Vec<&'static str>>,
    hashes: [Option<String>; 4],
    decision: String,
    reason: Option<String>,
}

impl CallerKey {
    fn of(r: &Record<'_>) -> CallerKey {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        CallerKey {
            method: r.method.to_owned(),
            route: r.route.to_owned(),
            issuer: owned(r.issuer),
            subject: owned(r.subject),
            grant: owned(r.grant),
            report_id: r.report_id,
            format: owned(r.format),
            params: r.params.map(<[_]>::to_vec),
            hashes: hashes(r).map(owned),
            decision: r.decision.to_owned(),
            reason: owned(r.reason),
        }
    }

    fn matches(&self, r: &Record<'_>) -> bool {
        self.method == r.method
            && self.route == r.route
            && self.issuer.as_deref() == r.issuer
            && self.subject.as_deref() == r.subject
            && self.grant.as_deref() == r.grant
            && self.report_id == r.report_id
            && self.format.as_deref() == r.format
            && self.params.as_deref() == r.params
            && self.hashes.iter().map(Option::as_deref).eq(hashes(r))
            && self.decision == r.decision
            && self.reason.as_deref() == r.reason
    }
}

fn hashes<'a>(r: &Record<'a>) -> [Option<&'a str>; 4] {
    [
        r.keywords_hash,
        r.attribute_filter_hash,
        r.attribute_filter2_hash,
        r.attribute_filter3_hash,
    ]
}

impl LastCaller {
    fn write(&mut self, out: &mut String, r: &Record<'_>) {
        if !self.key.as_ref().is_some_and(|key| key.matches(r)) {
            self.text.clear();
            caller(&mut self.text, r);
            self.key = Some(CallerKey::of(r));
        }
        out.push_str(&self.text);
    }
}

thread_local! {
    /// The second last written and its RFC 3339 text up to the seconds' end (`…T17:45:42`):
    /// formatted once a second rather than once an event.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `now` as RFC 3339 with microseconds, UTC (`2026-11-28T17:45:42.598718Z`).
fn timestamp(out: &mut String, now: SystemTime) {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != since.as_secs() {
            let whole = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs());
            second.1.clear();
            // humantime writes the digits directly: `…T17:45:42Z`, kept without the `Z`.
            let _ = write!(second.1, "{}", humantime::format_rfc3339_seconds(whole));
            second.1.pop();
            second.0 = since.as_secs();
        }
        out.push_str(&second.1);
    });
    let micros = since.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros);
    out.push('.');
    out.push_str(&"000000"[digits.len()..]);
    out.push_str(digits);
    out.push('Z');
}

/// `duration` in milliseconds to the microsecond (`0.049`, `1234.500`): integers only, rather
/// than a float's shortest form (`0.048767000000000005`), which is longer to read and to write.
fn millis(out: &mut String, duration: std::time::Duration) {
    let micros = duration.as_micros();
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    out.push('.');
    let fraction = micros % 1000;
    out.push_str(&"00"[usize::from(fraction >= 10) + usize::from(fraction >= 100)..]);
    out.push_str(itoa::Buffer::new().format(fraction));
}

/// The fields after the first of a JSON object being written. Keys are the `key!` constants.
struct Object<'a>(&'a mut String);

impl Object<'_> {
    /// A value that may hold anything (a caller's claims): escaped where needed.
    fn str(&mut self, key: &str, value: &str) {
        self.0.push_str(key);
        self.0.push('"');
        contents(self.0, value);
        self.0.push('"');
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    /// A value casegate chose itself (a route, decision or problem code, a hex digest): never
    /// holds a character to escape.
    fn plain(&mut self, key: &str, value: &str) {
        debug_assert!(!needs_escape(value.as_bytes()), "{value:?} needs escaping");
        self.0.push_str(key);
        self.0.push('"');
        self.0.push_str(value);
        self.0.push('"');
    }

    fn escaped(&mut self, key: &str, value: &Escaped) {
        self.0.push_str(key);
        self.0.push('"');
        self.0.push_str(&value.0);
        self.0.push('"');
    }

    fn u64(&mut self, key: &str, value: u64) {
        self.0.push_str(key);
        self.0.push_str(itoa::Buffer::new().format(value));
    }
}

/// Whether any byte of `bytes` must be escaped in a JSON string. Only the caller's strings are
/// checked per event (short: ids, issuer, subject, grant); the long withheld-column list is
/// escaped once per cache entry ([`Escaped`]).
fn needs_escape(bytes: &[u8]) -> bool {
    // Without early exit, so the compiler checks many bytes per instruction: the values are
    // short and nearly always clean, and a byte-at-a-time search cost ten instructions a byte.
    bytes.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
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
            duration: std::time::Duration::from_micros(250),
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
    fn timestamps_are_rfc3339_with_microseconds_across_seconds() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_887_432);
        for offset_micros in [
            0u64,
            7,
            999_999,
            1_000_000,
            1_000_042,
            61_500_000,
            86_400_000_001,
        ] {
            let time = start + std::time::Duration::from_micros(offset_micros);
            let mut out = String::new();
            timestamp(&mut out, time);
            assert_eq!(out, humantime::format_rfc3339_micros(time).to_string());
        }
    }

    #[test]
    fn a_thread_s_remembered_caller_fields_write_what_fresh_ones_would() {
        let escaped_subject = "o\"brien\\x";
        let records = [
            Record { ..record() },
            Record { ..record() },
            Record {
                subject: Some("someone-else"),
                ..record()
            },
            Record {
                subject: Some("someone-else"),
                keywords_hash: Some("fedcba9876543210"),
                ..record()
            },
            Record {
                subject: Some("someone-else"),
                keywords_hash: None,
                attribute_filter_hash: Some("0123456789abcdef"),
                ..record()
            },
            Record {
                decision: "deny",
                reason: Some("no_grant"),
                ..record()
            },
            Record {
                decision: "deny",
                reason: Some("format_not_allowed"),
                ..record()
            },
            Record {
                grant: Some("analysts"),
                ..record()
            },
            Record {
                report_id: Some(10801),
                ..record()
            },
            Record {
                params: Some(&["Format", "Keywords", "ReportId"]),
                ..record()
            },
            Record {
                format: Some("csv"),
                ..record()
            },
            Record {
                method: "HEAD",
                ..record()
            },
            Record {
                route: "reports",
                ..record()
            },
            Record {
                issuer: None,
                subject: None,
                ..record()
            },
            Record {
                subject: Some(escaped_subject),
                ..record()
            },
            Record {
                request_id: "req-2",
                cache: "miss",
                status: 304,
                ..record()
            },
            Record { ..record() },
        ];
        for r in &records {
            let event = parsed(r);
            let text = |v: Option<&str>| v.map_or(serde_json::Value::Null, Into::into);
            let field = |name: &str| event.get(name).cloned().unwrap_or_default();
            assert_eq!(field("request_id"), r.request_id, "{event}");
            assert_eq!(field("method"), r.method, "{event}");
            assert_eq!(field("route"), r.route, "{event}");
            assert_eq!(field("issuer"), text(r.issuer), "{event}");
            assert_eq!(field("subject"), text(r.subject), "{event}");
            assert_eq!(field("grant"), text(r.grant), "{event}");
            assert_eq!(
                field("report_id"),
                serde_json::json!(r.report_id),
                "{event}"
            );
            assert_eq!(field("format"), text(r.format), "{event}");
            let params = r.params.map(|p| p.join(","));
            assert_eq!(field("params"), text(params.as_deref()), "{event}");
            assert_eq!(field("keywords_hash"), text(r.keywords_hash), "{event}");
            assert_eq!(
                field("attribute_filter_hash"),
                text(r.attribute_filter_hash),
                "{event}"
            );
            assert_eq!(field("decision"), r.decision, "{event}");
            assert_eq!(field("reason"), text(r.reason), "{event}");
            assert_eq!(field("cache"), r.cache, "{event}");
            assert_eq!(field("status"), r.status, "{event}");
        }
    }

    #[test]
    fn durations_are_milliseconds_to_the_microsecond() {
        for (micros, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (48, "0.048"),
            (250, "0.250"),
            (1_000, "1.000"),
            (48_767, "48.767"),
            (1_234_500, "1234.500"),
            (86_400_000_001, "86400000.001"),
        ] {
            let mut out = String::new();
            millis(&mut out, std::time::Duration::from_micros(micros));
            assert_eq!(out, text);
            let event = parsed(&Record {
                duration: std::time::Duration::from_micros(micros),
                ..record()
            });
            let ms = event["duration_ms"].as_f64().unwrap();
            assert!((ms - micros as f64 / 1000.0).abs() < 1e-9, "{micros}: {ms}");
        }
        // Nanoseconds below a microsecond are dropped, not rounded up.
        let mut out = String::new();
        millis(&mut out, std::time::Duration::from_nanos(1_999));
        assert_eq!(out, "0.001");
    }
}
