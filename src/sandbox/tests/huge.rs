//! The huge report over HTTP, at a small size: streamed chunked, a complete document that real
//! parsers read, the large report's rows from the first, the CSV options. (Its gzip is tested
//! with the example's, in `output.rs`.)

use super::super::reports::{columns, Report};
use super::super::{SandboxConfig, REPORT_HUGE};
use super::output::{expected, fetch, parse_csv, parse_json, parse_xml, Row};
use super::{start, Harness, Reply};

const SIZE: usize = 200_000;

async fn sandbox() -> Harness {
    start(SandboxConfig {
        huge_bytes: SIZE as u64,
        ..SandboxConfig::default()
    })
    .await
}

/// Fetches the huge report with `query` appended and checks what every format shares: at least
/// `SIZE` bytes, sent chunked in several frames, not a whole body with a length.
async fn fetch_huge(sandbox: &Harness, query: &str) -> Reply {
    let reply = fetch(sandbox, &format!("ReportId={REPORT_HUGE}{query}")).await;
    assert_eq!(reply.header("content-length"), None, "{query}");
    assert_eq!(
        reply.header("transfer-encoding"),
        Some("chunked"),
        "{query}"
    );
    assert!(reply.frames > 1, "{query}: one frame");
    if !query.contains("Compression") {
        assert!(
            reply.body.len() >= SIZE,
            "{query}: {} bytes",
            reply.body.len()
        );
    }
    reply
}

/// The generator's first rows, as many as `parsed` has (at least one).
#[track_caller]
fn assert_first_rows(parsed: &[Row]) {
    assert!(!parsed.is_empty());
    assert!(
        parsed == expected(Report::Generated(parsed.len())),
        "rows differ from the generator's"
    );
}

#[tokio::test]
async fn streams_a_complete_document_in_each_format() {
    let sandbox = sandbox().await;
    let xml = fetch_huge(&sandbox, "").await;
    assert_eq!(xml.header("content-type"), Some("text/xml; charset=utf-8"));
    let (request_id, rows) = parse_xml(xml.text());
    assert_eq!(request_id.len(), 30);
    assert_first_rows(&rows);
    assert!(xml.text().ends_with("</Row>\n</Rows>"));

    let json = fetch_huge(&sandbox, "&Format=json").await;
    assert_first_rows(&parse_json(&json.body));
    assert!(json.text().ends_with("\n}\n]"));

    let csv = fetch_huge(
        &sandbox,
        "&Format=csv&CSVHeader=yes&CSVFooter=yes&CSVDelimitor=;",
    )
    .await;
    let records = parse_csv(&csv.body, b';');
    let (header, rest) = records.split_first().unwrap();
    let (footer, data) = rest.split_last().unwrap();
    assert_eq!(header, &columns().collect::<Vec<_>>());
    assert_eq!(footer, &[data.len().to_string()]);
    let with_names = |values: &Vec<String>| -> Row {
        columns()
            .map(str::to_owned)
            .zip(values.iter().cloned())
            .collect()
    };
    assert_first_rows(&data.iter().map(with_names).collect::<Vec<_>>());

    let fields = fetch_huge(
        &sandbox,
        "&Format=csv&CSVFields=Customer.EmailAddress,CaseDetails.CaseId",
    )
    .await;
    let records = parse_csv(&fields.body, b',');
    assert!(records.iter().all(|record| record.len() == 2));
    assert_eq!(records[0][1], "500000");
    sandbox.stop().await;
}
