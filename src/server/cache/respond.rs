//! Responses from cache entries: the caller's encoding, conditional requests (`If-None-Match`
//! → 304), and the headers that say what the cache did.

use std::time::SystemTime;

use http::header::{
    AGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::super::redact::X_COLUMNS_WITHHELD;
use super::super::stack::X_REQUEST_ID;
use crate::cache::{Entry, Report, Representation, Stored};
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
    let age = entry.age(now);
    let caching = |headers| caching_headers(entry, representation, max_age, age, x_cache, headers);
    let response = if if_none_match.is_some_and(|v| matches(v, &representation.etag)) {
        let mut r = Response::new(full_body(bytes::Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = caching(HeaderMap::with_capacity(HEADERS));
        r
    } else {
        let build = || caching(content_headers(entry, report, gzip));
        let mut r = Response::new(full_body(representation.bytes.clone()));
        *r.headers_mut() = match x_cache {
            XCache::Hit => entry.hit_head(gzip, max_age, age, || {
                let mut head = build();
                // A slot for the request id the observe layer writes into every answer: a
                // kept head is cloned at its exact size, so adding a header to the clone would
                // reallocate it on every hit.
                head.insert(&X_REQUEST_ID, HeaderValue::from_static("-"));
                head
            }),
            _ => build(),
        };
        r
    };
    x_cache.count();
    Ok(response)
}

/// What a report's body needs said about it: sent with the body, not with a 304.
fn content_headers(entry: &Entry, report: &Report, gzip: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(HEADERS);
    headers.insert(CONTENT_TYPE, report.content_type.clone());
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(withheld) = entry.withheld_header() {
        headers.insert(&X_COLUMNS_WITHHELD, withheld.clone());
    }
    headers
}

/// The validator and caching headers every answer from an entry carries, 304 included.
fn caching_headers(
    entry: &Entry,
    representation: &Representation,
    max_age: u64,
    age: u64,
    x_cache: XCache,
    mut headers: HeaderMap,
) -> HeaderMap {
    headers.insert(ETAG, representation.etag.clone());
    let (control, age) = entry.time_headers(max_age, age);
    headers.insert(CACHE_CONTROL, control);
    headers.insert(AGE, age);
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(&X_CACHE, x_cache.value());
    headers
}

/// Headers of a cached answer: the nine at most written here, the request id added above, and
/// room to spare.
const HEADERS: usize = 12;

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

    use crate::cache::Lifetime;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    /// A report entry stored at `at`, fresh for an hour.
    fn entry(at: SystemTime) -> Entry {
        let bytes =
            |b: &'static [u8], suffix| Representation::new(bytes::Bytes::from_static(b), suffix);
        let report = Report {
            content_type: HeaderValue::from_static("application/json"),
            withheld: 2,
            columns: Default::default(),
            plain: bytes(b"[]", ""),
            gzip: bytes(b"gz", "-gzip"),
        };
        Entry::new(
            Stored::Report(report),
            Lifetime::new(at, HOUR, HOUR, HOUR, None),
        )
    }

    #[test]
    fn every_answer_has_room_for_the_request_id_without_growing_its_header_map() {
        let now = SystemTime::now();
        let entry = entry(now);
        // A hit's head, built (the first) and kept (the second), holds a slot for the id: the
        // observe layer's write replaces it. A kept head is cloned at its exact size, so a
        // header added to it would reallocate the map's entries.
        for _ in 0..2 {
            let mut response = respond(&entry, XCache::Hit, true, None, now).unwrap();
            let headers = response.headers_mut();
            assert_eq!(headers.len(), 10);
            assert_eq!(headers[&X_REQUEST_ID], "-");
            headers.insert(&X_REQUEST_ID, HeaderValue::from_static("an-id"));
            assert_eq!(headers.len(), 10, "the id took its slot");
        }
        // Other answers are built with room for it.
        let response = respond(&entry, XCache::Stale, true, None, now).unwrap();
        let headers = response.headers();
        assert_eq!(headers.len(), 9);
        assert!(!headers.contains_key(&X_REQUEST_ID));
        assert_eq!(headers.capacity(), HEADERS);
    }

    #[test]
    fn a_kept_hit_head_follows_the_encoding_the_clock_and_the_cache_status() {
        let t0 = SystemTime::now();
        let entry = entry(t0);
        let at = |secs, gzip, x_cache| {
            let response = respond(&entry, x_cache, gzip, None, t0 + Duration::from_secs(secs));
            response.unwrap().headers().clone()
        };
        let text = |h: &HeaderMap, name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        let plain = at(5, false, XCache::Hit);
        assert_eq!(text(&plain, "age").as_deref(), Some("5"));
        assert_eq!(
            text(&plain, "cache-control").as_deref(),
            Some("private, max-age=3595")
        );
        assert_eq!(text(&plain, "content-encoding"), None);
        assert_eq!(text(&plain, "x-columns-withheld").as_deref(), Some("2"));
        let gzip = at(5, true, XCache::Hit);
        assert_eq!(text(&gzip, "content-encoding").as_deref(), Some("gzip"));
        assert_ne!(text(&gzip, "etag"), text(&plain, "etag"));
        // The same second and encoding: the same head, whichever was made last.
        assert_eq!(at(5, false, XCache::Hit), plain);
        assert_eq!(at(5, true, XCache::Hit), gzip);
        let later = at(6, false, XCache::Hit);
        assert_eq!(text(&later, "age").as_deref(), Some("6"));
        assert_eq!(
            text(&later, "cache-control").as_deref(),
            Some("private, max-age=3594")
        );
        // A stale answer is never given the kept hit head, nor spoils it.
        let stale = at(6, false, XCache::Stale);
        assert_eq!(text(&stale, "x-cache").as_deref(), Some("STALE"));
        assert_eq!(
            text(&stale, "cache-control").as_deref(),
            Some("private, max-age=0")
        );
        assert_eq!(at(6, false, XCache::Hit), later);
        assert_eq!(text(&later, "x-cache").as_deref(), Some("HIT"));
    }

    #[test]
    fn a_kept_hit_head_fits_in_what_the_entry_weighs_for_it() {
        let entry = entry(SystemTime::now());
        let head = respond(&entry, XCache::Hit, true, None, SystemTime::now()).unwrap();
        let headers = head.headers();
        // Every slot the map may fill, each with a name and a value of the longest kept.
        let longest = headers.values().map(|v| v.len()).max().unwrap_or(0);
        let slot = std::mem::size_of::<(HeaderName, HeaderValue)>() + 16 + longest;
        let bytes = std::mem::size_of::<HeaderMap>()
            + headers.capacity() * (slot + 4)
            + std::mem::size_of::<(usize, usize, u64, u64)>();
        assert!(
            bytes <= crate::cache::HIT_HEAD_BYTES,
            "{bytes} bytes for a head"
        );
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
