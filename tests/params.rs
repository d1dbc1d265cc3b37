//! The parameter table over real HTTP: every valid form reaches iCasework in canonical form;
//! every invalid value is a 400 problem naming the parameter, and never reaches iCasework.
//! Parameter pollution (duplicates, `db`, `Key`, control characters, encodings, sizes) and path
//! tricks: tests/attacks.

mod common;

use common::*;

async fn setup() -> (FakeUpstream, TestGateway) {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    (upstream, gateway)
}

#[tokio::test]
async fn valid_forms_reach_upstream_in_canonical_form() {
    let (upstream, gateway) = setup().await;
    let cases = [
        ("/getreport?ReportId=10800", "Format=xml&ReportId=10800"),
        ("/getreport?reportid=010800&FORMAT=JSON", "Format=json&ReportId=10800"),
        ("/reports/10800?Format=csv&CSVHeader=TRUE&csvfooter=yes", "CSVFooter=yes&CSVHeader=yes&Format=csv&ReportId=10800"),
        ("/getreport?ReportId=1&CSVDelimitor=%2A&CSVFields=CaseDetailsComplaint.Details", "CSVDelimitor=%2A&CSVFields=casedetailscomplaint.details&Format=xml&ReportId=1"),
        ("/getreport?ReportId=1&Units=previous%20MONTH&Multiples=02", "Format=xml&Multiples=2&ReportId=1&Units=Previous%20month"),
        ("/getreport?ReportId=1&periodUnits=Today&periodMultiples=5", "Format=xml&ReportId=1&periodMultiples=5&periodUnits=Today"),
        ("/getreport?ReportId=1&From=2024-02-29&Until=2024-03-01", "Format=xml&From=2024-02-29&ReportId=1&Until=2024-03-01"),
        ("/getreport?ReportId=1&FromTime=2022-09-21T00:00:01.123&UntilTime=2022-09-21+23:59:59", "Format=xml&FromTime=2022-09-21%2000%3A00%3A01&ReportId=1&UntilTime=2022-09-21%2023%3A59%3A59"),
        ("/getreport?ReportId=1&periodFrom=2022-09-21&periodUntil=2022-09-22", "Format=xml&ReportId=1&periodFrom=2022-09-21&periodUntil=2022-09-22"),
        ("/getreport?ReportId=1&AttributeFilter=36512&AttributeFilter2=a%20b&AttributeFilter3=x&Keywords=icasework,civica", "AttributeFilter=36512&AttributeFilter2=a%20b&AttributeFilter3=x&Format=xml&Keywords=icasework%2Ccivica&ReportId=1"),
        ("/getreport?ReportId=1&Keywords=&Compression=gzip", "Format=xml&ReportId=1"),
    ];
    for (i, (path, canonical)) in cases.iter().enumerate() {
        let got = get(&gateway.url(path)).await;
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        let seen = upstream.getreport_requests();
        assert_eq!(seen.len(), i + 1, "{path}");
        // casegate always asks iCasework for gzip (it inflates, redacts and compresses again).
        let upstream_query = format!("/getreport?{canonical}&Compression=gzip");
        assert_eq!(seen[i].path_and_query(), upstream_query, "{path}");
    }
}

