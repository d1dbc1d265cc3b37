//! Responses from cache entries: the caller's encoding, conditional requests (`If-None-Match`
//! → 304), and the headers that say what the cache did.

use std::time::SystemTime;

use http::header::{
    AGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::super::redact::X_COLUMNS_WITHHELD;
use crate::cache::{Entry, Stored};
use crate::error::{full_body, Body, Error};
use crate::upstream::error::UpstreamError;

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// What the cache did for a response (`X-Cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum XCache {
    Hit,
    Miss,
    Stale,
    Bypass,
}

impl XCache {
    fn count(self) {
        // The variants' order is the metric's: hit, miss, stale, bypass.
        crate::metrics::metrics().cache_responses[self as usize].inc();
    }

    fn value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            XCache::Hit => "HIT",
            XCache::Miss => "MISS",
            XCache::Stale => "STALE",
            XCache::Bypass => "BYPASS",
        })
    }
}

/// The answer `entry` gives: the report in the caller's encoding (or 304 when the caller holds
/// it already), or the error it remembers.
pub(super) fn respond(
    entry: &Entry,
    x_cache: XCache,
    gzip: bool,
    if_none_match: Option<&HeaderValue>,
    now: SystemTime,
) -> Result<Response<Body>, Error> {
    let report = match &entry.stored {
        Stored::Report(report) => report,
        Stored::NotFound { status, info } => {
            return Err(Error::Upstream(UpstreamError::Refused {
                status: *status,
                code: Some("8051".to_owned()),
                info: info.clone(),
            }))
        }
    };
    let representation = if gzip { &report.gzip } else { &report.plain };
    let max_age = if x_cache == XCache::Stale {
        0
    } else {
        entry.max_age(now)
    };
    let not_modified = if_none_match.is_some_and(|v| matches(v, &representation.etag));
    let mut response = if not_modified {
        let mut r = with_room(full_body(bytes::Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = with_room(full_body(representation.bytes.clone()));
        let headers = r.headers_mut();
        headers.insert(CONTENT_TYPE, report.content_type.clone());
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Some(withheld) = entry.withheld_header() {
            headers.insert(&X_COLUMNS_WITHHELD, withheld.clone());
        }
        r
    };
    if !report.columns.is_empty() {
        // For the audit log; a grant that withholds nothing costs nothing here.
        response.extensions_mut().insert(report.columns.clone());
    }
    let headers = response.headers_mut();
    headers.insert(ETAG, representation.etag.clone());
    let (control, age) = entry.time_headers(max_age, entry.age(now));
    headers.insert(CACHE_CONTROL, control);
    headers.insert(AGE, age);
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(&X_CACHE, x_cache.value());
    x_cache.count();
    Ok(response)
}

/// Headers of a cached answer: the nine at most written here, the request id added above, and
/// room to spare.
const HEADERS: usize = 12;

/// A response whose header map is allocated once for every header it will get, instead of
/// growing (reallocated and rehashed) at the seventh.
fn with_room(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.headers_mut() = HeaderMap::with_capacity(HEADERS);
    response
}

/// Adds `X-Cache` and `Age: 0` to a response that did not come from an entry.
pub(super) fn mark(mut response: Response<Body>, x_cache: XCache) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(&X_CACHE, x_cache.value());
    headers.insert(AGE, HeaderValue::from(0));
    x_cache.count();
    response
}

/// `If-None-Match` holds `etag` (weak comparison, as RFC 9110 asks for this header) or `*`.
fn matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let etag = etag.as_bytes();
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_is_answered_without_growing_its_header_map() {
        use crate::cache::{Lifetime, Report, Representation};
        use std::time::Duration;
        let bytes = |b: &'static [u8]| Representation::new(bytes::Bytes::from_static(b), "");
        let report = Report {
            content_type: HeaderValue::from_static("application/json"),
            withheld: 2,
            columns: Default::default(),
            plain: bytes(b"[]"),
            gzip: bytes(b"gz"),
        };
        let hour = Duration::from_secs(3600);
        let lifetime = Lifetime::new(SystemTime::now(), hour, hour, hour, None);
        let entry = Entry::new(Stored::Report(report), lifetime);
        let response = respond(&entry, XCache::Hit, true, None, SystemTime::now()).unwrap();
        let headers = response.headers();
        // The most headers a cached answer carries, and room for the request id added above.
        assert_eq!(headers.len(), 9);
        assert!(headers.len() < headers.capacity());
        assert_eq!(headers.capacity(), HEADERS);
    }

    #[test]
    fn if_none_match_lists() {
        let etag = HeaderValue::from_static("\"abc\"");
        for (value, hit) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abd\"", false),
            ("abc", false),
            ("", false),
        ] {
            assert_eq!(
                matches(&HeaderValue::from_static(value), &etag),
                hit,
                "{value}"
            );
        }
    }
}
