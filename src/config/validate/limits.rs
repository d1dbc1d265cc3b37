//! `[limits]`: the quotas of callers whose grant sets none, and the limiter's memory bound.
//! Rates and bursts are written and checked as in a grant's `[grant.limits]`.

use super::super::problem::Reporter;
use super::super::raw::RawLimits;
use super::{count, duration};
use crate::limit::LimitConfig;
use crate::policy::rate_and_burst;

/// At least this many keys: fewer would refuse callers in ordinary use.
const MIN_KEYS: i64 = 100;
/// At most this many keys (about 100 bytes each).
const MAX_KEYS: i64 = 100_000_000;

pub(super) fn limits(raw: &RawLimits, r: &mut Reporter<'_>) -> Option<LimitConfig> {
    let defaults = LimitConfig::default();
    let rate = rate_and_burst(&raw.rate, &raw.burst, "limits.rate", "limits.burst", r);
    let report_rate = rate_and_burst(
        &raw.report_rate,
        &raw.report_burst,
        "limits.report_rate",
        "limits.report_burst",
        r,
    );
    let miss_rate = rate_and_burst(
        &raw.miss_rate,
        &raw.miss_burst,
        "limits.miss_rate",
        "limits.miss_burst",
        r,
    );
    let max_keys = count(&raw.max_keys, "limits.max_keys", MIN_KEYS, MAX_KEYS, r);
    let sweep_interval = duration(&raw.sweep_interval, "limits.sweep_interval", r);
    Some(LimitConfig {
        rate: rate.ok()?,
        report_rate: report_rate.ok()?,
        miss_rate: miss_rate.ok()?,
        max_keys: max_keys.ok()?.unwrap_or(defaults.max_keys),
        sweep_interval: sweep_interval.ok()?.unwrap_or(defaults.sweep_interval),
    })
}
