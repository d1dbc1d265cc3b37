//! Applies the grant's column rules to every successful report: asks iCasework for what the
//! redactors need (gzip to save bandwidth, the CSV header to know the columns), then wraps the
//! response body in a [`RedactBody`]. A body that fails before its first byte becomes a 502;
//! after that, the transfer is aborted. The body leaves here plain: the cache layer above
//! encodes it for the caller.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, Service};

use crate::error::{body_error, Body, Error};
use crate::params::{Format, GetReportQuery, Param};
use crate::policy::{ColumnAction, Principal};
use crate::redact::{self, ColumnPlan, CsvSettings, Pipeline, RedactBody};

/// How many distinct columns of the report the caller's grant withheld (dropped, masked or
/// hashed), counted over the first row (or the CSV header).
pub(super) static X_COLUMNS_WITHHELD: HeaderName = HeaderName::from_static("x-columns-withheld");

#[derive(Debug, Clone, Default)]
pub(super) struct RedactLayer;

impl<S> Layer<S> for RedactLayer {
    type Service = Redact<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Redact { inner }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Redact<S> {
    inner: S,
}

/// What the caller asked for, before the request to iCasework is changed.
struct Wanted {
    format: Format,
    csv: CsvSettings,
}

impl<S, B> Service<Request<B>> for Redact<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let prepared = prepare(&mut request);
        // The service that was polled ready serves this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (principal, wanted) = prepared?;
            let response = inner.call(request).await?;
            redact(response, principal, wanted).await
        })
    }
}

/// Checks CSVFields against the grant and rewrites the query for iCasework.
fn prepare<B>(request: &mut Request<B>) -> Result<(Principal, Wanted), Error> {
    let extensions = request.extensions_mut();
    let principal = extensions
        .get::<Principal>()
        .cloned()
        .ok_or(Error::Internal("no principal before redaction"))?;
    let mut query = extensions
        .remove::<GetReportQuery>()
        .ok_or(Error::Internal("no parsed query before redaction"))?;
    let canonical = &mut query.canonical;
    if let Some(fields) = canonical.get(Param::CsvFields) {
        let columns = &principal.grant.columns;
        if let Some(column) = fields
            .split(',')
            .find(|f| columns.action(f) == ColumnAction::Drop)
        {
            return Err(Error::ColumnWithheld {
                column: column.to_owned(),
            });
        }
    }
    let wanted = Wanted {
        format: canonical.format(),
        csv: CsvSettings {
            delimiter: canonical
                .get(Param::CsvDelimitor)
                .and_then(|d| d.bytes().next())
                .unwrap_or(b','),
            header: canonical.get(Param::CsvHeader).is_some(),
            footer: canonical.get(Param::CsvFooter).is_some(),
        },
    };
    if wanted.format == Format::Csv && !wanted.csv.header {
        // The CSV redactor needs the header to know the columns; it is removed again below.
        canonical
            .set(Param::CsvHeader, "yes")
            .map_err(|_| Error::Internal("CSVHeader=yes refused"))?;
    }
    // Compressed from iCasework (less to transfer), inflated here to be redacted.
    query.gzip = true;
    extensions.insert(query);
    Ok((principal, wanted))
}

async fn redact(
    response: Response<Body>,
    principal: Principal,
    wanted: Wanted,
) -> Result<Response<Body>, Error> {
    let (mut parts, body) = response.into_parts();
    let inflate = parts
        .headers
        .remove(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    parts.headers.remove(CONTENT_LENGTH);
    let plan = ColumnPlan::new(principal.grant);
    let withheld = plan.withheld();
    let redactor = redact::for_format(wanted.format, plan, wanted.csv);
    let pipeline = Pipeline::new(redactor, inflate, false);
    let mut body = Box::pin(RedactBody::new(body, pipeline));
    // Before the head is sent, a failure can still be a clean 502 with nothing of the report.
    body.prime().await.map_err(body_error)?;
    parts
        .headers
        .insert(&X_COLUMNS_WITHHELD, HeaderValue::from(withheld.count()));
    let counter = &crate::metrics::metrics().redacted_columns;
    for (action, label) in [
        (ColumnAction::Drop, "drop"),
        (ColumnAction::Mask, "mask"),
        (ColumnAction::Hash, "hash"),
    ] {
        counter
            .with_label_values(&[label])
            .inc_by(withheld.count_of(action) as u64);
    }
    parts.extensions.insert(withheld);
    Ok(Response::from_parts(parts, body.boxed_unsync()))
}