#[tokio::test]
async fn invalid_values_name_the_parameter_and_never_reach_upstream() {
    let (upstream, gateway) = setup().await;
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("/getreport".into(), "missing_report_id", Some("ReportId")),
        (
            "/getreport?Format=json".into(),
            "missing_report_id",
            Some("ReportId"),
        ),
        (
            "/getreport?ReportId=".into(),
            "missing_report_id",
            Some("ReportId"),
        ),
        (
            "/getreport?ReportId=abc".into(),
            "invalid_parameter",
            Some("ReportId"),
        ),
        (
            "/getreport?ReportId=1&Format=pdf".into(),
            "invalid_parameter",
            Some("Format"),
        ),
        (
            "/getreport?ReportId=1&CSVHeader=no".into(),
            "invalid_parameter",
            Some("CSVHeader"),
        ),
        (
            "/getreport?ReportId=1&CSVDelimitor=ab".into(),
            "invalid_parameter",
            Some("CSVDelimitor"),
        ),
        (
            "/getreport?ReportId=1&Compression=br".into(),
            "invalid_parameter",
            Some("Compression"),
        ),
        (
            "/getreport?ReportId=1&Units=Fortnight".into(),
            "invalid_parameter",
            Some("Units"),
        ),
        (
            "/getreport?ReportId=1&Multiples=0".into(),
            "invalid_parameter",
            Some("Multiples"),
        ),
        (
            "/getreport?ReportId=1&periodMultiples=-2".into(),
            "invalid_parameter",
            Some("periodMultiples"),
        ),
        (
            "/getreport?ReportId=1&From=2023-02-29".into(),
            "invalid_parameter",
            Some("From"),
        ),
        (
            "/getreport?ReportId=1&Until=2023-1-5".into(),
            "invalid_parameter",
            Some("Until"),
        ),
        (
            "/getreport?ReportId=1&FromTime=2022-09-21".into(),
            "invalid_parameter",
            Some("FromTime"),
        ),
        (
            "/getreport?ReportId=1&UntilTime=2022-09-21%2025:00:00".into(),
            "invalid_parameter",
            Some("UntilTime"),
        ),
    ];
    for (path, code, parameter) in &cases {
        let got = get(&gateway.url(path)).await;
        let what = &path[..path.len().min(80)];
        assert_eq!(got.status, 400, "{what}: {}", got.text());
        assert_eq!(
            got.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let problem = got.json();
        assert_eq!(problem["code"], *code, "{what}: {problem}");
        assert_eq!(problem["status"], 400);
        assert!(problem["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()));
        if let Some(p) = parameter {
            assert_eq!(problem["parameter"], *p, "{what}: {problem}");
            assert!(
                problem["detail"].as_str().unwrap().contains(p),
                "{what}: {problem}"
            );
        }
    }
    let missing = get(&gateway.url("/getreport")).await;
    assert_eq!(missing.header("x-application-error-code"), Some("8003"));
    assert!(
        upstream.all().is_empty(),
        "a rejected request reached upstream"
    );
}

#[tokio::test]
async fn values_never_appear_in_error_bodies() {
    let (upstream, gateway) = setup().await;
    for path in [
        "/getreport?ReportId=1&Format=Bloggs-Fred",
        "/getreport?ReportId=1&From=prasad.iyer@civica.co.uk",
        "/getreport?ReportId=1&Keywords=Bloggs%0AFred",
    ] {
        let got = get(&gateway.url(path)).await;
        assert_eq!(got.status, 400);
        let text = got.text();
        assert!(
            !text.contains("Bloggs") && !text.contains("prasad"),
            "{text}"
        );
    }
    assert!(upstream.all().is_empty());
}

#[tokio::test]
async fn methods_other_than_get_and_head_are_refused_with_8000() {
    let (upstream, gateway) = setup().await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let request = http::Request::builder()
            .method(method)
            .uri(gateway.url("/getreport?ReportId=1"))
            .body(Default::default())
            .unwrap();
        let got = send(request).await;
        assert_eq!(got.status, 400, "{method}");
        assert_eq!(
            got.header("x-application-error-code"),
            Some("8000"),
            "{method}"
        );
        assert_eq!(got.header("allow"), Some("GET, HEAD"));
        assert_eq!(got.json()["code"], "method_not_allowed");
    }
    assert!(upstream.all().is_empty());

    let head = http::Request::head(gateway.url("/getreport?ReportId=1"))
        .body(Default::default())
        .unwrap();
    let got = send(head).await;
    assert_eq!(got.status, 200);
    assert!(got.body.is_empty());
}
