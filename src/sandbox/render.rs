//! Rendering a report the way upstream does (XML by default, JSON, CSV, optionally gzipped):
//! whole, or row by row with a [`RowWriter`] while it streams.

use std::borrow::Cow;
use std::io::Write;

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

    /// About how many bytes one row of the large report takes, to size a whole body.
    fn row_bytes(&self) -> usize {
        match self {
            Rendering::Xml { .. } => 8 * 1024,
            Rendering::Json => 5 * 1024,
            Rendering::Csv(_) => 2 * 1024,
        }
    }
}

/// Renders a report of fixed size whole. The huge report has none: it is only streamed
/// (`stream.rs`), by the same [`RowWriter`].
pub(crate) fn render(report: Report, rendering: &Rendering) -> Vec<u8> {
    let rows = report
        .row_count()
        .expect("only reports of a fixed size are rendered whole");
    let mut out = Vec::with_capacity(rendering.row_bytes() * rows.max(1));
    let mut writer = RowWriter::new(rendering.clone());
    writer.head(&mut out);
    for index in 0..rows {
        writer.row(&mut out, &report.row(index));
    }
    writer.tail(&mut out);
    out
}

/// Writes a body piece by piece: its head, one row at a time, its tail. The one renderer behind
/// whole bodies ([`render`]) and the streamed huge report.
#[derive(Debug)]
pub(crate) struct RowWriter {
    rendering: Rendering,
    /// CSV: the indices of the columns written, in order.
    csv_columns: Vec<usize>,
    /// Rows written so far.
    rows: usize,
}

impl RowWriter {
    pub(crate) fn new(rendering: Rendering) -> Self {
        let csv_columns = match &rendering {
            Rendering::Csv(CsvOptions {
                fields: Some(fields),
                ..
            }) => fields.clone(),
            _ => (0..reports::columns().len()).collect(),
        };
        Self {
            rendering,
            csv_columns,
            rows: 0,
        }
    }

    /// The start of the body: the XML declaration and `<Rows>`, JSON's `[`, or the CSV header.
    pub(crate) fn head(&mut self, out: &mut Vec<u8>) {
        match &self.rendering {
            Rendering::Xml { request_id } => {
                out.extend_from_slice(
                    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"",
                );
                escape_xml(out, request_id, true);
                out.extend_from_slice(b"\">");
            }
            Rendering::Json => out.push(b'['),
            Rendering::Csv(options) if options.header => {
                let columns: Vec<&str> = reports::columns().collect();
                let header = self.csv_columns.iter().map(|&at| columns[at]);
                csv_record(out, options.delimiter, header);
            }
            Rendering::Csv(_) => {}
        }
    }

    /// One row: `values` holds one value per column, in the columns' order.
    pub(crate) fn row(&mut self, out: &mut Vec<u8>, values: &[Cow<'_, str>]) {
        let first = self.rows == 0;
        self.rows += 1;
        match &self.rendering {
            Rendering::Xml { .. } => {
                if first {
                    out.push(b'\n');
                }
                out.extend_from_slice(b"<Row>\n");
                for (column, value) in reports::columns().zip(values) {
                    // Column names are fixed, valid XML names: only values need escaping.
                    out.push(b'<');
                    out.extend_from_slice(column.as_bytes());
                    out.push(b'>');
                    escape_xml(out, value, false);
                    out.extend_from_slice(b"</");
                    out.extend_from_slice(column.as_bytes());
                    out.extend_from_slice(b">\n");
                }
                out.extend_from_slice(b"</Row>\n");
            }
            // Written by hand, not through a map: upstream's objects repeat keys, and the
            // order matters.
            Rendering::Json => {
                out.extend_from_slice(if first { b"\n{\n" } else { b",\n{\n" });
                for (at, (column, value)) in reports::columns().zip(values).enumerate() {
                    if at > 0 {
                        out.extend_from_slice(b",\n");
                    }
                    json_string(out, column);
                    out.extend_from_slice(b": ");
                    json_string(out, value);
                }
                out.extend_from_slice(b"\n}");
            }
            Rendering::Csv(options) => {
                let fields = self.csv_columns.iter().map(|&at| values[at].as_bytes());
                csv_record(out, options.delimiter, fields);
            }
        }
    }

    /// The end of the body: `</Rows>`, JSON's `]`, or the CSV footer (the number of rows).
    pub(crate) fn tail(&mut self, out: &mut Vec<u8>) {
        match &self.rendering {
            Rendering::Xml { .. } => out.extend_from_slice(b"</Rows>"),
            Rendering::Json if self.rows == 0 => out.push(b']'),
            Rendering::Json => out.extend_from_slice(b"\n]"),
            Rendering::Csv(options) if options.footer => {
                csv_record(out, options.delimiter, [self.rows.to_string()]);
            }
            Rendering::Csv(_) => {}
        }
    }
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

fn json_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string always serializes into a Vec");
}

/// One CSV record, ending in CRLF, fields quoted only where they must be (RFC 4180).
fn csv_record<I>(out: &mut Vec<u8>, delimiter: u8, fields: I)
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer
        .write_record(fields)
        .and_then(|()| Ok(writer.flush()?))
        .expect("CSV writes into a Vec cannot fail");
}

/// Gzips `body` (mtime 0, so the output is deterministic).
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(body)
        .expect("writes into a Vec cannot fail");
    encoder.finish().expect("writes into a Vec cannot fail")
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
}
