//! A scripted mix of requests (miss, hit, deny, 401s, 404, 429, fail-closed redaction before
//! and after the first byte), then the admin listener's `/metrics` scraped over HTTP: the series
//! and their values, what may never appear in a label, and `promtool check metrics` on the text.
//!
//! One test in this binary: the metrics are the process's, so no other test may add to them.

mod common;

use common::*;

const POLICY: &str = r#"
[[grant]]
name = "cached"
reports = [10800, 10801]
[grant.who]
sub = "test-caller"
[grant.columns]
drop = ["Customer.*"]
[grant.limits]
cache_ttl = "1h"

[[grant]]
name = "limited"
reports = "all"
[grant.who]
sub = "limited-caller"
[grant.limits]
rate = "1/hour"
cache_ttl = "0s"
"#;

/// 10801 breaks before its first row is complete (a 502); 10803 after it, in a second frame
/// (an aborted transfer).
const BROKEN_AT_ONCE: &str = r#"[{"CaseDetails.CaseId":{"nested":1}}]"#;
const FIRST_ROW: &str = r#"[{"CaseDetails.CaseId":"1"},"#;
const BROKEN_ROW: &str = r#"{"CaseDetails.CaseId":{"nested":1}}]"#;

fn body_of(r: &Recorded) -> &'static str {
    let query = r.uri.query().unwrap_or_default();
    if query.contains("ReportId=10801") {
        BROKEN_AT_ONCE
    } else if query.contains("ReportId=10803") {
        "10803"
    } else {
        EXAMPLE_JSON
    }
}

fn handler(r: &Recorded) -> Response {
    let mut response = match body_of(r) {
        "10803" => {
            // The second frame comes later, after the head has gone out with the first row.
            let frames = futures_util::stream::unfold(0u8, |step| async move {
                let data = match step {
                    0 => FIRST_ROW,
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        BROKEN_ROW
                    }
                    _ => return None,
                };
                let frame = http_body::Frame::data(bytes::Bytes::from_static(data.as_bytes()));
                Some((Ok::<_, BoxError>(frame), step + 1))
            });
            http::Response::new(http_body_util::BodyExt::boxed_unsync(
                http_body_util::StreamBody::new(frames),
            ))
        }
        body => http::Response::new(common::body(body)),
    };
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
}

type Response = http::Response<Body>;

/// The value of the series written exactly as `series` (name and labels), if present.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn expect(scrape: &str, series: &str, want: f64) {
    assert_eq!(
        value(scrape, series),
        Some(want),
        "{series}\n--- scrape:\n{scrape}"
    );
}

