//! The fault rig: a controllable fake iCasework (its report full of personal data the grant
//! drops), the fault proxy in front of it, and the caller's side of every row: send, judge the
//! outcome, search what arrived for personal data, and check the gateway is healthy after.
//!
//! Faults are chosen per request by its `X-Request-Id` (`fault.<row>.<n>`), which casegate
//! passes on to iCasework, so rows run side by side against one gateway. Faults of the token
//! endpoint and connect refusal hit every request, so those rows run alone.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::sync::{watch, Notify};

use crate::common::fault_proxy::{Fault, FaultProxy, Head};
use crate::common::*;

/// Strings of the report's `Customer.*` columns, which the grant drops: none may reach a caller.
pub(crate) const PII: [&str; 3] = ["Quimby", "pii.invalid", "07700 9"];

/// The policy: the test caller's grant drops every `Customer.` column; nothing is cached.
pub(crate) const POLICY: &str = r#"
[[grant]]
name = "faults"
reports = "all"
[grant.who]
sub = "test-caller"
[grant.columns]
drop = ["Customer.*"]
[grant.limits]
cache_ttl = "0s"
"#;

/// Short timeouts so stalls end quickly; one connection per request so the proxy sees each;
/// the breaker out of the way (tests/protection.rs covers it), so each row's outcome is its own.
pub(crate) const UPSTREAM: &str = r#"connect_timeout = "1s"
first_byte_timeout = "2s"
total_timeout = "4s"
max_response_bytes = "1 MiB"
pool_max_idle_per_host = 0
[upstream.protection]
max_concurrent = 48
retry_backoff = "10ms"
breaker_failures = 10000"#;
pub(crate) const CREDENTIAL: &str = "token_timeout = \"1s\"\nfailure_backoff = \"50ms\"";
/// `max_concurrent` above.
pub(crate) const SLOTS: usize = 48;

pub(crate) const REPORT_PATH: &str = "/getreport?ReportId=10800&Format=json";

/// A JSON report of `rows` rows, about 230 bytes each.
pub(crate) fn report(rows: usize) -> Bytes {
    let mut out = String::from("[");
    for i in 0..rows {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"CaseDetails.CaseId\":\"{}\",\"CaseDetails.Notes\":\"Resolved after the second visit; letter sent\",\
             \"Customer.FullName\":\"Zebedee Quimby {i}\",\"Customer.EmailAddress\":\"zq{i}@pii.invalid\",\
             \"Customer.Phone\":\"07700 9{i:05}\"}}",
            100_000 + i
        ));
    }
    out.push(']');
    Bytes::from(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What the fake iCasework answers to a GetReport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Report,
    /// This status, with an HTML page naming a customer.
    Status(u16),
    /// The gzip header alone, announced as gzip: not one row can be read.
    GzipHeaderOnly,
    /// The report gzipped and announced, its last 40 % missing (well framed: the HTTP body
    /// is complete, the gzip stream is not).
    TruncatedGzip,
    /// A 2 MiB report announced by Content-Length (the limit is 1 MiB).
    TooLargeAnnounced,
    /// A 2 MiB report, chunked.
    TooLargeStreamed,
    /// 200 `text/html`: a maintenance page naming a customer.
    HtmlPage,
    /// The JSON report labelled `text/html`.
    ReportAsHtml,
}

/// What the token endpoint does while a token row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenFault {
    Proxy(Fault),
    Status(u16),
    Empty200,
}

#[derive(Default)]
struct State {
    answers: Mutex<HashMap<String, Answer>>,
    faults: Mutex<HashMap<String, (Fault, Arc<Notify>)>>,
    token_fault: Mutex<Option<TokenFault>>,
    tokens_issued: AtomicUsize,
    /// Tokens up to this serial are refused by GetReport with 403/8021 (revoked).
    revoked: AtomicUsize,
    barrier: Mutex<Option<watch::Sender<usize>>>,
}

pub(crate) struct Rig {
    pub(crate) upstream: FakeUpstream,
    pub(crate) proxy: FaultProxy,
    state: Arc<State>,
    counter: AtomicUsize,
}

