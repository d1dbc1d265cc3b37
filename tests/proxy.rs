//! Rewriting, headers, upstream errors, timeouts, size limits and gzip, over real HTTP.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, StreamBody};

#[tokio::test]
async fn production_and_uat_queries_as_upstream_sees_them() {
    let upstream = FakeUpstream::start().await;
    let prod = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    let uat_toml = config_toml(&upstream.base_url(), "", "").replace("production", "uat");
    let uat = TestGateway::start(&uat_toml).await;

    assert_eq!(
        get(&prod.url("/getreport?ReportId=10800&Format=json"))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&uat.url("/reports/10800?Format=json")).await.status,
        200
    );
    let seen = upstream.getreport_requests();
    assert_eq!(
        seen[0].path_and_query(),
        "/getreport?Format=json&ReportId=10800&Compression=gzip"
    );
    assert_eq!(
        seen[1].path_and_query(),
        "/getreport?db=exampleco&Format=json&ReportId=10800&Compression=gzip"
    );
    assert_eq!(
        seen[0].header("host"),
        Some(upstream.addr.to_string().as_str())
    );
    let tokens = upstream.token_requests();
    assert_eq!(tokens[0].path_and_query(), "/token");
    assert_eq!(tokens[1].path_and_query(), "/token?db=exampleco");
}

#[tokio::test]
async fn caller_credentials_never_reach_upstream_and_casegate_credential_always_does() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    let request = http::Request::get(gateway.url("/getreport?ReportId=10800"))
        .header("authorization", format!("Bearer {}", caller_token()))
        .header("cookie", "session=caller-cookie")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=10.1.2.3;host=evil.example")
        .header("proxy-authorization", "Basic abc")
        .header("te", "trailers")
        .header("x-request-id", "caller-id-42")
        .body(Default::default())
        .unwrap();
    let got = send(request).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("x-request-id"), Some("caller-id-42"));
    let seen = &upstream.getreport_requests()[0];
    assert!(seen
        .header("authorization")
        .unwrap()
        .starts_with("Bearer tok-"));
    assert_eq!(seen.header("x-request-id"), Some("caller-id-42"));
    for name in [
        "cookie",
        "x-forwarded-for",
        "x-forwarded-host",
        "forwarded",
        "proxy-authorization",
        "te",
    ] {
        assert!(seen.header(name).is_none(), "{name} reached upstream");
    }
    let all_headers = format!("{:?}", seen.headers);
    assert!(!all_headers.contains(caller_token()) && !all_headers.contains("caller-cookie"));
    assert!(seen.header("user-agent").unwrap().starts_with("casegate/"));
}

#[tokio::test]
async fn malformed_request_ids_are_replaced() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(&upstream.base_url(), "", "")).await;
    let request = http::Request::get(gateway.url("/getreport?ReportId=1"))
        .header("x-request-id", "has spaces and <html>")
        .body(Default::default())
        .unwrap();
    let got = send(request).await;
    let id = got.header("x-request-id").unwrap();
    assert_ne!(id, "has spaces and <html>");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        upstream.getreport_requests()[0].header("x-request-id"),
        Some(id)
    );
}

