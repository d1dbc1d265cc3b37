//! Rendering a report the way upstream does (XML by default, JSON, CSV, optionally gzipped), and
//! the small cache of rendered bodies that keeps the sandbox cheap enough to be a latency baseline.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use bytes::Bytes;
use flate2::{write::GzEncoder, Compression};

use super::reports::{self, Report};

/// The output format and its options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Rendering {
    /// `<Rows RequestId="..."><Row><Column>value</Column>...</Row></Rows>`.
    Xml { request_id: String },
    /// A top-level array of flat objects whose values are all strings.
    Json,
    /// RFC 4180 CSV.
    Csv(CsvOptions),
}

/// The CSV* parameters, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CsvOptions {
    pub(crate) header: bool,
    pub(crate) footer: bool,
    pub(crate) delimiter: u8,
    /// Indices of the columns to keep, in output order; `None` keeps them all.
    pub(crate) fields: Option<Vec<usize>>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: false,
            footer: false,
            delimiter: b',',
            fields: None,
        }
    }
}

impl Rendering {
    /// The `Content-Type` of the rendered body.
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            Rendering::Xml { .. } => "text/xml; charset=utf-8",
            Rendering::Json => "application/json; charset=utf-8",
            Rendering::Csv(_) => "text/csv; charset=utf-8",
        }
    }
}

/// Renders `report`.
pub(crate) fn render(report: Report, rendering: &Rendering) -> Vec<u8> {
    match rendering {
        Rendering::Xml { request_id } => xml(report, request_id),
        Rendering::Json => json(report),
        Rendering::Csv(options) => csv(report, options),
    }
}

fn xml(report: Report, request_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 1024 * report.row_count().max(1));
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"");
    escape_xml(&mut out, request_id, true);
    out.extend_from_slice(b"\">");
    if report.row_count() > 0 {
        out.push(b'\n');
    }
    for index in 0..report.row_count() {
        out.extend_from_slice(b"<Row>\n");
        for (column, value) in reports::columns().zip(report.row(index)) {
            // Column names are fixed, valid XML names: only values need escaping.
            out.push(b'<');
            out.extend_from_slice(column.as_bytes());
            out.push(b'>');
            escape_xml(&mut out, &value, false);
            out.extend_from_slice(b"</");
            out.extend_from_slice(column.as_bytes());
            out.extend_from_slice(b">\n");
        }
        out.extend_from_slice(b"</Row>\n");
    }
    out.extend_from_slice(b"</Rows>");
    out
}

/// Escapes `&`, `<` and `>`; `"` too in attributes. A CR becomes `&#13;`, as XSLT serializers
/// write it, because a parser would otherwise turn CRLF into LF and lose what JSON keeps.
fn escape_xml(out: &mut Vec<u8>, text: &str, attribute: bool) {
    let mut rest = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escaped: &[u8] = match byte {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if attribute => b"&quot;",
            _ => continue,
        };
        out.extend_from_slice(&text.as_bytes()[rest..at]);
        out.extend_from_slice(escaped);
        rest = at + 1;
    }
    out.extend_from_slice(&text.as_bytes()[rest..]);
}

/// Written by hand, not through a map: upstream's objects repeat keys, and the order matters.
fn json(report: Report) -> Vec<u8> {
    if report.row_count() == 0 {
        return b"[]".to_vec();
    }
    let mut out = Vec::with_capacity(5 * 1024 * report.row_count());
    out.extend_from_slice(b"[\n");
    for index in 0..report.row_count() {
        if index > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"{\n");
        for (at, (column, value)) in reports::columns().zip(report.row(index)).enumerate() {
            if at > 0 {
                out.extend_from_slice(b",\n");
            }
            json_string(&mut out, column);
            out.extend_from_slice(b": ");
            json_string(&mut out, &value);
        }
        out.extend_from_slice(b"\n}");
    }
    out.extend_from_slice(b"\n]");
    out
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string always serializes into a Vec");
}

fn csv(report: Report, options: &CsvOptions) -> Vec<u8> {
    write_csv(report, options).expect("CSV writes into a Vec cannot fail")
}

fn write_csv(report: Report, options: &CsvOptions) -> csv::Result<Vec<u8>> {
    let all: Vec<usize> = (0..reports::columns().len()).collect();
    let keep = options.fields.as_deref().unwrap_or(&all);
    let mut writer = csv::WriterBuilder::new()
        .delimiter(options.delimiter)
        .terminator(csv::Terminator::CRLF)
        // The footer is a one-field record.
        .flexible(true)
        .from_writer(Vec::with_capacity(2 * 1024 * report.row_count().max(1)));
    if options.header {
        let columns: Vec<&str> = reports::columns().collect();
        writer.write_record(keep.iter().map(|&at| columns[at]))?;
    }
    for index in 0..report.row_count() {
        let row = report.row(index);
        writer.write_record(keep.iter().map(|&at| row[at].as_bytes()))?;
    }
    if options.footer {
        writer.write_record([report.row_count().to_string()])?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

/// Gzips `body` (mtime 0, so the output is deterministic).
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(body)
        .expect("writes into a Vec cannot fail");
    encoder.finish().expect("writes into a Vec cannot fail")
}

/// Everything that determines a response body's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RenderKey {
    pub(crate) report: Report,
    pub(crate) rendering: Rendering,
    pub(crate) gzip: bool,
}

