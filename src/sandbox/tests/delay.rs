//! `report_delay`: GetReport answers wait for it, the token endpoint never does (a token
//! request must not be slowed by the report time the delay stands for).

use std::time::{Duration, Instant};

use http::StatusCode;

use super::super::{SandboxConfig, REPORT_EXAMPLE};
use super::start;

#[tokio::test]
async fn getreport_waits_and_the_token_endpoint_does_not() {
    // An hour: the token request below could never complete if it were delayed too.
    let sandbox = start(SandboxConfig {
        report_delay: Duration::from_secs(3600),
        ..SandboxConfig::default()
    })
    .await;
    let token = sandbox.token().await;
    let path = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let pending =
        tokio::time::timeout(Duration::from_millis(300), sandbox.get(&path, Some(&token)));
    assert!(pending.await.is_err(), "answered before the delay");
}

#[tokio::test]
async fn a_delayed_answer_is_the_same_answer() {
    let delay = Duration::from_millis(200);
    let sandbox = start(SandboxConfig {
        report_delay: delay,
        ..SandboxConfig::default()
    })
    .await;
    let token = sandbox.token().await;
    let path = format!("/getreport?ReportId={REPORT_EXAMPLE}&Format=json");
    let started = Instant::now();
    let reply = sandbox.get(&path, Some(&token)).await;
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let undelayed = start(SandboxConfig::default()).await;
    let token = undelayed.token().await;
    assert_eq!(undelayed.get(&path, Some(&token)).await.body, reply.body);
    // Errors wait too: iCasework takes its time before refusing as well.
    let started = Instant::now();
    let refused = sandbox.get(&path, None).await;
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
