//! The audit stream's writer: a tracing layer that writes each audit event as one JSON line.
//!
//! tracing-subscriber's JSON formatter gathers an event's fields into a map of JSON values
//! first (an allocation per field); at one event per request that was most of what the audit
//! cost (`cargo bench --bench observe`). This layer writes the fields straight into a reused
//! buffer, in the order the event names them, and hands the line to the writer (in
//! `casegate serve`, a non-blocking one).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;

/// Writes the events it is given (filter it to [`super::TARGET`]) as JSON lines to `W`.
#[derive(Debug)]
pub struct AuditLayer<W> {
    make_writer: W,
}

impl<W> AuditLayer<W> {
    pub fn new(make_writer: W) -> Self {
        AuditLayer { make_writer }
    }
}

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(1024));
}

impl<S, W> tracing_subscriber::Layer<S> for AuditLayer<W>
where
    S: Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return; // an event while writing one (the writer logging): never recurse
            };
            line.clear();
            // humantime writes the digits directly; chrono's `format` parses its pattern on
            // every call, a measurable share of an event.
            let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
            let _ = write!(
                line,
                "{{\"timestamp\":\"{now}\",\"level\":\"{}\",\"target\":",
                event.metadata().level()
            );
            string(&mut line, event.metadata().target());
            event.record(&mut Fields(&mut line));
            line.push_str("}\n");
            let _ = self.make_writer.make_writer().write_all(line.as_bytes());
        });
    }
}

struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(',');
        string(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        string(self.0, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            self.0.push_str("null");
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        string(self.0, &format!("{value:?}"));
    }
}

/// `value` as a JSON string. Runs of characters that need no escape are copied whole: most
/// values have none, and copying character by character was the largest part of an event.
fn string(out: &mut String, value: &str) {
    out.push('"');
    // Most values need no escape at all: one pass without early exit (which the compiler turns
    // into vector code) tells, and the value is then copied whole.
    let needs_escape = value.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escape {
        out.push_str(value);
        out.push('"');
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
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn strings_are_json_strings_that_read_back_unchanged() {
        for value in [
            "",
            "plain",
            "quote \" and backslash \\ inside",
            "\n\r\t\u{0}\u{1f} controls",
            "café — ünïcode ✓ and \u{1F600}",
            "\"\"\\\\",
            "ends with a control\u{7}",
        ] {
            let mut out = String::new();
            string(&mut out, value);
            let back: String = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(back, value, "{out}");
        }
    }

    #[test]
    fn one_json_object_per_line_with_every_field() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber =
            tracing_subscriber::registry().with(AuditLayer::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let absent: Option<&str> = None;
            tracing::info!(
                target: "audit",
                text = "quote \" backslash \\ newline \n tab \t bell \u{7} é",
                count = 3u64,
                negative = -2i64,
                ratio = 1.5f64,
                flag = true,
                shown = %"display",
                absent,
                "request"
            );
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        let event: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(event["target"], "audit");
        assert_eq!(event["level"], "INFO");
        assert_eq!(
            event["text"],
            "quote \" backslash \\ newline \n tab \t bell \u{7} é"
        );
        assert_eq!(event["count"], 3);
        assert_eq!(event["negative"], -2);
        assert_eq!(event["ratio"], 1.5);
        assert_eq!(event["flag"], true);
        assert_eq!(event["shown"], "display");
        assert_eq!(event["message"], "request");
        assert!(event.get("absent").is_none());
        assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