impl Rig {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(State::default());
        let upstream = FakeUpstream::with(handler(state.clone())).await;
        let rule_state = state.clone();
        let proxy = FaultProxy::start(
            upstream.addr,
            Arc::new(move |head: &Head| rule(&rule_state, head)),
        )
        .await;
        Self {
            upstream,
            proxy,
            state,
            counter: AtomicUsize::new(0),
        }
    }

    /// A fresh request id for `row`, with its answer and proxy fault registered.
    pub(crate) fn prepare(&self, row: &str, answer: Answer, fault: Fault) -> (String, Arc<Notify>) {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let id = format!("fault.{row}.{n}");
        let gate = Arc::new(Notify::new());
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(id.clone(), answer);
        (self.state.faults.lock().unwrap()).insert(id.clone(), (fault, gate.clone()));
        (id, gate)
    }

    pub(crate) fn forget(&self, id: &str) {
        self.state.answers.lock().unwrap().remove(id);
        self.state.faults.lock().unwrap().remove(id);
    }

    /// Breaks the token endpoint and revokes every token issued so far, so the next GetReport
    /// meets 403/8021 and casegate must fetch a new token.
    pub(crate) fn break_tokens(&self, fault: TokenFault) {
        *self.state.token_fault.lock().unwrap() = Some(fault);
        let issued = self.state.tokens_issued.load(Ordering::SeqCst);
        self.state.revoked.store(issued, Ordering::SeqCst);
    }

    pub(crate) fn mend_tokens(&self) {
        *self.state.token_fault.lock().unwrap() = None;
    }

    /// GetReports from now on wait (up to 10 s) until `SLOTS` have arrived at iCasework.
    pub(crate) fn barrier(&self) {
        *self.state.barrier.lock().unwrap() = Some(watch::channel(0).0);
    }

    pub(crate) fn lift_barrier(&self) {
        *self.state.barrier.lock().unwrap() = None;
    }
}

/// The proxy's rule: the fault registered for the request id; the token fault for `/token`.
fn rule(state: &State, head: &Head) -> (Fault, Option<Arc<Notify>>) {
    if head.path() == "/token" {
        return match *state.token_fault.lock().unwrap() {
            Some(TokenFault::Proxy(fault)) => (fault, None),
            _ => (Fault::Pass, None),
        };
    }
    let id = head.header("x-request-id").unwrap_or_default();
    match state.faults.lock().unwrap().get(id) {
        Some((fault, gate)) => (*fault, Some(gate.clone())),
        None => (Fault::Pass, None),
    }
}

fn handler(state: Arc<State>) -> Handler {
    let small = report(1500);
    let large = report(9000);
    Arc::new(move |r: Recorded| {
        let (state, small, large) = (state.clone(), small.clone(), large.clone());
        Box::pin(async move {
            if r.uri.path() == "/token" {
                return token(&state);
            }
            let serial = (r.header("authorization").unwrap_or_default())
                .strip_prefix("Bearer ftok-")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            if serial <= state.revoked.load(Ordering::SeqCst) {
                return icasework_error(403, "8021", "Invalid token (6)");
            }
            let barrier = state.barrier.lock().unwrap().clone();
            if let Some(tx) = barrier {
                return barrier_answer(&tx);
            }
            let id = r.header("x-request-id").unwrap_or_default();
            let answer = (state.answers.lock().unwrap().get(id).copied()).unwrap_or(Answer::Report);
            answer_with(answer, &small, &large)
        })
    })
}

/// The head at once (so no first-byte timeout runs), then a two-row report once `SLOTS`
/// requests have arrived (or after 10 s): the slot of each is held until all are in.
fn barrier_answer(tx: &watch::Sender<usize>) -> Response {
    tx.send_modify(|n| *n += 1);
    let mut rx = tx.subscribe();
    let rows = futures_util::stream::once(async move {
        let all_in = rx.wait_for(|n| *n >= SLOTS);
        let _ = tokio::time::timeout(Duration::from_secs(10), all_in).await;
        Ok::<_, BoxError>(http_body::Frame::data(report(2)))
    });
    let mut r = http::Response::new(StreamBody::new(rows).boxed_unsync());
    r.headers_mut()
        .insert("content-type", JSON.1.parse().unwrap());
    r
}

