//! The mix: what the soak asks for, how often, and what each answer must be.

use std::net::SocketAddr;

use casegate::sandbox::{REPORT_EMPTY, REPORT_EXAMPLE};
use http::{HeaderValue, StatusCode};

use crate::support::caller::{caller_bearer, caller_bearer_valid, CALLER_SUB};
use crate::support::client::{fetch_once, Target};

/// Both ends of the timeframe pinned with dates: a relative timeframe is never served from the
/// cache past midnight, which would turn a run over midnight's hits into misses.
const DATES: &str = "From=2022-01-01&Until=2022-12-31";

/// The grant: redaction on (a column dropped, the other customer columns masked), answers
/// cached for an hour. ReportId 10802 is not granted: the denials.
pub(crate) fn policy() -> String {
    format!(
        "[[grant]]\nname = \"soak\"\nreports = [{REPORT_EXAMPLE}]\n\
         who = {{ sub = \"{CALLER_SUB}\" }}\n[grant.columns]\ndrop = [\"Customer.DateOfBirth\"]\n\
         mask = [\"Customer.*\"]\n[grant.limits]\ncache_ttl = \"1h\"\n"
    )
}

/// The response cache's size: small, so that misses fill it quickly before the baseline; from
/// then on every miss evicts, and memory must stay flat.
pub(crate) const CACHE_BYTES: usize = 4 << 20;

/// The configuration's extra tables: the cache's size, and the admin listener on any free port
/// (its default may be taken on a shared machine).
pub(crate) fn extra() -> String {
    format!(
        "[cache]\nmax_bytes = \"{} MiB\"\nmax_entry_bytes = \"1 MiB\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        CACHE_BYTES >> 20
    )
}

/// One kind of request and its weight: its share of the rate is weight / the sum of weights (98).
pub(crate) struct Kind {
    pub(crate) target: Target,
    pub(crate) weight: u32,
    /// The longest successful answer [`learn_lengths`] saw (sizes the cache fill).
    pub(crate) sample_len: Option<usize>,
}

/// The kinds, with what a correct answer is; lengths of successful answers are learnt by
/// [`learn_lengths`] once the caches are warm.
pub(crate) fn kinds(gateway: SocketAddr) -> Result<Vec<Kind>, String> {
    let valid = caller_bearer()?;
    let expired = caller_bearer_valid(-7200, -3600)?;
    let bad_signature = tamper(&valid)?;
    let uri = |report: u64, query: &str| format!("/getreport?ReportId={report}&{query}&{DATES}");
    let ok =
        |label, uri: String, auth: &HeaderValue| Target::new(label, gateway, &uri, Some(auth), 0);
    let e = REPORT_EXAMPLE;
    let kinds = [
        (
            30,
            ok("hit JSON", uri(e, "Format=json"), &valid).expecting("x-cache", "HIT"),
        ),
        (
            10,
            ok("hit XML", uri(e, "Format=xml"), &valid).expecting("x-cache", "HIT"),
        ),
        (
            10,
            ok("hit CSV, gzip", uri(e, "Format=csv&CSVHeader=yes"), &valid)
                .with_header("accept-encoding", "gzip")
                .expecting("x-cache", "HIT")
                .expecting("content-encoding", "gzip"),
        ),
        (
            15,
            ok("miss JSON", uri(e, "Format=json"), &valid)
                .unique("Keywords")
                .expecting("x-cache", "MISS"),
        ),
        (
            5,
            ok("miss XML, gzip", uri(e, "Format=xml"), &valid)
                .unique("Keywords")
                .with_header("accept-encoding", "gzip")
                .expecting("x-cache", "MISS")
                .expecting("content-encoding", "gzip"),
        ),
        (
            13,
            ok("403 no grant", uri(REPORT_EMPTY, "Format=json"), &valid)
                .expecting_status(StatusCode::FORBIDDEN),
        ),
        (
            10,
            ok("401 bad signature", uri(e, "Format=json"), &bad_signature)
                .expecting_status(StatusCode::UNAUTHORIZED),
        ),
        (
            5,
            ok("401 expired", uri(e, "Format=json"), &expired)
                .expecting_status(StatusCode::UNAUTHORIZED),
        ),
    ];
    Ok(kinds
        .into_iter()
        .map(|(weight, target)| Kind {
            target,
            weight,
            sample_len: None,
        })
        .collect())
}

/// The token with one character of its signature changed: well formed, signed by no one.
fn tamper(bearer: &HeaderValue) -> Result<HeaderValue, String> {
    let mut token = bearer.to_str().map_err(|e| e.to_string())?.to_owned();
    let at = token.len() - 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    token.replace_range(at..=at, swapped);
    HeaderValue::from_str(&token).map_err(|e| e.to_string())
}

/// Sends each kind's request until its answer is what the kind expects (a hit needs the miss
/// that fills it first), and takes the length of a successful answer as the one every later
/// answer must have. Not for miss kinds: each of their requests is another query, and their
/// answers may differ in length whatever three samples show (XML's RequestId follows the
/// Keywords, and a gzip body's size follows whatever it compresses: CI once saw 1,434 to 1,440
/// bytes after three samples of 1,438); they are held to their status and headers.
pub(crate) async fn learn_lengths(kinds: &mut [Kind]) -> Result<(), String> {
    for kind in kinds.iter_mut() {
        let t = &mut kind.target;
        if t.expected_status != StatusCode::OK {
            continue;
        }
        let mut lengths = Vec::new();
        for _ in 0..3 {
            let response = fetch_once(t).await?;
            let missing = t
                .expected_headers
                .iter()
                .find(|(name, value)| response.headers().get(name) != Some(value));
            if response.status() == StatusCode::OK && missing.is_none() {
                lengths.push(response.body().len());
            } else if lengths.is_empty() && t.unique_param.is_none() {
                continue; // the miss that fills the hit
            } else {
                return Err(format!(
                    "{}: {} {:?} (expected {:?}): {}",
                    t.label,
                    response.status(),
                    response.headers(),
                    t.expected_headers,
                    String::from_utf8_lossy(&response.body()[..response.body().len().min(300)])
                ));
            }
        }
        kind.sample_len = lengths.iter().copied().max();
        if t.unique_param.is_some() {
            t.expected_len = None;
            continue;
        }
        let first = lengths.first().copied();
        t.expected_len = first.filter(|&len| lengths.iter().all(|&l| l == len));
        if t.expected_len.is_none() {
            return Err(format!(
                "{}: answers of different lengths {lengths:?}",
                t.label
            ));
        }
    }
    Ok(())
}
