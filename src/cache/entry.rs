//! One cached answer: a redacted report (plain and gzip, each with its strong ETag) or a
//! remembered "report not found", with the times that decide how it may be served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use ring::digest;

/// What an entry holds.
#[derive(Debug)]
pub enum Stored {
    /// A redacted report as the caller receives it.
    Report(Report),
    /// iCasework answered 8051 (no such report) with this status: remembered briefly
    /// (negative cache).
    NotFound {
        status: http::StatusCode,
        info: Option<String>,
    },
}

/// A redacted report body in both encodings.
#[derive(Debug)]
pub struct Report {
    pub content_type: HeaderValue,
    /// The `X-Columns-Withheld` count the redaction produced.
    pub withheld: usize,
    /// The names of those columns, for the audit log (never sent).
    pub columns: crate::redact::WithheldColumns,
    pub plain: Representation,
    pub gzip: Representation,
}

/// The bytes of one encoding and their strong ETag.
#[derive(Debug)]
pub struct Representation {
    pub bytes: Bytes,
    pub etag: HeaderValue,
}

impl Representation {
    /// `bytes` with an ETag of their SHA-256 (128 bits, hex), so the tag changes exactly when
    /// the bytes do. `suffix` tells encodings apart.
    pub fn new(bytes: Bytes, suffix: &str) -> Representation {
        let hash = digest::digest(&digest::SHA256, &bytes);
        let hex: String = hash.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let etag = HeaderValue::try_from(format!("\"{hex}{suffix}\""))
            .unwrap_or(HeaderValue::from_static("\"\""));
        Representation { bytes, etag }
    }
}

/// How long an entry may be served, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub stored_at: SystemTime,
    /// Served as a hit until then.
    pub fresh_until: SystemTime,
    /// Until then, a stale entry is served while one background refresh runs.
    pub revalidate_until: SystemTime,
    /// Until then, a stale entry is served when iCasework fails (stale-if-error).
    pub stale_until: SystemTime,
}

impl Lifetime {
    /// Fresh for `ttl`, then stale for the two grace periods; nothing lasts past `window_end`
    /// (the end of the relative timeframe the report was computed for).
    pub fn new(
        stored_at: SystemTime,
        ttl: Duration,
        revalidate: Duration,
        if_error: Duration,
        window_end: Option<SystemTime>,
    ) -> Lifetime {
        let cap = |t: SystemTime| window_end.map_or(t, |end| t.min(end));
        let fresh_until = cap(stored_at + ttl);
        Lifetime {
            stored_at,
            fresh_until,
            revalidate_until: cap(fresh_until + revalidate),
            stale_until: cap(fresh_until + revalidate.max(if_error)),
        }
    }
}

/// Where an entry stands at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Stale, but may be served while a background refresh runs.
    Revalidate,
    /// Stale; may be served only if a refresh fails.
    IfError,
    /// Never served again.
    Expired,
}

/// A cached answer.
#[derive(Debug)]
pub struct Entry {
    pub stored: Stored,
    pub lifetime: Lifetime,
    /// A background refresh of this entry is running (so at most one runs).
    refreshing: AtomicBool,
    /// `X-Columns-Withheld` of a report, written once rather than on every hit.
    withheld: Option<HeaderValue>,
    /// The last `Cache-Control` and `Age` values given, reused while they stay the same (for a
    /// second at a time) rather than formatted on every hit.
    stamp: ArcSwapOption<Stamp>,
    /// The whole head of a fresh hit, plain and gzip, for the last max-age and age it was
    /// built for: cloned on each hit rather than assembled header by header.
    hit_heads: [ArcSwapOption<HitHead>; 2],
}

/// What a kept hit head may hold in memory, counted in a report entry's weight for each of
/// its two encodings: the map and its index, up to twelve headers with their values, and the
/// `Arc` around them (checked against the real sizes in `server::cache::respond`).
pub const HIT_HEAD_BYTES: usize = 2048;

