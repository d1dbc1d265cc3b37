//! A deterministic stand-in for iCasework: its token endpoint and its GetReport API, over plain
//! HTTP on a listener you give it. `casegate sandbox`, `casegate demo`, the tests and the
//! benchmarks run against it. It sits off the production path and uses no other casegate module.
//!
//! Where upstream's behaviour is documented (`getreport-api.txt`, `auth.md`) the sandbox follows
//! it; where it is not, the choice is marked *Chosen* below.
//!
//! # Endpoints
//!
//! - `POST /token` (production shape) and `POST /token?db={account}` (UAT shape): the OAuth 2.0
//!   JWT-bearer grant, form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=`.
//!   The assertion is HS256 with the secret key; `iss` must be the API key; `aud` the exact URL
//!   called, rebuilt as `http://{Host}{path?query}`; `iat` is required; `exp` is optional but
//!   must not have passed (no leeway). Success is `200`
//!   `{"access_token":"...","token_type":"Bearer","expires_in":N}`, the token 64 random hex
//!   digits kept in a bounded store (10,000; expired tokens go first, then those closest to
//!   expiry). A bad form, grant type, assertion, signature, `iss` or `aud` is `400` with
//!   `X-Application-Error-Code: 19002`, `X-Application-Error-Info: invalid_grant`. A non-empty
//!   `db` that is not the account is `200` with an empty body, as upstream.
//!   *Chosen:* a method other than POST is `405`; a form over 64 KiB is `invalid_grant`.
//! - `GET /getreport` and `GET /getreport?db={account}`.
//! - Anything else: `404`.
//!
//! # GetReport, in the order the checks run
//!
//! 1. Not GET: `400` 8000 `Invalid HTTP Method.`
//! 2. `db` given and not the account: `400` 8001
//!    `API not available here - please use https://uat.icasework.com/getreport?db={db}`.
//! 3. Authentication, `403` 8021 on failure. `Authorization: Bearer {token}` (issued here, not
//!    expired) or upstream's `access_token` query parameter; else `Invalid token (6)`, which is
//!    also the answer when no credentials are given at all. Otherwise `Key={api key}` and
//!    `Signature=md5hex({ReportId}{today YYYY-MM-DD in signature_time_zone}{secret key})`,
//!    lower-case hex, today's date only; else `Incorrect key or signature`. *Chosen:* an
//!    `Authorization` header wins over the parameters.
//! 4. No `ReportId`: `400` 8003 `Required parameter ReportId was not supplied.`
//! 5. A bad parameter value: `400` 8099 `Invalid value for parameter {Name}: {hint}`.
//! 6. The report: [`REPORT_EXAMPLE`], [`REPORT_LARGE`], [`REPORT_EMPTY`] and [`REPORT_HUGE`]
//!    are served;
//!    [`REPORT_NOT_SHARED`] is 8052 `Report {id} is not shared...`; [`REPORT_XML_ERROR`] is 8061
//!    `An unexpected error occurred during XML transformation`; anything else, non-numeric ids
//!    too, is 8051 `Report {id} not found`.
//!
//! Every error is the status, `X-Application-Error-Code`, `X-Application-Error-Info` (a value
//! the caller sent is percent-encoded there and cut to 100 characters) and a small HTML page,
//! `Content-Type: text/html; charset=utf-8`.
//!
//! # Parameters
//!
//! Names are case-insensitive, as upstream. *Chosen:* the first occurrence of a name wins; an
//! empty value counts as not given (so `ReportId=` is 8003); unknown names are ignored.
//!
//! Validated, loosely: `Format` csv, json or xml; `CSVHeader`/`CSVFooter` yes, true, no or
//! false; `CSVDelimitor` one ASCII character other than `"`, CR and LF; `CSVFields` known column
//! names; `Compression` gzip (all of these case-insensitive); `Units`/`periodUnits` one of the
//! documented units, case-insensitive; `Multiples`/`periodMultiples` a whole number;
//! `From`/`periodFrom`/`Until`/`periodUntil` `YYYY-MM-DD`; `FromTime`/`UntilTime`
//! `YYYY-MM-DD hh:mm:ss` or `YYYY-MM-DDThh:mm:ss[.sss]`. `AttributeFilter`, `AttributeFilter2`,
//! `AttributeFilter3` and `Keywords` take anything.
//!
//! *Chosen:* the timeframe and filter parameters are then ignored, because the data is fixed:
//! they change only the XML RequestId. The CSV parameters are validated whatever the format, and
//! used only for CSV.
//!
//! # Output
//!
//! - **XML**, the default, `text/xml; charset=utf-8`: the documented shape exactly,
//!   `<?xml version="1.0" encoding="UTF-8"?>` LF `<Rows RequestId="...">` LF, per row `<Row>` LF,
//!   one `<Column>value</Column>` LF per column, `</Row>` LF; then `</Rows>`, with no final
//!   newline. Values escape `&`, `<` and `>`; the attribute `"` too.
//!   *Chosen:* a CR is written `&#13;`, as XSLT serializers do, so that a parser reads
//!   `Customer.Address` as `Test\r\na...`, like the JSON; the documented XML lost its CRs in
//!   copying. *Chosen:* the empty report is `<Rows RequestId="..."></Rows>`, not self-closing.
//!   *Chosen:* the RequestId is 30 hex digits of the md5 of the report id and the timeframe and
//!   filter parameters, so one request always gets the same one and bodies can be cached; the
//!   example without them gets the documented `51221195af5536c367accafeaedd91`.
//! - **JSON**, `application/json; charset=utf-8`: the documented layout, `[` LF `{` LF,
//!   `"Column": "value"` joined by `,` LF, LF `}`, objects joined by `,` LF, then LF `]`;
//!   duplicate keys kept, in order; every value a string. *Chosen:* the empty report is `[]`.
//! - **CSV**, `text/csv; charset=utf-8`: written by the `csv` crate, records ending in CRLF,
//!   fields quoted only when they hold the delimiter, a quote or a line break (RFC 4180).
//!   `CSVHeader` adds the column names first. *Chosen:* `CSVFooter` adds a last record of ONE
//!   field, the number of data rows (`5000` for the large report, `0` for the empty one), so a
//!   reader must accept a short last record. `CSVFields` keeps the listed columns (comma-separated,
//!   case-insensitive) in the listed order; *Chosen:* a name two columns share selects the first,
//!   and an unknown name is 8099.
//! - `Compression=gzip` gzips the body. `Content-Encoding: gzip` is sent only when
//!   [`SandboxConfig::gzip_content_encoding`] is set, because upstream's behaviour is unknown and
//!   the gateway must handle both. The `Content-Type` is the format's either way.
//!
//! Bodies have a `Content-Length` and go out in frames of at most 64 KiB (the large report's XML
//! is about 36 MB). Rendered bodies are cached per (report, format and CSV options, RequestId,
//! gzip), at most 64 bodies and 256 MiB, first in first out; the example's default XML, JSON and
//! CSV are rendered before the first connection is accepted.
//!
//! [`REPORT_HUGE`] is the exception: the large report's rows, from the first, until the body
//! holds at least [`SandboxConfig::huge_bytes`] bytes (1 GiB by default), then the document's
//! proper end (`</Rows>`, `]`, the CSV footer when asked). It is rendered a frame at a time
//! while it streams, gzipped as it goes (level 1) when asked, sent chunked without a
//! `Content-Length`, and never cached, so a gigabyte report costs the sandbox a few hundred
//! KiB. The stand-in for a report too large to hold, to measure the gateway's memory with.
//!
//! [`SandboxConfig::report_delay`] (zero by default) holds every GetReport answer, errors
//! included, for that long before it is sent; the token endpoint is never delayed. The stand-in
//! for the time iCasework takes to build a report, for measuring misses.
//!
//! # Server
//!
//! HTTP/1.1 and HTTP/2 (prior knowledge) through hyper-util's auto builder, `TCP_NODELAY` on.
//! When `shutdown` completes, the listener closes and open connections are asked to finish;
//! [`serve`] returns once they have, or after 10 seconds. Requests are logged at debug level by
//! method, path and outcome: never query strings, tokens or keys.

