//! The public request counters and histograms, resolved once per label set.
//!
//! `casegate_requests_total`'s report label is a ReportId only when the policy names it (so a
//! caller trying made-up ids cannot grow the label set), `other` for the rest and `none` without
//! a valid ReportId. A [`RequestSeries`] is built for one policy's ids; each cell resolves its
//! counter on first use (`with_label_values`, which hashes and allocates) and holds the handle,
//! so a request after that costs a binary search and an atomic add.

use std::sync::OnceLock;

use prometheus::{Histogram, IntCounter};

use super::metrics;

/// `route` label: which endpoint a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLabel {
    GetReport,
    Reports,
    Other,
}

impl RouteLabel {
    /// The route of `path`, as the router will match it (only exact spellings are routes).
    pub fn of(path: &str) -> RouteLabel {
        match crate::server::route::match_path(path) {
            Some(r) if r.path_report_id.is_some() => RouteLabel::Reports,
            Some(_) => RouteLabel::GetReport,
            None => RouteLabel::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RouteLabel::GetReport => "getreport",
            RouteLabel::Reports => "reports",
            RouteLabel::Other => "other",
        }
    }
}

/// `cache` label: what the cache did (`X-Cache`), or `none` for answers it never saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLabel {
    Hit,
    Miss,
    Stale,
    Bypass,
    None,
}

impl CacheLabel {
    /// From an `X-Cache` header value.
    pub fn of(x_cache: Option<&[u8]>) -> CacheLabel {
        match x_cache {
            Some(b"HIT") => CacheLabel::Hit,
            Some(b"MISS") => CacheLabel::Miss,
            Some(b"STALE") => CacheLabel::Stale,
            Some(b"BYPASS") => CacheLabel::Bypass,
            _ => CacheLabel::None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CacheLabel::Hit => "hit",
            CacheLabel::Miss => "miss",
            CacheLabel::Stale => "stale",
            CacheLabel::Bypass => "bypass",
            CacheLabel::None => "none",
        }
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const ROUTES: usize = 3;
const CLASSES: usize = 5;
const CACHES: usize = 5;
const PER_REPORT: usize = ROUTES * CLASSES * CACHES;

/// The status class's index (1xx..5xx); anything out of range counts as 5xx.
fn class(status: u16) -> usize {
    usize::from(status / 100).saturating_sub(1).min(CLASSES - 1)
}

/// Request counters for one policy's ReportIds.
#[derive(Debug)]
pub struct RequestSeries {
    /// The ReportIds the policy names, sorted.
    ids: Box<[u64]>,
    /// `PER_REPORT` cells for each id, then `other`, then `none`.
    counters: Box<[OnceLock<IntCounter>]>,
}

impl RequestSeries {
    /// Series for the ReportIds `ids` (any order, duplicates allowed).
    pub fn new(mut ids: Vec<u64>) -> RequestSeries {
        ids.sort_unstable();
        ids.dedup();
        let cells = (ids.len() + 2) * PER_REPORT;
        RequestSeries {
            ids: ids.into(),
            counters: (0..cells).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Counts one request whose response head is going out now, and its time to that head.
    pub fn count(
        &self,
        route: RouteLabel,
        status: u16,
        report: Option<u64>,
        cache: CacheLabel,
        to_head: std::time::Duration,
    ) {
        let report_index = match report {
            None => self.ids.len() + 1,
            Some(id) => self.ids.binary_search(&id).unwrap_or(self.ids.len()),
        };
        let class = class(status);
        let cell = report_index * PER_REPORT
            + (route as usize * CLASSES + class) * CACHES
            + cache as usize;
        self.counters[cell]
            .get_or_init(|| {
                let report = match report_index {
                    i if i < self.ids.len() => self.ids[i].to_string(),
                    i if i == self.ids.len() => "other".to_owned(),
                    _ => "none".to_owned(),
                };
                metrics().requests.with_label_values(&[
                    route.label(),
                    STATUS_CLASSES[class],
                    &report,
                    cache.label(),
                ])
            })
            .inc();
        duration(route, class).observe(to_head.as_secs_f64());
    }
}

/// The duration histogram of (route, class), resolved once per process.
fn duration(route: RouteLabel, class: usize) -> &'static Histogram {
    static CELLS: [OnceLock<Histogram>; ROUTES * CLASSES] = [const { OnceLock::new() }; 15];
    CELLS[route as usize * CLASSES + class].get_or_init(|| {
        metrics()
            .request_duration
            .with_label_values(&[route.label(), STATUS_CLASSES[class]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn report_labels_are_the_named_ids_other_and_none() {
        let series = RequestSeries::new(vec![10801, 10800, 10801]);
        let at = |route, status, report, cache| {
            series.count(route, status, report, cache, Duration::from_millis(1))
        };
        at(RouteLabel::GetReport, 200, Some(10800), CacheLabel::Hit);
        at(RouteLabel::GetReport, 200, Some(10800), CacheLabel::Hit);
        at(RouteLabel::Reports, 403, Some(99999), CacheLabel::None);
        at(RouteLabel::Other, 404, None, CacheLabel::None);
        let value = |labels: &[&str]| metrics().requests.with_label_values(labels).get();
        assert!(value(&["getreport", "2xx", "10800", "hit"]) >= 2);
        assert!(value(&["reports", "4xx", "other", "none"]) >= 1);
        assert!(value(&["other", "4xx", "none", "none"]) >= 1);
        assert_eq!(class(101), 0);
        assert_eq!(class(599), 4);
        assert_eq!(class(700), 4);
    }

    #[test]
    fn routes_and_cache_headers() {
        assert_eq!(RouteLabel::of("/getreport"), RouteLabel::GetReport);
        assert_eq!(RouteLabel::of("/reports/7"), RouteLabel::Reports);
        assert_eq!(RouteLabel::of("/reports/7/x"), RouteLabel::Other);
        assert_eq!(CacheLabel::of(Some(b"HIT")), CacheLabel::Hit);
        assert_eq!(CacheLabel::of(Some(b"BYPASS")), CacheLabel::Bypass);
        assert_eq!(CacheLabel::of(None), CacheLabel::None);
    }
}