/// The headers of a fresh hit in one encoding for one max-age and age.
#[derive(Debug)]
struct HitHead {
    max_age: u64,
    age: u64,
    headers: HeaderMap,
}

/// `Cache-Control` and `Age` for one max-age and age.
#[derive(Debug)]
struct Stamp {
    max_age: u64,
    age: u64,
    cache_control: HeaderValue,
    age_value: HeaderValue,
}

impl Entry {
    pub fn new(stored: Stored, lifetime: Lifetime) -> Entry {
        let withheld = match &stored {
            Stored::Report(report) => Some(HeaderValue::from(report.withheld)),
            Stored::NotFound { .. } => None,
        };
        Entry {
            stored,
            lifetime,
            refreshing: AtomicBool::new(false),
            withheld,
            stamp: ArcSwapOption::empty(),
            hit_heads: Default::default(),
        }
    }

    /// `X-Columns-Withheld` for a report entry.
    pub fn withheld_header(&self) -> Option<&HeaderValue> {
        self.withheld.as_ref()
    }

    /// `Cache-Control: private, max-age=<max_age>` and `Age: <age>`. Private: reports hold
    /// personal data, so no shared cache downstream may keep them.
    pub fn time_headers(&self, max_age: u64, age: u64) -> (HeaderValue, HeaderValue) {
        if let Some(stamp) = &*self.stamp.load() {
            if stamp.max_age == max_age && stamp.age == age {
                return (stamp.cache_control.clone(), stamp.age_value.clone());
            }
        }
        let cache_control = HeaderValue::try_from(format!("private, max-age={max_age}"))
            .unwrap_or(HeaderValue::from_static("private, max-age=0"));
        let age_value = HeaderValue::from(age);
        self.stamp.store(Some(Arc::new(Stamp {
            max_age,
            age,
            cache_control: cache_control.clone(),
            age_value: age_value.clone(),
        })));
        (cache_control, age_value)
    }

    /// The headers of a fresh hit in the plain or gzip encoding, made by `build` once per
    /// max-age and age (so once a second at most) and cloned for every hit in between: a
    /// clone costs a fraction of hashing and inserting the nine headers one by one.
    pub fn hit_head(
        &self,
        gzip: bool,
        max_age: u64,
        age: u64,
        build: impl FnOnce() -> HeaderMap,
    ) -> HeaderMap {
        let slot = &self.hit_heads[usize::from(gzip)];
        if let Some(head) = &*slot.load() {
            if head.max_age == max_age && head.age == age {
                return head.headers.clone();
            }
        }
        let headers = build();
        slot.store(Some(Arc::new(HitHead {
            max_age,
            age,
            headers: headers.clone(),
        })));
        headers
    }

    pub fn freshness(&self, now: SystemTime) -> Freshness {
        let l = &self.lifetime;
        if now < l.fresh_until {
            Freshness::Fresh
        } else if now < l.revalidate_until {
            Freshness::Revalidate
        } else if now < l.stale_until {
            Freshness::IfError
        } else {
            Freshness::Expired
        }
    }

    /// Seconds since the entry was stored (the `Age` header).
    pub fn age(&self, now: SystemTime) -> u64 {
        now.duration_since(self.lifetime.stored_at)
            .unwrap_or_default()
            .as_secs()
    }

    /// Whole seconds it stays fresh (`Cache-Control: max-age`).
    pub fn max_age(&self, now: SystemTime) -> u64 {
        self.lifetime
            .fresh_until
            .duration_since(now)
            .unwrap_or_default()
            .as_secs()
    }

    /// How long the store must keep it: until nothing may serve it any more.
    pub fn keep_for(&self, now: SystemTime) -> Duration {
        self.lifetime
            .stale_until
            .duration_since(now)
            .unwrap_or_default()
    }

