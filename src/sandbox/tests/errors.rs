//! Every upstream error code the sandbox produces.

use http::{Method, StatusCode};

use super::super::SandboxConfig;
use super::start;

#[tokio::test]
async fn each_error_code() {
    let sandbox = start(SandboxConfig::default()).await;
    let token = sandbox.token().await;
    let bearer = Some(token.as_str());

    let reply = sandbox
        .request(Method::POST, "/getreport?ReportId=10800", bearer, "")
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::BAD_REQUEST, "8000"),
        "Invalid HTTP Method."
    );

    let reply = sandbox
        .get("/getreport?db=other&ReportId=10800", bearer)
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::BAD_REQUEST, "8001"),
        "API not available here - please use https://uat.icasework.com/getreport?db=other"
    );

    for path in [
        "/getreport",
        "/getreport?ReportId=",
        "/getreport?db=sandbox&Format=json",
    ] {
        let reply = sandbox.get(path, bearer).await;
        assert_eq!(
            reply.assert_error(StatusCode::BAD_REQUEST, "8003"),
            "Required parameter ReportId was not supplied."
        );
    }

    let reply = sandbox.get("/getreport?ReportId=123", bearer).await;
    assert_eq!(
        reply.assert_error(StatusCode::BAD_REQUEST, "8051"),
        "Report 123 not found"
    );
    let reply = sandbox
        .get("/getreport?ReportId=%C5%81%0D%0A", bearer)
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::BAD_REQUEST, "8051"),
        "Report %C5%81%0D%0A not found"
    );

    let reply = sandbox.get("/getreport?ReportId=10803", bearer).await;
    assert!(reply
        .assert_error(StatusCode::BAD_REQUEST, "8052")
        .starts_with("Report 10803 "));

    let reply = sandbox
        .get("/getreport?ReportId=10804&Format=json", bearer)
        .await;
    assert_eq!(
        reply.assert_error(StatusCode::BAD_REQUEST, "8061"),
        "An unexpected error occurred during XML transformation"
    );

    let invalid = [
        ("Format=pdf", "Format"),
        ("Units=Fortnight", "Units"),
        ("periodUnits=Next+years", "periodUnits"),
        ("Multiples=five", "Multiples"),
        ("From=2022-13-01", "From"),
        ("periodUntil=21/09/2022", "periodUntil"),
        ("FromTime=2022-09-21", "FromTime"),
        ("Compression=br", "Compression"),
        ("CSVHeader=maybe", "CSVHeader"),
        ("CSVDelimitor=ab", "CSVDelimitor"),
        ("Format=csv&CSVFields=Customer.Shoesize", "CSVFields"),
    ];
    for (param, name) in invalid {
        let reply = sandbox
            .get(&format!("/getreport?ReportId=10800&{param}"), bearer)
            .await;
        let info = reply.assert_error(StatusCode::BAD_REQUEST, "8099");
        assert!(
            info.starts_with(&format!("Invalid value for parameter {name}:")),
            "{info}"
        );
    }

    // Valid timeframe and filter values are accepted, then make no difference to the rows.
    let filters = [
        "units=year+TO+date&Multiples=5&periodFrom=2022-09-21&FromTime=2022-09-21+00:00:01",
        "UntilTime=2022-09-21T23:59:59.999&AttributeFilter2=36512&Keywords=a,b&Unknown=x",
    ]
    .join("&");
    let reply = sandbox
        .get(
            &format!("/getreport?ReportId=10800&Format=json&{filters}"),
            bearer,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let plain = sandbox
        .get("/getreport?ReportId=10800&Format=json", bearer)
        .await;
    assert_eq!(reply.body, plain.body);

    let reply = sandbox.get("/elsewhere", bearer).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    sandbox.stop().await;
}

#[tokio::test]
async fn checks_run_in_upstream_order() {
    let sandbox = start(SandboxConfig::default()).await;
    // Method before account before authentication before parameters.
    let reply = sandbox
        .request(Method::PUT, "/getreport?db=other", None, "")
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "8000");
    let reply = sandbox.get("/getreport?db=other&Format=pdf", None).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "8001");
    let reply = sandbox.get("/getreport?Format=pdf", None).await;
    reply.assert_error(StatusCode::FORBIDDEN, "8021");
    let token = sandbox.token().await;
    let reply = sandbox.get("/getreport?Format=pdf", Some(&token)).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "8003");
    let reply = sandbox
        .get("/getreport?ReportId=123&Format=pdf", Some(&token))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "8099");
    sandbox.stop().await;
}