mod cache;
mod getreport;
mod render;
mod reports;
mod response;
mod stream;
mod token;

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use cache::{RenderCache, RenderKey};
use render::{CsvOptions, Rendering};
use response::ChunkedBody;
use token::TokenStore;

/// The demo account name.
pub const DEMO_ACCOUNT: &str = "sandbox";
/// The demo API key (the JWT's `iss`, the `Key` parameter).
pub const DEMO_API_KEY: &str = "sandbox-api-key";
/// The demo secret key. Public on purpose: the sandbox guards nothing.
pub const DEMO_SECRET_KEY: &str = "sandbox-secret-key-not-for-production";

/// The vendor's one-row example report.
pub const REPORT_EXAMPLE: u64 = 10800;
/// 5,000 rows of deterministic, realistic, fake PII with the example's columns.
pub const REPORT_LARGE: u64 = 10801;
/// A report with no rows.
pub const REPORT_EMPTY: u64 = 10802;
/// A report that is not shared: error 8052.
pub const REPORT_NOT_SHARED: u64 = 10803;
/// A report whose transformation fails: error 8061.
pub const REPORT_XML_ERROR: u64 = 10804;
/// The large report's rows until the body is [`SandboxConfig::huge_bytes`] long, rendered while
/// it streams, never whole in memory.
pub const REPORT_HUGE: u64 = 10805;