fn token(state: &State) -> Response {
    match *state.token_fault.lock().unwrap() {
        Some(TokenFault::Status(status)) => return response(status, &[], ""),
        Some(TokenFault::Empty200) => return response(200, &[], ""),
        _ => {}
    }
    let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    response(
        200,
        &[("content-type", "application/json")],
        format!("{{\"access_token\":\"ftok-{n}\",\"token_type\":\"Bearer\",\"expires_in\":3600}}"),
    )
}

type Response = http::Response<Body>;

const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");
const HTML_PAGE: &str =
    "<html><body>Maintenance. Last case: Zebedee Quimby, zq1@pii.invalid</body></html>";

fn answer_with(answer: Answer, small: &Bytes, large: &Bytes) -> Response {
    match answer {
        Answer::Report => response(200, &[JSON], small.clone()),
        Answer::Status(status) => response(status, &[("content-type", "text/html")], HTML_PAGE),
        Answer::GzipHeaderOnly | Answer::TruncatedGzip => {
            let zipped = gzip(small);
            let keep = match answer {
                Answer::GzipHeaderOnly => 10,
                _ => zipped.len() * 60 / 100,
            };
            let headers = [JSON, ("content-encoding", "gzip")];
            response(200, &headers, zipped[..keep].to_vec())
        }
        Answer::TooLargeAnnounced => response(200, &[JSON], large.clone()),
        Answer::TooLargeStreamed => {
            let chunks: Vec<Result<http_body::Frame<Bytes>, BoxError>> = (large.chunks(64 * 1024))
                .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed_unsync();
            let mut r = http::Response::new(body);
            r.headers_mut()
                .insert("content-type", JSON.1.parse().unwrap());
            r
        }
        Answer::HtmlPage => response(200, &[("content-type", "text/html")], HTML_PAGE),
        Answer::ReportAsHtml => response(200, &[("content-type", "text/html")], small.clone()),
    }
}

/// Sends GET `url` as the test caller with request id `id`; once the response head has
/// arrived, opens `gate` (a mid-body fault waits for it, so it strikes after the head left).
pub(crate) async fn call(url: &str, id: &str, gate: &Notify) -> Got {
    let request = http::Request::get(url)
        .header("authorization", format!("Bearer {}", caller_token()))
        .header("x-request-id", id)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = client().request(request).await.expect("a response head");
    gate.notify_one();
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    let mut aborted = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => bytes.extend_from_slice(&f.into_data().unwrap_or_default()),
            Err(_) => {
                aborted = true;
                break;
            }
        }
    }
    Got {
        status: parts.status,
        headers: parts.headers,
        body: bytes.into(),
        aborted,
    }
}

/// Panics if any of the report's personal data is in `got`'s head or body.
pub(crate) fn assert_no_pii(what: &str, got: &Got) {
    let head = format!("{:?}", got.headers);
    for marker in PII {
        let body = memchr::memmem::find(&got.body, marker.as_bytes());
        assert!(
            body.is_none() && !head.contains(marker),
            "{what}: personal data ({marker:?}) reached the caller"
        );
    }
}

/// The gateway is alive (admin `/healthz`) and serves the report in full again. A token
/// failure is remembered for `failure_backoff`, so the report is asked for until it comes
/// (at most 10 s).
pub(crate) async fn assert_healthy(what: &str, public: &str, admin: &str, full: &Bytes) {
    let alive = get(&format!("{admin}/healthz")).await;
    assert_eq!(alive.status, 200, "{what}: /healthz after the fault");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = get(&format!("{public}{REPORT_PATH}")).await;
        if got.status == 200 {
            assert!(
                !got.aborted && got.body == *full,
                "{what}: the report after the fault"
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still failing after the fault: {} {}",
            got.status,
            got.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every concurrency slot towards iCasework is free again: `SLOTS` requests at once all reach
/// iCasework together (each holds its slot until all are in). A slot a fault failed to give
/// back leaves one of them waiting for `queue_timeout`, refused with `503 upstream_busy`, and
/// the others cut off at `total_timeout`.
pub(crate) async fn assert_slots_free(rig: &Rig, public: &str) {
    rig.barrier();
    let url = format!("{public}{REPORT_PATH}");
    let all = futures_util::future::join_all((0..SLOTS).map(|_| get(&url))).await;
    rig.lift_barrier();
    for got in &all {
        assert!(
            got.status == 200 && !got.aborted,
            "a concurrency slot was not given back after the faults: {} {}",
            got.status,
            got.text()
        );
    }
}
