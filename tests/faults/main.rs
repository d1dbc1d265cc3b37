//! Fault injection: every way iCasework (or the path to it) can fail, one row each, through a
//! TCP fault proxy and a controllable fake iCasework. For each row: what the caller receives (a
//! problem's status and code, or an aborted transfer once the head has left), that none of the
//! report's personal data (in columns the grant drops) reaches the caller, and that the gateway
//! is healthy afterwards: `/healthz`, the full report again, and every concurrency slot free.
//! `memory.rs` runs the same rows, many times, against the real binary and checks its memory
//! and file descriptors return to their baseline.

#[path = "../common/mod.rs"]
mod common;
mod memory;
mod rig;

use std::time::Duration;

use bytes::Bytes;
use common::fault_proxy::{At, Fault};
use common::*;
use rig::{Answer, Rig, TokenFault};

/// Where mid-body faults strike: after the head and this many bytes of the body (the report
/// is ~330 KiB; the caller has the head by then, and the fault waits until it does).
const MID: At = At::Body(48 * 1024);
const TRICKLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Chosen per request: the fake's answer, and what the proxy does to it.
    Request(Answer, Fault),
    /// The proxy's listener is closed: every connection attempt is refused.
    Refused,
    /// The token endpoint fails while casegate needs a new token.
    Token(TokenFault),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// A problem+json response with this status and code.
    Problem(u16, &'static str),
    /// 200, then a transfer that breaks off (no clean end), holding a prefix of the report.
    Aborted,
    /// The whole report, with this content type.
    Report(&'static str),
}

pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) expect: Expect,
    /// GetReport attempts iCasework sees per request, where the fake answers the fault itself
    /// (retried: 502/503/504 and broken connections before the head; never: everything else).
    pub(crate) attempts: Option<(usize, usize)>,
}

const fn row(name: &'static str, kind: Kind, expect: Expect) -> Row {
    Row {
        name,
        kind,
        expect,
        attempts: None,
    }
}

const fn answer(
    name: &'static str,
    answer: Answer,
    expect: Expect,
    attempts: (usize, usize),
) -> Row {
    Row {
        name,
        kind: Kind::Request(answer, Fault::Pass),
        expect,
        attempts: Some(attempts),
    }
}

const fn proxied(name: &'static str, fault: Fault, expect: Expect) -> Row {
    row(name, Kind::Request(Answer::Report, fault), expect)
}

use Expect::{Aborted, Problem};

#[rustfmt::skip] // a table: one row per line
pub(crate) const ROWS: &[Row] = &[
    row("connect-refused", Kind::Refused, Problem(502, "upstream_unavailable")),
    proxied("reset-before-head", Fault::Reset(At::Start), Problem(502, "upstream_unavailable")),
    proxied("closed-before-head", Fault::Cut(At::Start), Problem(502, "upstream_unavailable")),
    proxied("reset-mid-body", Fault::Reset(MID), Aborted),
    proxied("closed-mid-body", Fault::Cut(MID), Aborted),
    proxied("stall-before-head", Fault::Stall(At::Start), Problem(504, "upstream_timeout")),
    proxied("stall-mid-body", Fault::Stall(MID), Aborted),
    proxied("trickle-from-start", Fault::Trickle(At::Start, TRICKLE), Problem(504, "upstream_timeout")),
    proxied("trickle-mid-body", Fault::Trickle(MID, TRICKLE), Aborted),
    answer("status-500", Answer::Status(500), Problem(502, "upstream_error"), (1, 1)),
    answer("status-502", Answer::Status(502), Problem(502, "upstream_error"), (1, 3)),
    answer("status-503", Answer::Status(503), Problem(502, "upstream_error"), (1, 3)),
    answer("status-504", Answer::Status(504), Problem(502, "upstream_error"), (1, 3)),
    answer("gzip-header-only", Answer::GzipHeaderOnly, Problem(502, "redaction_failed"), (1, 1)),
    answer("gzip-truncated", Answer::TruncatedGzip, Aborted, (1, 1)),
    answer("too-large-announced", Answer::TooLargeAnnounced, Problem(502, "upstream_too_large"), (1, 1)),
    answer("too-large-streamed", Answer::TooLargeStreamed, Aborted, (1, 1)),
    answer("html-page-as-report", Answer::HtmlPage, Problem(502, "redaction_failed"), (1, 1)),
    answer("report-labelled-html", Answer::ReportAsHtml, Expect::Report("application/json; charset=utf-8"), (1, 1)),
    row("token-status-500", Kind::Token(TokenFault::Status(500)), Problem(502, "upstream_credential")),
    row("token-empty-200", Kind::Token(TokenFault::Empty200), Problem(502, "upstream_credential")),
    row("token-reset", Kind::Token(TokenFault::Proxy(Fault::Reset(At::Start))), Problem(502, "upstream_credential")),
    row("token-stall", Kind::Token(TokenFault::Proxy(Fault::Stall(At::Start))), Problem(502, "upstream_credential")),
    row("token-trickle", Kind::Token(TokenFault::Proxy(Fault::Trickle(At::Start, TRICKLE))), Problem(502, "upstream_credential")),
];