/// How long open connections get to finish after `shutdown`.
const GRACE: Duration = Duration::from_secs(10);
/// The body the sandbox serves for `report` in `format` ("xml", "json" or "csv"; CSV with its
/// header row), without compression: test and bench input for the redactors. `None` for a
/// report the sandbox answers with an error, and for [`REPORT_HUGE`], which is only streamed.
pub fn report_body(report: u64, format: &str) -> Option<Vec<u8>> {
    let report = reports::lookup(report).ok()?;
    report.row_count()?;
    render_body(report, format)
}

/// A report of `rows` rows like the large report's (the same generator, so row `i` is the
/// same in every size), rendered as [`report_body`] does: bench input of any size.
pub fn generated_report_body(rows: usize, format: &str) -> Option<Vec<u8>> {
    render_body(reports::Report::Generated(rows), format)
}

fn render_body(report: reports::Report, format: &str) -> Option<Vec<u8>> {
    let rendering = match format {
        "xml" => Rendering::Xml {
            request_id: "51221195af5536c367accafeaedd91".to_owned(),
        },
        "json" => Rendering::Json,
        "csv" => Rendering::Csv(CsvOptions {
            header: true,
            ..CsvOptions::default()
        }),
        _ => return None,
    };
    Some(render::render(report, &rendering))
}

/// The sandbox's account, credentials and the behaviours upstream leaves open.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The iCasework account (`db`).
    pub account: String,
    /// The API key.
    pub api_key: String,
    /// The secret key: signs assertions (HS256) and Key+Signature requests.
    pub secret_key: String,
    /// The lifetime of issued access tokens (`expires_in`). Default one hour.
    pub token_lifetime: Duration,
    /// Whether a gzipped report carries `Content-Encoding: gzip`. Default true.
    pub gzip_content_encoding: bool,
    /// The time zone of the date in a Key+Signature signature. Default UTC.
    pub signature_time_zone: chrono_tz::Tz,
    /// The least uncompressed size of [`REPORT_HUGE`], in bytes. Default 1 GiB.
    pub huge_bytes: u64,
    /// How long every GetReport answer waits before it is sent: iCasework's time to build a
    /// report, for benchmarking a miss. Default zero.
    pub report_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            account: DEMO_ACCOUNT.to_owned(),
            api_key: DEMO_API_KEY.to_owned(),
            secret_key: DEMO_SECRET_KEY.to_owned(),
            token_lifetime: Duration::from_secs(3600),
            gzip_content_encoding: true,
            signature_time_zone: chrono_tz::UTC,
            huge_bytes: 1 << 30,
            report_delay: Duration::ZERO,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("account", &self.account)
            .field("api_key", &self.api_key)
            .field("secret_key", &"**REDACTED**")
            .field("token_lifetime", &self.token_lifetime)
            .field("gzip_content_encoding", &self.gzip_content_encoding)
            .field("signature_time_zone", &self.signature_time_zone)
            .field("huge_bytes", &self.huge_bytes)
            .field("report_delay", &self.report_delay)
            .finish()
    }
}

/// The state every connection shares.
#[derive(Debug)]
struct Sandbox {
    config: SandboxConfig,
    tokens: TokenStore,
    renders: RenderCache,
}

/// Serves the sandbox on `listener` until `shutdown` completes, then drains open connections
/// (for at most 10 seconds).
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sandbox = Arc::new(Sandbox {
        config,
        tokens: TokenStore::new(token::MAX_TOKENS),
        renders: RenderCache::default(),
    });
    warm(&sandbox.renders);
    tracing::debug!(address = ?listener.local_addr()?, "sandbox: listening");
    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin or give up.
                    tracing::debug!(%error, "sandbox: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The sandbox is a latency baseline: don't let Nagle add to it.
        let _ = stream.set_nodelay(true);
        let sandbox = Arc::clone(&sandbox);
        let service = service_fn(move |request| {
            let sandbox = Arc::clone(&sandbox);
            async move { Ok::<_, Infallible>(route(&sandbox, request).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "sandbox: connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::debug!("sandbox: shutting down");
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("sandbox: connections still open after the grace period");
    }
    Ok(())
}

/// Renders the example's default bodies, the benchmark's requests, before they are asked for.
fn warm(renders: &RenderCache) {
    let example = |rendering| RenderKey {
        report: reports::Report::Example,
        rendering,
        gzip: false,
    };
    let request_id = getreport::EXAMPLE_REQUEST_ID.to_owned();
    renders.warm(example(Rendering::Xml { request_id }));
    renders.warm(example(Rendering::Json));
    renders.warm(example(Rendering::Csv(CsvOptions::default())));
}

async fn route(sandbox: &Sandbox, request: Request<Incoming>) -> Response<ChunkedBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = match path.as_str() {
        "/token" => token::handle(sandbox, request).await,
        "/getreport" => getreport::handle(sandbox, request).await,
        _ => response::html(StatusCode::NOT_FOUND, "Not found."),
    };
    let code = response.headers().get("x-application-error-code");
    tracing::debug!(
        %method,
        path = %response::header_safe(&path),
        status = response.status().as_u16(),
        error_code = ?code,
        "sandbox: request"
    );
    response
}