#[tokio::test]
async fn upstream_400s_pass_back_with_their_codes() {
    let (_upstream, gateway) = start_pair(
        on_getreport(|_| icasework_error(400, "8051", "Report 99 not found")),
        "",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=99")).await;
    assert_eq!(got.status, 400);
    assert_eq!(got.header("x-application-error-code"), Some("8051"));
    assert_eq!(
        got.header("x-application-error-info"),
        Some("Report 99 not found")
    );
    let problem = got.json();
    assert_eq!(problem["code"], "upstream_refused");
    assert_eq!(problem["upstream_code"], "8051");
}

#[tokio::test]
async fn upstream_5xx_and_wrong_endpoint_are_502() {
    for (status, headers, code) in [
        (500u16, vec![], "upstream_error"),
        (503, vec![], "upstream_error"),
        (
            400,
            vec![
                ("x-application-error-code", "8001"),
                ("x-application-error-info", "API not available here"),
            ],
            "upstream_endpoint",
        ),
    ] {
        let headers: Vec<(&'static str, &'static str)> = headers;
        let (_upstream, gateway) = start_pair(
            on_getreport(move |_| response(status, &headers, "oops")),
            "",
            "",
        )
        .await;
        let got = get(&gateway.url("/getreport?ReportId=1")).await;
        assert_eq!(got.status, 502, "upstream {status}");
        assert_eq!(got.header("content-type"), Some("application/problem+json"));
        assert_eq!(got.json()["code"], code, "upstream {status}");
        assert!(!got.text().contains("oops"));
    }
}

#[tokio::test]
async fn upstream_403_on_casegate_credential_is_502() {
    let (upstream, gateway) = start_pair(
        on_getreport(|_| icasework_error(403, "8021", "Incorrect key or signature")),
        "",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_credential");
    assert_eq!(
        upstream.getreport_requests().len(),
        1,
        "not an invalid-token answer: no retry"
    );
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gateway = TestGateway::start(&config_toml(&dead, "", "scheme = \"key_signature\"")).await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_unavailable");
}

#[tokio::test]
async fn slow_first_byte_is_504() {
    let (_upstream, gateway) = start_pair(
        slow_on("/getreport", Duration::from_secs(3)),
        "first_byte_timeout = \"300ms\"",
        "",
    )
    .await;
    let started = std::time::Instant::now();
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 504);
    assert_eq!(got.json()["code"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A body that sends `first`, then stalls for `stall`, then sends `rest`.
fn stalling_body(first: &'static [u8], stall: Duration, rest: &'static [u8]) -> Body {
    let stream = futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((
                Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(first))),
                1,
            )),
            1 => {
                tokio::time::sleep(stall).await;
                Some((Ok(http_body::Frame::data(Bytes::from_static(rest))), 2))
            }
            _ => None,
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

#[tokio::test]
async fn total_timeout_mid_body_aborts_the_transfer() {
    let (_upstream, gateway) = start_pair(
        on_getreport(|_| {
            let mut r = http::Response::new(stalling_body(
                b"[{\"a\":\"1\"},",
                Duration::from_secs(3),
                b"{}]",
            ));
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }),
        "first_byte_timeout = \"200ms\"\ntotal_timeout = \"500ms\"",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1&Format=json")).await;
    assert_eq!(got.status, 200, "headers were already sent");
    assert!(
        got.aborted,
        "the caller must see a broken transfer, not a clean end"
    );
    assert_eq!(&got.body[..], b"[{\"a\":\"1\"},");
}

#[tokio::test]
async fn oversized_responses_are_refused_or_cut_off() {
    // Announced by Content-Length: refused before streaming.
    let (_upstream, gateway) = start_pair(
        on_getreport(|_| response(200, &[], vec![b'x'; 4096])),
        "max_response_bytes = \"1 KiB\"",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 502);
    assert_eq!(got.json()["code"], "upstream_too_large");

    // Chunked: cut off with an error once the limit is passed.
    let (_upstream, gateway) = start_pair(
        on_getreport(|_| {
            // Whole rows of a valid report, so the redactor lets the first part through.
            http::Response::new(stalling_body(ROWS_800, Duration::from_millis(10), ROWS_800))
        }),
        "max_response_bytes = \"1 KiB\"",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 200);
    assert!(got.aborted, "an oversized body must not end cleanly");
    assert!(got.body.len() <= 1024);
}

/// `<Rows>` and rows of 800-odd bytes, never closed (the second copy is the body's overflow).
const ROWS_800: &[u8] = b"<Rows>\n<Row><CaseDetails.Notes>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</CaseDetails.Notes></Row>\n";

/// A valid XML report of about `bytes` bytes.
fn big_xml(bytes: usize) -> String {
    let row = "<Row>\n<CaseDetails.CaseId>453781</CaseDetails.CaseId>\n<CaseDetails.Team>Resident Experience Team</CaseDetails.Team>\n</Row>\n";
    let mut xml =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Rows RequestId=\"1\">\n");
    while xml.len() < bytes {
        xml.push_str(row);
    }
    xml.push_str("</Rows>");
    xml
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn gzip_passes_through_in_both_shapes() {
    for announced in [true, false] {
        let (_upstream, gateway) = start_pair(
            on_getreport(move |r| {
                assert!(
                    r.path_and_query().contains("Compression=gzip"),
                    "{}",
                    r.path_and_query()
                );
                let headers: &[(&str, &str)] = if announced {
                    &[
                        ("content-encoding", "gzip"),
                        ("content-type", "application/json"),
                    ]
                } else {
                    &[("content-type", "application/json")]
                };
                response(200, headers, gzip(EXAMPLE_JSON.as_bytes()))
            }),
            "",
            "",
        )
        .await;
        let got = get(&gateway.url("/getreport?ReportId=1&Format=json&Compression=gzip")).await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("content-encoding"),
            Some("gzip"),
            "announced: {announced}"
        );
        assert_eq!(gunzip(&got.body), EXAMPLE_JSON);
    }
}

#[tokio::test]
async fn streams_large_bodies_with_content_type_and_private_cache_control() {
    let big = big_xml(3 * 1024 * 1024);
    let size = big.len();
    let (_upstream, gateway) = start_pair(
        on_getreport(move |_| {
            response(
                200,
                &[
                    ("content-type", "text/xml; charset=utf-8"),
                    ("set-cookie", "JSESSIONID=abc"),
                ],
                big.clone(),
            )
        }),
        "",
        "",
    )
    .await;
    let got = get(&gateway.url("/getreport?ReportId=1")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body.len(),
        size,
        "every column kept: the report passes unchanged"
    );
    assert_eq!(got.header("content-type"), Some("text/xml; charset=utf-8"));
    assert_eq!(got.header("cache-control"), Some("private, no-store"));
    assert!(
        got.header("set-cookie").is_none(),
        "upstream cookies never reach callers"
    );
}

#[tokio::test]
async fn key_signature_scheme_signs_the_query_and_sends_no_bearer() {
    let upstream = FakeUpstream::start().await;
    let gateway = TestGateway::start(&config_toml(
        &upstream.base_url(),
        "",
        "scheme = \"key_signature\"",
    ))
    .await;
    assert_eq!(
        get(&gateway.url("/getreport?ReportId=10800")).await.status,
        200
    );
    let seen = &upstream.getreport_requests()[0];
    let query = seen.uri.query().unwrap();
    assert!(
        query.starts_with(
            "Format=xml&ReportId=10800&Compression=gzip&Key=test-api-key-7f3a&Signature="
        ),
        "{query}"
    );
    let signature = query.rsplit("Signature=").next().unwrap();
    assert_eq!(signature.len(), 32);
    assert!(seen.header("authorization").is_none());
    assert!(upstream.token_requests().is_empty());
}
