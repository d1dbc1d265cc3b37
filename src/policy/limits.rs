//! A grant's limits: its callers' quotas (applied by `crate::limit`) and how long their reports
//! may be cached (applied by the cache).

use std::fmt;
use std::time::Duration;

/// A request rate with a burst: a token bucket of `burst` tokens refilled at `requests` per `per`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
    /// The most requests accepted at once; the rate's own count unless set.
    pub burst: u32,
}

/// The largest count in a rate or burst.
pub(crate) const MAX_COUNT: u32 = 1_000_000;
/// The longest cache TTL accepted: reports hold personal data.
pub(crate) const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What `rate = "N/unit"` must look like; completes a sentence that starts with "rate".
pub(crate) const RATE_SYNTAX: &str = "must look like \"100/minute\": a count from 1 to 1000000, \
    '/', and one of second, minute, hour, day (or s, m, h, d)";

impl Rate {
    /// Parses `"100/minute"`, `"5/s"`, `"1000 / hour"`; the burst is the count.
    pub fn parse(s: &str) -> Option<Rate> {
        let (count, unit) = s.split_once('/')?;
        let count = count.trim();
        if count.is_empty() || count.len() > 7 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let requests: u32 = count.parse().ok()?;
        if !(1..=MAX_COUNT).contains(&requests) {
            return None;
        }
        let secs = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return None,
        };
        Some(Rate {
            requests,
            per: Duration::from_secs(secs),
            burst: requests,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{unit}, burst {}", self.requests, self.burst)
    }
}

impl Rate {
    /// The time one request's unit takes to come back: `per / requests`.
    pub fn interval(&self) -> Duration {
        self.per / self.requests
    }
}

/// A grant's limits; `None` leaves the gateway's defaults (`[limits]`) in force.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Limits {
    /// The claim whose value identifies a caller for its quotas (an organisation, say), so that
    /// every token carrying the same value shares them; `None`: the subject.
    pub key: Option<String>,
    /// Each caller's rate under this grant, all reports together.
    pub rate: Option<Rate>,
    /// Each caller's rate for any one report, so one report's heavy use cannot spend the whole
    /// of `rate`.
    pub report_rate: Option<Rate>,
    /// Each caller's rate of requests that go to iCasework (cache misses and uncached
    /// requests), all reports together.
    pub miss_rate: Option<Rate>,
    /// How long a report fetched under this grant may be served from the cache; zero: never.
    pub cache_ttl: Option<Duration>,
    /// Whether the grant's callers may force a refresh with `Cache-Control: no-cache`; without
    /// it their `no-cache` is ignored, which protects iCasework.
    pub cache_refresh: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let table = [
            ("100/minute", Some((100, 60))),
            ("5/s", Some((5, 1))),
            ("1000 / Hour", Some((1000, 3600))),
            ("1/d", Some((1, 86_400))),
            ("1000000/sec", Some((1_000_000, 1))),
            ("1000001/s", None),
            ("0/minute", None),
            ("-1/minute", None),
            ("+1/minute", None),
            ("100/minutes", None),
            ("100/fortnight", None),
            ("100", None),
            ("/minute", None),
            ("100/", None),
            ("1.5/s", None),
            ("99999999999999999999/s", None),
        ];
        for (input, want) in table {
            let got = Rate::parse(input).map(|r| (r.requests, r.per.as_secs()));
            assert_eq!(got, want, "{input}");
        }
        assert_eq!(Rate::parse("100/m").map(|r| r.burst), Some(100));
        assert_eq!(
            Rate::parse("100/m").unwrap().to_string(),
            "100/minute, burst 100"
        );
    }
}
