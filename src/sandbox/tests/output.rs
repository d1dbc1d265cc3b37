//! Report bodies: the documented example byte for byte, CSV options, gzip, the large report.

use std::fmt;
use std::io::Read;

use http::StatusCode;
use quick_xml::events::Event;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::super::reports::{columns, Report, LARGE_ROWS};
use super::super::{SandboxConfig, REPORT_EXAMPLE, REPORT_HUGE};
use super::{start, Harness, Reply};

/// The example of `getreport-api.txt`, copied verbatim (plus a final newline).
const DOC_XML: &str = include_str!("../fixtures/example.xml");
const DOC_JSON: &str = include_str!("../fixtures/example.json");

pub(super) type Row = Vec<(String, String)>;

/// The rows `report` should produce.
pub(super) fn expected(report: Report) -> Vec<Row> {
    (0..report.row_count().unwrap())
        .map(|index| {
            columns()
                .zip(report.row(index))
                .map(|(c, v)| (c.to_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

pub(super) async fn fetch(sandbox: &Harness, query: &str) -> Reply {
    let token = sandbox.token().await;
    let reply = sandbox
        .get(&format!("/getreport?{query}"), Some(&token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply
}

/// Parses the sandbox's XML with a real parser: (RequestId, rows).
pub(super) fn parse_xml(body: &str) -> (String, Vec<Row>) {
    let mut reader = quick_xml::Reader::from_str(body);
    let (mut request_id, mut rows) = (String::new(), Vec::new());
    let (mut row, mut cell): (Option<Row>, Option<(String, String)>) = (None, None);
    loop {
        match reader.read_event().unwrap() {
            Event::Decl(_) => {}
            Event::Start(start) => match start.name().as_ref() {
                b"Rows" => {
                    let id = start.try_get_attribute("RequestId").unwrap().unwrap();
                    request_id = id
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .unwrap()
                        .into_owned();
                }
                b"Row" => row = Some(Vec::new()),
                name => cell = Some((String::from_utf8(name.to_vec()).unwrap(), String::new())),
            },
            Event::Text(text) => match &mut cell {
                Some((_, value)) => value.push_str(&text.xml10_content().unwrap()),
                None => assert!(text.xml10_content().unwrap().trim().is_empty()),
            },
            Event::GeneralRef(reference) => {
                let (_, value) = cell.as_mut().unwrap();
                match reference.resolve_char_ref().unwrap() {
                    Some(c) => value.push(c),
                    None => {
                        let name = reference.decode().unwrap();
                        value.push_str(quick_xml::escape::resolve_xml_entity(&name).unwrap());
                    }
                }
            }
            Event::End(end) => match end.name().as_ref() {
                b"Rows" => {}
                b"Row" => rows.push(row.take().unwrap()),
                _ => row.as_mut().unwrap().push(cell.take().unwrap()),
            },
            Event::Eof => return (request_id, rows),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// One JSON object, duplicate keys and their order kept: serde_json's `Value` would merge them.
struct OrderedRow(Row);

impl<'de> Deserialize<'de> for OrderedRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = OrderedRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a flat object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedRow, A::Error> {
                let mut row = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    row.push(entry);
                }
                Ok(OrderedRow(row))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

pub(super) fn parse_json(body: &[u8]) -> Vec<Row> {
    let rows: Vec<OrderedRow> = serde_json::from_slice(body).unwrap();
    rows.into_iter().map(|row| row.0).collect()
}

pub(super) fn parse_csv(body: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body);
    reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn example_matches_the_documentation() {
    let sandbox = start(SandboxConfig::default()).await;
    for query in [
        "ReportId=10800",
        "ReportId=10800&Format=xml",
        "reportid=10800&FORMAT=XML",
    ] {
        let reply = fetch(&sandbox, query).await;
        assert_eq!(
            reply.header("content-type"),
            Some("text/xml; charset=utf-8")
        );
        // The documented XML lost the address's CRs (its JSON keeps them); the sandbox writes
        // them as character references, so a parser reads what the JSON says.
        assert_eq!(
            reply.text().replace("&#13;", ""),
            DOC_XML.strip_suffix('\n').unwrap()
        );
        let (request_id, rows) = parse_xml(reply.text());
        assert_eq!(request_id, "51221195af5536c367accafeaedd91");
        assert_eq!(rows, expected(Report::Example));
    }
    let reply = fetch(&sandbox, "ReportId=10800&Format=json").await;
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(reply.text(), DOC_JSON.strip_suffix('\n').unwrap());
    let rows = parse_json(&reply.body);
    assert_eq!(rows, expected(Report::Example));
    let address = rows[0]
        .iter()
        .find(|(column, _)| column == "Customer.Address")
        .unwrap();
    assert_eq!(address.1, "Test\r\na\r\nb\r\ncsss\r\nd");
    assert_eq!(
        rows[0]
            .iter()
            .filter(|(column, _)| column == "CaseDetails.TotalRedress")
            .count(),
        2
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn empty_report_in_each_format() {
    let sandbox = start(SandboxConfig::default()).await;
    let xml = fetch(&sandbox, "ReportId=10802").await;
    let (request_id, rows) = parse_xml(xml.text());
    assert!(rows.is_empty());
    assert_eq!(
        xml.text(),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"{request_id}\"></Rows>"
        )
    );
    assert_eq!(
        fetch(&sandbox, "ReportId=10802&Format=json").await.text(),
        "[]"
    );
    assert_eq!(
        fetch(&sandbox, "ReportId=10802&Format=csv&CSVFooter=yes")
            .await
            .text(),
        "0\r\n"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn csv_header_footer_delimiter_fields_and_quoting() {
    let sandbox = start(SandboxConfig::default()).await;
    let reply = fetch(
        &sandbox,
        "ReportId=10800&Format=csv&CSVHeader=yes&CSVFooter=TRUE",
    )
    .await;
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let records = parse_csv(&reply.body, b',');
    let example = &expected(Report::Example)[0];
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[0],
        example.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        records[1],
        example.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
    );
    assert_eq!(records[2], ["1"]);
    assert!(reply.text().contains(",\"Bloggs, Fred\",Fred,"));
    assert!(reply.text().ends_with("\r\n1\r\n"));

    let fields = "customer.fullname,CASEDETAILS.CASEID,%20Customer.Address";
    let reply = fetch(
        &sandbox,
        &format!("ReportId=10800&Format=csv&CSVDelimitor=*&CSVFields={fields}"),
    )
    .await;
    assert_eq!(
        reply.text(),
        "Bloggs, Fred*453781*\"Test\r\na\r\nb\r\ncsss\r\nd\"\r\n"
    );

    // Duplicate column names select their first occurrence.
    let reply = fetch(
        &sandbox,
        "ReportId=10800&Format=csv&CSVHeader=true&CSVFields=casedetails.totalredress",
    )
    .await;
    assert_eq!(reply.text(), "CaseDetails.TotalRedress\r\n0.00\r\n");

    // Quotes, commas, CRLFs and the delimiter itself in the large report survive a real reader.
    let reply = fetch(
        &sandbox,
        "ReportId=10801&Format=csv&CSVDelimitor=;&CSVHeader=yes",
    )
    .await;
    let records = parse_csv(&reply.body, b';');
    let rows = expected(Report::Large);
    assert_eq!(records.len(), 1 + LARGE_ROWS);
    for (record, row) in records[1..].iter().zip(&rows) {
        assert_eq!(
            record,
            &row.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
        );
    }
    assert!(reply
        .text()
        .contains("\"Said the letter was \"\"unacceptable\"\"\""));
    sandbox.stop().await;
}

/// The example, and the huge report (streamed, compressed as it goes) at a small size.
#[tokio::test]
async fn gzip_with_and_without_content_encoding() {
    for gzip_content_encoding in [true, false] {
        let sandbox = start(SandboxConfig {
            gzip_content_encoding,
            huge_bytes: 200_000,
            ..SandboxConfig::default()
        })
        .await;
        let reports_and_formats = [REPORT_EXAMPLE, REPORT_HUGE]
            .into_iter()
            .flat_map(|report| ["xml", "json", "csv"].map(|format| (report, format)));
        for (report, format) in reports_and_formats {
            let plain = fetch(&sandbox, &format!("ReportId={report}&Format={format}")).await;
            let query = format!("ReportId={report}&Format={format}&Compression=GZIP");
            let zipped = fetch(&sandbox, &query).await;
            let expected_encoding = gzip_content_encoding.then_some("gzip");
            assert_eq!(zipped.header("content-encoding"), expected_encoding);
            assert_eq!(zipped.header("content-type"), plain.header("content-type"));
            assert_eq!(&zipped.body[..2], [0x1f, 0x8b]);
            assert_eq!(gunzip(&zipped.body), plain.body);
        }
        sandbox.stop().await;
    }
}

#[tokio::test]
async fn large_report_in_each_format_arrives_in_frames() {
    let sandbox = start(SandboxConfig::default()).await;
    let rows = expected(Report::Large);

    let xml = fetch(&sandbox, "ReportId=10801").await;
    assert!(xml.frames > 1, "one frame");
    assert_eq!(
        xml.header("content-length"),
        Some(xml.body.len().to_string().as_str())
    );
    let (request_id, parsed) = parse_xml(xml.text());
    assert_eq!(request_id.len(), 30);
    assert_eq!(parsed.len(), LARGE_ROWS);
    assert!(parsed == rows, "XML rows differ from the generator's");

    let json = fetch(&sandbox, "ReportId=10801&Format=json").await;
    assert!(json.frames > 1, "one frame");
    let parsed = parse_json(&json.body);
    assert_eq!(parsed.len(), LARGE_ROWS);
    assert!(parsed == rows, "JSON rows differ from the generator's");

    let csv = fetch(&sandbox, "ReportId=10801&Format=csv&CSVFooter=yes").await;
    assert!(csv.frames > 1, "one frame");
    let records = parse_csv(&csv.body, b',');
    assert_eq!(records.len(), LARGE_ROWS + 1);
    assert_eq!(records[LARGE_ROWS], ["5000"]);

    let zipped = fetch(&sandbox, "ReportId=10801&Format=json&Compression=gzip").await;
    assert!(zipped.frames > 1, "one frame");
    assert_eq!(gunzip(&zipped.body), json.body);

    // Deterministic: the same request, the same bytes.
    assert_eq!(fetch(&sandbox, "ReportId=10801").await.body, xml.body);
    sandbox.stop().await;
}