/// Requests each row sends at once.
const PER_ROW: usize = 3;

/// The gateway under test, wherever it runs.
pub(crate) struct Target<'a> {
    pub(crate) rig: &'a Rig,
    pub(crate) public: String,
    pub(crate) admin: String,
    /// The report as the grant lets it through, fetched before any fault.
    pub(crate) full: Bytes,
}

/// Runs every row once: the per-request rows side by side, then the rows that break every
/// request one at a time; checks health after each, and the concurrency slots at the end.
pub(crate) async fn round(t: &Target<'_>) {
    let (alone, together): (Vec<&Row>, Vec<&Row>) = ROWS
        .iter()
        .partition(|r| !matches!(r.kind, Kind::Request(..)));
    futures_util::future::join_all(together.into_iter().map(|row| run(t, row))).await;
    rig::assert_healthy("side-by-side rows", &t.public, &t.admin, &t.full).await;
    for row in alone {
        match row.kind {
            Kind::Refused => t.rig.proxy.refuse(true).await,
            Kind::Token(fault) => t.rig.break_tokens(fault),
            Kind::Request(..) => unreachable!(),
        }
        run(t, row).await;
        t.rig.proxy.refuse(false).await;
        t.rig.mend_tokens();
        rig::assert_healthy(row.name, &t.public, &t.admin, &t.full).await;
    }
    rig::assert_slots_free(t.rig, &t.public).await;
}

async fn run(t: &Target<'_>, row: &Row) {
    let (answer, fault) = match row.kind {
        Kind::Request(answer, fault) => (answer, fault),
        _ => (Answer::Report, Fault::Pass),
    };
    let url = format!("{}{}", t.public, rig::REPORT_PATH);
    let calls = (0..PER_ROW).map(|_| {
        let (id, gate) = t.rig.prepare(row.name, answer, fault);
        let url = url.clone();
        async move {
            let got = rig::call(&url, &id, &gate).await;
            (id, got)
        }
    });
    for (id, got) in futures_util::future::join_all(calls).await {
        check(t, row, &id, &got);
        t.rig.forget(&id);
    }
}

fn check(t: &Target<'_>, row: &Row, id: &str, got: &Got) {
    let name = row.name;
    rig::assert_no_pii(name, got);
    match row.expect {
        Expect::Problem(status, code) => {
            assert_eq!(got.status, status, "{name}: {}", got.text());
            assert!(!got.aborted, "{name}: a problem is sent whole");
            assert_eq!(
                got.header("content-type"),
                Some("application/problem+json"),
                "{name}"
            );
            assert_eq!(got.json()["code"], code, "{name}: {}", got.text());
            assert_eq!(got.header("x-request-id"), Some(id), "{name}");
        }
        Expect::Aborted => {
            assert_eq!(
                got.status, 200,
                "{name}: the head had left before the fault"
            );
            assert!(
                got.aborted,
                "{name}: the transfer must break off, not end cleanly"
            );
            // What arrived is the start of the report as the grant lets it through (the
            // oversized report has the same rows, and more).
            let n = got.body.len().min(t.full.len() - 1);
            assert!(
                got.body[..n] == t.full[..n],
                "{name}: the partial body is not the report's start"
            );
        }
        Expect::Report(content_type) => {
            assert_eq!(got.status, 200, "{name}: {}", got.text());
            assert!(
                !got.aborted && got.body == t.full,
                "{name}: the whole report"
            );
            assert_eq!(got.header("content-type"), Some(content_type), "{name}");
        }
    }
    if let Some((min, max)) = row.attempts {
        let seen = (t.rig.upstream.getreport_requests().iter())
            .filter(|r| r.header("x-request-id") == Some(id))
            .count();
        assert!(
            (min..=max).contains(&seen),
            "{name}: iCasework saw {seen} attempts"
        );
    }
}

/// The report as the grant lets it through, checked to hold no personal data.
pub(crate) async fn full_report(public: &str) -> Bytes {
    let got = get(&format!("{public}{}", rig::REPORT_PATH)).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(!got.aborted);
    rig::assert_no_pii("the plain report", &got);
    assert!(
        got.text().contains("\"CaseDetails.CaseId\":\"101499\""),
        "every row"
    );
    got.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_has_a_clear_outcome_leaks_nothing_and_leaves_the_gateway_healthy() {
    let rig = Rig::start().await;
    let toml = config_toml(&rig.proxy.base_url(), rig::UPSTREAM, rig::CREDENTIAL);
    let gateway = TestGateway::start_with_files(&toml, &[("policy.toml", rig::POLICY)]).await;
    let public = format!("http://{}", gateway.addr);
    let target = Target {
        rig: &rig,
        admin: format!("http://{}", gateway.admin_addr),
        full: full_report(&public).await,
        public,
    };
    round(&target).await;
}
