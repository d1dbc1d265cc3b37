//! The model's report rendered the way iCasework writes each format; random choices of
//! whitespace and escapes (seeded by the case) where iCasework's output may vary.

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::{Case, Fmt, Report};

/// A rendered body, and the raw bytes of each cell where the format copies kept cells byte
/// for byte (XML: the whole element; JSON: the member from its key to its value).
pub(super) struct Rendered {
    pub(super) body: Vec<u8>,
    pub(super) cells: Vec<Vec<Vec<u8>>>,
}

pub(super) fn render(fmt: Fmt, case: &Case) -> Rendered {
    let mut rng = StdRng::seed_from_u64(case.style);
    match fmt {
        Fmt::Xml => xml(&case.report, &mut rng),
        Fmt::Json => json(&case.report, &mut rng),
        Fmt::Csv => Rendered {
            body: csv(&case.report, case.delimiter, true, case.footer),
            cells: Vec::new(),
        },
    }
}

fn pick<'a>(rng: &mut StdRng, choices: &[&'a str]) -> &'a str {
    choices[rng.gen_range(0..choices.len())]
}

/// `<Rows RequestId=".."><Row><Col>value</Col>...</Row></Rows>`: `&`, `<`, `>` escaped and a CR
/// as `&#13;` (as the XSLT serializer behind iCasework writes it), sometimes quotes and
/// non-ASCII as references too; some values in CDATA; empty values as `<C/>` or `<C></C>`.
fn xml(report: &Report, rng: &mut StdRng) -> Rendered {
    let mut body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n".to_vec();
    body.extend_from_slice(b"<Rows RequestId=\"51221195af5536c367accafeaedd91\"");
    if report.rows.is_empty() && rng.gen() {
        body.extend_from_slice(b"/>");
    } else {
        body.push(b'>');
    }
    let mut cells = Vec::new();
    for row in &report.rows {
        body.extend_from_slice(b"\n<Row>");
        let mut raw_row = Vec::new();
        for (name, value) in report.columns.iter().zip(row) {
            body.extend_from_slice(pick(rng, &["\n", "", "\r\n  "]).as_bytes());
            let mut cell = format!("<{name}>");
            if value.is_empty() && rng.gen() {
                cell = format!("<{name}/>");
            } else if !value.contains("]]>") && !value.contains('\r') && rng.gen_ratio(1, 4) {
                cell.push_str(&format!("<![CDATA[{value}]]></{name}>"));
            } else {
                let refs = rng.gen_ratio(1, 3);
                for c in value.chars() {
                    match c {
                        '&' => cell.push_str("&amp;"),
                        '<' => cell.push_str("&lt;"),
                        '>' => cell.push_str("&gt;"),
                        '\r' => cell.push_str("&#13;"),
                        '"' if refs => cell.push_str("&quot;"),
                        '\'' if refs => cell.push_str("&apos;"),
                        c if refs && !c.is_ascii() => cell.push_str(&format!("&#x{:X};", c as u32)),
                        c => cell.push(c),
                    }
                }
                cell.push_str(&format!("</{name}>"));
            }
            body.extend_from_slice(cell.as_bytes());
            raw_row.push(cell.into_bytes());
        }
        body.extend_from_slice(b"\n</Row>");
        cells.push(raw_row);
    }
    if !body.ends_with(b"/>") {
        body.extend_from_slice(b"\n</Rows>");
    }
    body.extend_from_slice(pick(rng, &["", "\n", "\r\n"]).as_bytes());
    Rendered { body, cells }
}

/// JSON string literal: serde_json's minimal escapes, or (`heavy`) every non-ASCII character as
/// `\uXXXX` (surrogate pairs beyond the BMP), `/` as `\/`, and a leading letter escaped too
/// (never a leading marker, so that the raw checks find every planted marker literally).
fn json_string(s: &str, heavy: bool) -> String {
    if !heavy {
        return serde_json::to_string(s).unwrap();
    }
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (i == 0 && c.is_ascii_alphabetic()) || !c.is_ascii() || c.is_ascii_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A top-level array of flat objects, written by hand: keys repeat.
fn json(report: &Report, rng: &mut StdRng) -> Rendered {
    let mut body = b"[".to_vec();
    let mut cells = Vec::new();
    for (r, row) in report.rows.iter().enumerate() {
        body.extend_from_slice(
            if r == 0 {
                "\n"
            } else {
                pick(rng, &[",\n", ","])
            }
            .as_bytes(),
        );
        body.push(b'{');
        let mut raw_row = Vec::new();
        for (c, (name, value)) in report.columns.iter().zip(row).enumerate() {
            let lead = pick(rng, &["\n", "", " "]);
            body.extend_from_slice(
                if c == 0 {
                    lead.to_owned()
                } else {
                    format!(",{lead}")
                }
                .as_bytes(),
            );
            let member = format!(
                "{}{}{}",
                json_string(name, rng.gen_ratio(1, 4)),
                pick(rng, &[": ", ":", " : "]),
                json_string(value, rng.gen_ratio(1, 3)),
            );
            body.extend_from_slice(member.as_bytes());
            raw_row.push(member.into_bytes());
        }
        body.extend_from_slice(b"\n}");
        cells.push(raw_row);
    }
    body.extend_from_slice(if report.rows.is_empty() { "]" } else { "\n]" }.as_bytes());
    body.extend_from_slice(pick(rng, &["", "\n"]).as_bytes());
    Rendered { body, cells }
}

/// RFC 4180 through the csv crate, as iCasework's CSV: necessary quoting, CRLF, the header
/// (casegate always asks for it), and the row count as a one-field footer when asked.
pub(super) fn csv(report: &Report, delimiter: u8, header: bool, footer: bool) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(::csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    if header {
        w.write_record(&report.columns).unwrap();
    }
    for row in &report.rows {
        w.write_record(row).unwrap();
    }
    if footer {
        w.write_record([report.rows.len().to_string()]).unwrap();
    }
    w.into_inner().unwrap()
}

pub(super) fn gzip(body: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(body).unwrap();
    e.finish().unwrap()
}