impl RenderKey {
    fn produce(&self) -> Bytes {
        let body = render(self.report, &self.rendering);
        Bytes::from(if self.gzip { gzip(&body) } else { body })
    }
}

/// At most this many bodies are kept...
const CACHE_ENTRIES: usize = 64;
/// ...and at most this many bytes (the large report's XML alone is about 45 MB).
const CACHE_BYTES: usize = 256 * 1024 * 1024;

/// Rendered bodies, first in first out. Two concurrent misses on one key both render: harmless.
#[derive(Default)]
pub(crate) struct RenderCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    bodies: HashMap<RenderKey, Bytes>,
    order: VecDeque<RenderKey>,
    bytes: usize,
}

impl fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock().expect("render cache poisoned");
        f.debug_struct("RenderCache")
            .field("entries", &inner.bodies.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl RenderCache {
    /// The body for `key`, rendered now unless cached. The large report renders on a blocking
    /// thread: it takes tens of milliseconds.
    pub(crate) async fn get_or_render(&self, key: RenderKey) -> Bytes {
        if let Some(body) = self
            .inner
            .lock()
            .expect("render cache poisoned")
            .bodies
            .get(&key)
        {
            return body.clone();
        }
        let body = if key.report == Report::Large {
            let owned = key.clone();
            tokio::task::spawn_blocking(move || owned.produce())
                .await
                .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
        } else {
            key.produce()
        };
        self.insert(key, body.clone());
        body
    }

    /// Renders `key` now, so that its first request is as fast as the next ones.
    pub(crate) fn warm(&self, key: RenderKey) {
        let body = key.produce();
        self.insert(key, body);
    }

    fn insert(&self, key: RenderKey, body: Bytes) {
        if body.len() > CACHE_BYTES {
            return;
        }
        let mut inner = self.inner.lock().expect("render cache poisoned");
        while inner.bodies.len() >= CACHE_ENTRIES || inner.bytes + body.len() > CACHE_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.bodies.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
        inner.bytes += body.len();
        if let Some(replaced) = inner.bodies.insert(key.clone(), body) {
            inner.bytes -= replaced.len();
        } else {
            inner.order.push_back(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn xml_escapes_text_and_attributes() {
        let mut out = Vec::new();
        escape_xml(&mut out, "a&b<c>d\"e\r\nf", false);
        assert_eq!(text(out), "a&amp;b&lt;c&gt;d\"e&#13;\nf");
        let mut out = Vec::new();
        escape_xml(&mut out, "\"Zoë\"", true);
        assert_eq!(text(out), "&quot;Zoë&quot;");
    }

    #[test]
    fn empty_report_shapes() {
        let xml = render(
            Report::Empty,
            &Rendering::Xml {
                request_id: "ab".into(),
            },
        );
        assert_eq!(
            text(xml),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"ab\"></Rows>"
        );
        assert_eq!(text(render(Report::Empty, &Rendering::Json)), "[]");
        let options = CsvOptions {
            header: true,
            footer: true,
            fields: Some(vec![1, 0]),
            ..Default::default()
        };
        assert_eq!(
            text(render(Report::Empty, &Rendering::Csv(options))),
            "CaseDetailsComplaint.Details,CaseDetails.TotalRedress\r\n0\r\n"
        );
    }

    #[test]
    fn cache_is_bounded_and_keeps_the_latest() {
        let cache = RenderCache::default();
        let key = |n: u8| RenderKey {
            report: Report::Example,
            rendering: Rendering::Xml {
                request_id: format!("{n}"),
            },
            gzip: false,
        };
        for n in 0..(CACHE_ENTRIES as u8 + 10) {
            cache.warm(key(n));
        }
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.bodies.len(), CACHE_ENTRIES);
        assert_eq!(inner.order.len(), CACHE_ENTRIES);
        assert!(inner.bodies.contains_key(&key(CACHE_ENTRIES as u8 + 9)));
        assert!(!inner.bodies.contains_key(&key(0)));
        assert_eq!(
            inner.bytes,
            inner.bodies.values().map(Bytes::len).sum::<usize>()
        );
    }
}