async fn get_with(gateway: &TestGateway, path: &str, authorization: Option<&str>) -> Got {
    let mut request = http::Request::get(gateway.url(path));
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    send_as_is(request.body(Default::default()).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metric_set_after_a_scripted_mix_of_requests() {
    let upstream = FakeUpstream::with(on_getreport(handler)).await;
    let toml = config_toml(&upstream.base_url(), "", "");
    let gateway = TestGateway::start_with_files(&toml, &[("policy.toml", POLICY)]).await;
    let caller = format!("Bearer {}", caller_token());
    let limited = format!("Bearer {}", token_for("limited-caller"));
    let caller = Some(caller.as_str());

    let miss = get_with(&gateway, "/getreport?ReportId=10800&Format=json", caller).await;
    assert_eq!(
        (miss.status.as_u16(), miss.header("x-cache")),
        (200, Some("MISS"))
    );
    let hit = get_with(&gateway, "/getreport?ReportId=10800&Format=json", caller).await;
    assert_eq!(
        (hit.status.as_u16(), hit.header("x-cache")),
        (200, Some("HIT"))
    );
    let keywords = get_with(
        &gateway,
        "/getreport?ReportId=10800&Format=json&Keywords=SecretKeyword",
        caller,
    )
    .await;
    assert_eq!(keywords.header("x-cache"), Some("MISS"));
    let refused = get_with(&gateway, "/getreport?ReportId=10801&Format=json", caller).await;
    assert_eq!(refused.status, 502, "{}", refused.text());
    let denied = get_with(&gateway, "/getreport?ReportId=10802&Format=json", caller).await;
    assert_eq!(denied.status, 403);
    let missing = get_with(&gateway, "/getreport?ReportId=10800", None).await;
    assert_eq!(missing.status, 401);
    let malformed = get_with(&gateway, "/getreport?ReportId=10800", Some("Bearer abc")).await;
    assert_eq!(malformed.status, 401);
    let aborted = get_with(&gateway, "/reports/10803?Format=json", Some(&limited)).await;
    assert_eq!((aborted.status.as_u16(), aborted.aborted), (200, true));
    let limited_again = get_with(&gateway, "/reports/10803?Format=json", Some(&limited)).await;
    assert_eq!(limited_again.status, 429);
    let not_found = get_with(&gateway, "/elsewhere", caller).await;
    assert_eq!(not_found.status, 404);

    let scrape = get(&format!("http://{}/metrics", gateway.admin_addr))
        .await
        .text();
    let requests = |route: &str, class: &str, report: &str, cache: &str| {
        format!(
            "casegate_requests_total{{cache=\"{cache}\",report=\"{report}\",route=\"{route}\",status_class=\"{class}\"}}"
        )
    };
    expect(&scrape, &requests("getreport", "2xx", "10800", "miss"), 2.0);
    expect(&scrape, &requests("getreport", "2xx", "10800", "hit"), 1.0);
    expect(&scrape, &requests("getreport", "5xx", "10801", "none"), 1.0);
    // 10802 is named by no grant: `other`; without a valid ReportId (401s, 404): `none`.
    expect(&scrape, &requests("getreport", "4xx", "other", "none"), 1.0);
    expect(&scrape, &requests("getreport", "4xx", "none", "none"), 2.0);
    expect(&scrape, &requests("reports", "2xx", "other", "bypass"), 1.0);
    expect(&scrape, &requests("reports", "4xx", "other", "none"), 1.0);
    expect(&scrape, &requests("other", "4xx", "none", "none"), 1.0);
    let total: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("casegate_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 10.0, "every request counted once:\n{scrape}");
    expect(
        &scrape,
        "casegate_request_duration_seconds_count{route=\"getreport\",status_class=\"2xx\"}",
        3.0,
    );
    expect(&scrape, "casegate_requests_in_flight", 0.0);

    expect(
        &scrape,
        "casegate_auth_failures_total{reason=\"missing\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_auth_failures_total{reason=\"malformed\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_auth_failures_total{reason=\"expired\"}",
        0.0,
    );
    expect(
        &scrape,
        "casegate_policy_denials_total{reason=\"no_grant\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_policy_denials_total{reason=\"parameter\"}",
        0.0,
    );
    expect(
        &scrape,
        "casegate_rate_limited_total{scope=\"caller\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_redaction_failures_total{format=\"json\",stage=\"refused\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_redaction_failures_total{format=\"json\",stage=\"aborted\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_redacted_columns_total{action=\"drop\"}",
        2.0,
    );
    expect(
        &scrape,
        "casegate_cache_responses_total{outcome=\"hit\"}",
        1.0,
    );
    expect(
        &scrape,
        "casegate_cache_responses_total{outcome=\"miss\"}",
        2.0,
    );
    expect(
        &scrape,
        "casegate_cache_responses_total{outcome=\"bypass\"}",
        1.0,
    );
    expect(&scrape, "casegate_cache_coalesced_waits_total", 0.0);
    expect(&scrape, "casegate_cache_entries", 2.0);
    assert!(value(&scrape, "casegate_cache_bytes").unwrap() > 0.0);

    // Four requests reached iCasework; each answered 2xx and its body was read or left.
    let sent = upstream.getreport_requests();
    assert_eq!(sent.len(), 4);
    expect(
        &scrape,
        "casegate_upstream_requests_total{outcome=\"success\"}",
        4.0,
    );
    expect(
        &scrape,
        "casegate_upstream_requests_total{outcome=\"timeout\"}",
        0.0,
    );
    expect(
        &scrape,
        "casegate_upstream_request_duration_seconds_count{outcome=\"success\"}",
        4.0,
    );
    let received: usize = sent
        .iter()
        .map(|r| match body_of(r) {
            "10803" => FIRST_ROW.len() + BROKEN_ROW.len(),
            body => body.len(),
        })
        .sum();
    expect(
        &scrape,
        "casegate_upstream_response_bytes_total",
        received as f64,
    );
    expect(
        &scrape,
        "casegate_credential_refreshes_total{result=\"success\"}",
        1.0,
    );
    expect(&scrape, "casegate_upstream_circuit_state", 0.0);
    expect(
        &scrape,
        &format!(
            "casegate_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        ),
        1.0,
    );
    assert!(
        value(
            &scrape,
            "casegate_policy_last_reload_success_timestamp_seconds"
        )
        .unwrap()
            > 1.7e9
    );

    // Labels hold bounded sets only: no subject, token or parameter value.
    for secret in [
        "test-caller",
        "limited-caller",
        "SecretKeyword",
        caller_token(),
        "Bloggs",
        "10802",
        "10803",
    ] {
        assert!(!scrape.contains(secret), "{secret} in the scrape");
    }
    promtool_check(&scrape);
}

/// `promtool check metrics`: the text parses and follows Prometheus's naming conventions.
fn promtool_check(scrape: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (Debian package `prometheus`; .ci/run installs it): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
