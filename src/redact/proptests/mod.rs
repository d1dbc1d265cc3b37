//! Properties of the whole redaction pipeline (gunzip → redactor → gzip) over random reports in
//! every format: random columns (repeated, in mixed letter case), values full of delimiters,
//! quotes, line ends, markup, escapes and multi-byte UTF-8, random grants (deny- and
//! allow-list), gzip on either side and random chunk boundaries. The expected redaction comes
//! from the model (`model.rs`), rendered as iCasework writes it (`render.rs`); the output is
//! read back with the standard parsers (`parse.rs`).

mod model;
mod parse;
mod render;

use std::io::Read;

use memchr::memmem;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseResult;

use self::model::{Case, Fmt, Report, Rows, Rules};
use super::csv_report::{CsvOptions, CsvRedactor};
use super::json::JsonRedactor;
use super::xml::XmlRedactor;
use super::{ColumnAction, Pipeline, RedactError, Redactor};

fn redactor(fmt: Fmt, case: &Case) -> Box<dyn Redactor> {
    let rules = Rules(case.grant.clone());
    match fmt {
        Fmt::Xml => Box::new(XmlRedactor::new(rules)),
        Fmt::Json => Box::new(JsonRedactor::new(rules)),
        Fmt::Csv => Box::new(CsvRedactor::new(
            rules,
            CsvOptions {
                delimiter: case.delimiter,
                emit_header: case.header,
                footer: case.footer,
                ..CsvOptions::default()
            },
        )),
    }
}

/// The upstream bytes: the rendered body, gzipped when the case says so.
fn upstream(case: &Case, body: &[u8]) -> Vec<u8> {
    if case.inflate {
        render::gzip(body, (case.style % 10) as u32)
    } else {
        body.to_vec()
    }
}

/// Runs `input` through a pipeline fed in chunks cut at `cuts`. Returns the output (inflated
/// when `deflate`, as far as it goes when the pipeline failed) and the result.
fn run(
    fmt: Fmt,
    case: &Case,
    input: &[u8],
    (inflate, deflate): (bool, bool),
    cuts: &[Index],
) -> (Vec<u8>, Result<(), RedactError>) {
    let mut pipeline = Pipeline::new(redactor(fmt, case), inflate, deflate);
    let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    let mut result = Ok(());
    for cut in cuts.into_iter().chain([input.len()]) {
        result = pipeline.feed(&input[from..cut], &mut out);
        from = cut;
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = pipeline.finish(&mut out);
    }
    if deflate {
        let mut plain = Vec::new();
        let inflated = flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut plain);
        // A pipeline that finished ended its gzip stream; a failed one leaves it open.
        assert!(
            result.is_err() || inflated.is_ok(),
            "unreadable gzip output"
        );
        out = plain;
    }
    (out, result)
}

/// The names of the columns the grant does not drop, in order.
fn kept_names(case: &Case, report: &Report) -> Vec<String> {
    let kept = |name: &&String| case.grant.action(name) != ColumnAction::Drop;
    report.columns.iter().filter(kept).cloned().collect()
}

/// (e) The output read back with the standard parser. A CSV header must name the kept columns,
/// a CSV footer must hold the row count; CSV rows are paired with the kept columns' names.
fn read_back(fmt: Fmt, case: &Case, report: &Report, out: &[u8]) -> Result<Rows, TestCaseError> {
    let text = || String::from_utf8_lossy(out).into_owned();
    let parsed = match fmt {
        Fmt::Xml => parse::xml(out),
        Fmt::Json => parse::json(out),
        Fmt::Csv => {
            let names = kept_names(case, report);
            if names.is_empty() {
                // No field left: csv-core writes a record of no fields as `""` (an empty line
                // would be skipped by readers and lose the row), so each row reads as one
                // empty field: check the bytes instead.
                let lines = usize::from(case.header) + report.rows.len();
                let mut want = b"\"\"\r\n".repeat(lines);
                if case.footer {
                    want.extend_from_slice(format!("{}\r\n", report.rows.len()).as_bytes());
                }
                prop_assert!(out == want, "(d) rows of no kept column: {:?}", text());
                return Ok(report.rows.iter().map(|_| Vec::new()).collect());
            }
            let mut records = parse::csv(out, case.delimiter)
                .map_err(|e| TestCaseError::fail(format!("(e) {e}: {:?}", text())))?;
            if case.header {
                prop_assert!(!records.is_empty(), "(e) no header");
                prop_assert_eq!(&records.remove(0), &names, "(a) the header");
            }
            if case.footer {
                let footer = records.pop();
                prop_assert_eq!(footer, Some(vec![report.rows.len().to_string()]), "footer");
            }
            let rows = records.into_iter().map(|record| {
                prop_assert_eq!(record.len(), names.len(), "(e) a record's fields");
                Ok(names.iter().cloned().zip(record).collect())
            });
            return rows.collect();
        }
    };
    parsed.map_err(|e| TestCaseError::fail(format!("(e) {e}: {:?}", text())))
}