    /// Claims the one background refresh; `false` when one is already running.
    pub fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// The background refresh failed: the next stale hit may start another.
    pub fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    /// Bytes the entry costs, for the cache's weigher.
    pub fn weight(&self) -> usize {
        // A report's two bodies and the two hit heads it may keep; a "not found", its text.
        let held = match &self.stored {
            Stored::Report(r) => r.plain.bytes.len() + r.gzip.bytes.len() + 2 * HIT_HEAD_BYTES,
            Stored::NotFound { info, .. } => info.as_ref().map_or(0, String::len),
        };
        held + std::mem::size_of::<Entry>() + 128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn freshness_over_time_and_the_window_end() {
        let t0 = SystemTime::UNIX_EPOCH + 1_000_000 * S;
        let entry = Entry::new(
            Stored::NotFound {
                status: http::StatusCode::BAD_REQUEST,
                info: None,
            },
            Lifetime::new(t0, 60 * S, 30 * S, 300 * S, None),
        );
        assert_eq!(entry.freshness(t0), Freshness::Fresh);
        assert_eq!(entry.freshness(t0 + 59 * S), Freshness::Fresh);
        assert_eq!(entry.freshness(t0 + 60 * S), Freshness::Revalidate);
        assert_eq!(entry.freshness(t0 + 89 * S), Freshness::Revalidate);
        assert_eq!(entry.freshness(t0 + 90 * S), Freshness::IfError);
        assert_eq!(entry.freshness(t0 + 359 * S), Freshness::IfError);
        assert_eq!(entry.freshness(t0 + 360 * S), Freshness::Expired);
        assert_eq!(entry.age(t0 + 42 * S), 42);
        assert_eq!(entry.max_age(t0 + 42 * S), 18);
        assert_eq!(entry.max_age(t0 + 70 * S), 0);
        assert_eq!(entry.keep_for(t0), 360 * S);

        // A window ending 20 s after storing caps everything, stale serving included.
        let windowed = Lifetime::new(t0, 60 * S, 30 * S, 300 * S, Some(t0 + 20 * S));
        assert_eq!(windowed.fresh_until, t0 + 20 * S);
        assert_eq!(windowed.revalidate_until, t0 + 20 * S);
        assert_eq!(windowed.stale_until, t0 + 20 * S);
    }

    #[test]
    fn time_headers_follow_their_numbers() {
        let entry = Entry::new(
            Stored::NotFound {
                status: http::StatusCode::BAD_REQUEST,
                info: None,
            },
            Lifetime::new(SystemTime::now(), S, S, S, None),
        );
        assert_eq!(entry.withheld_header(), None);
        for (max_age, age) in [(60, 0), (60, 0), (59, 1), (0, 1), (0, 61), (59, 1)] {
            let (control, age_value) = entry.time_headers(max_age, age);
            assert_eq!(control, format!("private, max-age={max_age}").as_str());
            assert_eq!(age_value, age.to_string().as_str());
        }
    }

    #[test]
    fn one_refresh_at_a_time() {
        let entry = Entry::new(
            Stored::NotFound {
                status: http::StatusCode::BAD_REQUEST,
                info: None,
            },
            Lifetime::new(SystemTime::now(), S, S, S, None),
        );
        assert!(entry.claim_refresh());
        assert!(!entry.claim_refresh());
    }

    #[test]
    fn etags_follow_the_bytes() {
        let a = Representation::new(Bytes::from_static(b"abc"), "");
        let b = Representation::new(Bytes::from_static(b"abd"), "");
        let gz = Representation::new(Bytes::from_static(b"abc"), "-gzip");
        assert_ne!(a.etag, b.etag);
        assert_ne!(a.etag, gz.etag);
        assert_eq!(
            a.etag,
            Representation::new(Bytes::from_static(b"abc"), "").etag
        );
        let text = a.etag.to_str().unwrap();
        assert!(text.starts_with('"') && text.ends_with('"') && text.len() == 34);
    }
}
