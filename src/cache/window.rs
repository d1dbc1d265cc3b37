//! How long a report's answer can stay true whatever its TTL says.
//!
//! iCasework computes relative timeframes (`Units=Today`, `Week to date`, `Previous month`, ...)
//! and each report's own default timeframe from the current date in the account's time zone,
//! so their answer changes at midnight there. Every one of them has a granularity of at least a
//! day, so "until the next local midnight" is a bound that is always right (for `Previous month`
//! also early, which costs one refetch a day). Only a request that pins both ends of every
//! timeframe it touches with absolute dates is bound by its TTL alone.

use std::time::SystemTime;

use chrono::{DateTime, Days, TimeZone, Utc};
use chrono_tz::Tz;

use crate::params::{CanonicalParams, Param};

/// When an answer to `params` computed at `now` stops being the answer; `None` when only the TTL
/// bounds it.
pub fn window_end(params: &CanonicalParams, now: SystemTime, tz: Tz) -> Option<SystemTime> {
    let has = |p: Param| params.get(p).is_some();
    let main =
        (has(Param::From) || has(Param::FromTime)) && (has(Param::Until) || has(Param::UntilTime));
    let period_named = [
        Param::PeriodUnits,
        Param::PeriodMultiples,
        Param::PeriodFrom,
        Param::PeriodUntil,
    ]
    .into_iter()
    .any(has);
    let period = !period_named || (has(Param::PeriodFrom) && has(Param::PeriodUntil));
    if main && period {
        None
    } else {
        Some(next_midnight(now, tz))
    }
}

/// The next midnight after `now` in `tz` (the first instant of the next local day, which DST
/// may move off 00:00).
fn next_midnight(now: SystemTime, tz: Tz) -> SystemTime {
    let local = DateTime::<Utc>::from(now).with_timezone(&tz);
    let tomorrow = local.date_naive() + Days::new(1);
    let start = (0..24)
        .filter_map(|h| tomorrow.and_hms_opt(h, 0, 0))
        .find_map(|t| tz.from_local_datetime(&t).earliest());
    start.map_or(now + std::time::Duration::from_secs(3600), SystemTime::from)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::params::{parse, Limits};

    fn params(query: &str) -> CanonicalParams {
        parse(Some(query), None, &Limits::default())
            .unwrap()
            .canonical
    }

    fn at(rfc3339: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().into()
    }

    #[test]
    fn relative_and_default_timeframes_end_at_local_midnight() {
        let london = chrono_tz::Europe::London;
        // 23:30 UTC on 1 July is 00:30 on 2 July in London (BST): the window ends at 23:00 UTC
        // on 2 July.
        let now = at("2026-07-01T23:30:00Z");
        let end = at("2026-07-02T23:00:00Z");
        for query in [
            "ReportId=1",
            "ReportId=1&Units=Today",
            "ReportId=1&Units=Previous%20month",
            "ReportId=1&From=2022-01-01",
            "ReportId=1&From=2022-01-01&Until=2022-02-01&periodUnits=Today",
            "ReportId=1&From=2022-01-01&Until=2022-02-01&periodFrom=2022-01-01",
        ] {
            assert_eq!(
                window_end(&params(query), now, london),
                Some(end),
                "{query}"
            );
        }
        // In winter London is UTC.
        let now = at("2026-01-10T12:00:00Z");
        assert_eq!(
            window_end(&params("ReportId=1"), now, london),
            Some(at("2026-01-11T00:00:00Z"))
        );
        assert_eq!(
            window_end(&params("ReportId=1"), now, chrono_tz::Asia::Tokyo),
            Some(at("2026-01-10T15:00:00Z"))
        );
    }

    #[test]
    fn absolute_timeframes_have_no_window() {
        let now = SystemTime::now();
        for query in [
            "ReportId=1&From=2022-01-01&Until=2022-02-01",
            "ReportId=1&FromTime=2022-01-01%2000:00:00&UntilTime=2022-02-01%2000:00:00",
            "ReportId=1&From=2022-01-01&Until=2022-02-01&periodFrom=2022-01-01&periodUntil=2022-01-31",
        ] {
            assert_eq!(
                window_end(&params(query), now, chrono_tz::UTC),
                None,
                "{query}"
            );
        }
        let end = window_end(&params("ReportId=1"), now, chrono_tz::UTC).unwrap();
        assert!(end > now && end <= now + Duration::from_secs(24 * 3600));
    }
}