/// (a) (b) (c) (d): the rows read back are the expected rows, cell by cell.
fn compare(case: &Case, want: &Rows, got: &Rows) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "(d) the row count");
    let names = |row: &[(String, String)]| row.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
    for (r, (want, got)) in want.iter().zip(got).enumerate() {
        prop_assert_eq!(
            names(got),
            names(want),
            "(a) row {}: dropped columns gone",
            r
        );
        for ((name, got), (_, want)) in got.iter().zip(want) {
            let what = match case.grant.action(name) {
                ColumnAction::Keep => "(b) a kept value is unchanged",
                ColumnAction::Mask => "(a) (c) a masked value is the mask",
                ColumnAction::Hash => "(a) (c) a hashed value is the pseudonym",
                ColumnAction::Drop => "(a) a dropped column is gone",
            };
            prop_assert_eq!(got, want, "{}: row {} column {}", what, r, name);
        }
    }
    Ok(())
}

/// The planted markers of `report` whose columns the grant redacts, and of those it keeps.
fn markers(case: &Case, report: &Report) -> (Vec<String>, Vec<String>) {
    let (mut redacted, mut kept) = (Vec::new(), Vec::new());
    for (r, row) in report.rows.iter().enumerate() {
        for (c, (name, value)) in report.columns.iter().zip(row).enumerate() {
            let marker = model::marker(r, c);
            if value.contains(&marker) {
                match case.grant.action(name) {
                    ColumnAction::Keep => kept.push(marker),
                    _ => redacted.push(marker),
                }
            }
        }
    }
    (redacted, kept)
}

fn no_redacted_marker(case: &Case, out: &[u8]) -> Result<(), TestCaseError> {
    for marker in markers(case, &case.report).0 {
        let found = memmem::find(out, marker.as_bytes()).is_some();
        prop_assert!(
            !found,
            "(a) {} of a redacted column is in the output",
            marker
        );
    }
    Ok(())
}

/// The checks on the raw bytes: no redacted marker, every kept one; kept XML elements and JSON
/// members byte for byte, in order; a grant that keeps everything gives the input back.
fn raw_checks(fmt: Fmt, case: &Case, rendered: &render::Rendered, out: &[u8]) -> TestCaseResult {
    no_redacted_marker(case, out)?;
    for marker in markers(case, &case.report).1 {
        prop_assert!(
            memmem::find(out, marker.as_bytes()).is_some(),
            "(b) {marker} kept"
        );
    }
    let mut at = 0;
    for (r, row) in rendered.cells.iter().enumerate() {
        for (name, cell) in case.report.columns.iter().zip(row) {
            if case.grant.action(name) == ColumnAction::Keep {
                let found = memmem::find(&out[at..], cell);
                prop_assert!(found.is_some(), "(b) row {} {} not byte for byte", r, name);
                at += found.unwrap_or(0) + cell.len();
            }
        }
    }
    if case.grant.keeps_all(&case.report) {
        let want = match fmt {
            Fmt::Csv => render::csv(&case.report, case.delimiter, case.header, case.footer),
            _ => rendered.body.clone(),
        };
        prop_assert!(out == want, "(b) keeping every column changed the body");
    }
    Ok(())
}

fn redacts_exactly(fmt: Fmt, case: &Case) -> TestCaseResult {
    let rendered = render::render(fmt, case);
    let body = &rendered.body;
    let (reference, result) = run(fmt, case, body, (false, false), &[]);
    prop_assert!(result.is_ok(), "(e) a valid body failed: {:?}", result);
    // (f) The same bytes whatever the chunk boundaries and gzip on either side.
    let input = upstream(case, body);
    let (out, result) = run(fmt, case, &input, (case.inflate, case.deflate), &case.cuts);
    prop_assert!(
        result.is_ok(),
        "(e) a valid body failed chunked or gzipped: {:?}",
        result
    );
    prop_assert!(out == reference, "(f) chunking or gzip changed the output");

    let want = model::expected(fmt, &case.report, &case.grant);
    let got = read_back(fmt, case, &case.report, &reference)?;
    compare(case, &want, &got)?;
    raw_checks(fmt, case, &rendered, &reference)
}

/// A body cut short fails (`feed` or `finish`), unless the cut only lost what a complete body
/// may lack; before failing, nothing of a redacted column was written.
fn cut_fails_closed(fmt: Fmt, case: &Case, cut: Cut) -> TestCaseResult {
    let rendered = render::render(fmt, case);
    let input = upstream(case, &rendered.body);
    let cut = match cut {
        Cut::Anywhere(at) => at.index(input.len()),
        Cut::NearEnd(lost) => input.len().saturating_sub(lost),
    };
    let (out, result) = run(
        fmt,
        case,
        &input[..cut],
        (case.inflate, case.deflate),
        &case.cuts,
    );
    no_redacted_marker(case, &out)?;
    if result.is_err() {
        return Ok(());
    }
    prop_assert!(!case.inflate, "a cut gzip stream was accepted");
    let (body, rest) = rendered.body.split_at(cut);
    let report = match fmt {
        Fmt::Xml | Fmt::Json => {
            let ws = rest.iter().all(u8::is_ascii_whitespace);
            prop_assert!(ws, "a body cut before its end was accepted");
            case.report.clone()
        }
        // CSV has no end mark: a body cut at the end of a record (or in an unquoted last
        // field) is a complete, shorter report, and only the transport (Content-Length, the
        // chunked encoding) can tell it was cut. What the redactor must do is redact exactly
        // what it was given, and refuse it if it is not a complete report: a header, records
        // as wide as the header, and the footer (when asked) holding the row count.
        Fmt::Csv => complete_csv(case, body)?,
    };
    let want = model::expected(fmt, &report, &case.grant);
    compare(case, &want, &read_back(fmt, case, &report, &out)?)
}

/// Where a body is cut: anywhere before its end, or one to a few bytes before it, where a cut
/// is hardest to tell from a complete body (in the last row, its end tag, the CSV footer).
#[derive(Debug, Clone, Copy)]
enum Cut {
    Anywhere(Index),
    NearEnd(usize),
}

fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        any::<Index>().prop_map(Cut::Anywhere),
        (1usize..12).prop_map(Cut::NearEnd)
    ]
}

/// `body` read by the csv crate as a whole report, or a failure: it was accepted but is not.
fn complete_csv(case: &Case, body: &[u8]) -> Result<Report, TestCaseError> {
    let accepted = "a cut body that is not a complete report was accepted";
    let mut records = parse::csv(body, case.delimiter).map_err(TestCaseError::fail)?;
    prop_assert!(!records.is_empty(), "{}: no header", accepted);
    let columns = records.remove(0);
    if case.footer {
        let footer = records.pop();
        let count = records.len().to_string();
        prop_assert_eq!(footer, Some(vec![count]), "{}: the footer", accepted);
    }
    let wide = records.iter().all(|r| r.len() == columns.len());
    prop_assert!(wide, "{}: a short record", accepted);
    Ok(Report {
        columns,
        rows: records,
    })
}

// 256 cases each: about a second for all six in a debug build. The cut properties need the
// count: a cut inside a two-digit CSV footer is a one-in-a-few-hundred case.
proptest! {
    #![proptest_config(crate::proptest_config(256))]

    #[test]
    fn xml_redacts_exactly(case in model::case()) {
        redacts_exactly(Fmt::Xml, &case)?;
    }

    #[test]
    fn json_redacts_exactly(case in model::case()) {
        redacts_exactly(Fmt::Json, &case)?;
    }

    #[test]
    fn csv_redacts_exactly(case in model::case()) {
        redacts_exactly(Fmt::Csv, &case)?;
    }

    #[test]
    fn xml_cut_fails_closed(case in model::case(), cut in cut()) {
        cut_fails_closed(Fmt::Xml, &case, cut)?;
    }

    #[test]
    fn json_cut_fails_closed(case in model::case(), cut in cut()) {
        cut_fails_closed(Fmt::Json, &case, cut)?;
    }

    #[test]
    fn csv_cut_fails_closed(case in model::case(), cut in cut()) {
        cut_fails_closed(Fmt::Csv, &case, cut)?;
    }
}
