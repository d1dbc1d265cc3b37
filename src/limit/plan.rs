//! Which quotas one request spends: the grant's rates, or the configuration's defaults where the
//! grant sets none, each with the key it is kept under.

use std::time::Duration;

use super::key::{CallerId, Key, Scope};
use crate::auth::Identity;
use crate::params::ReportId;
use crate::policy::{Grant, Rate};

/// The gateway's quota settings (`[limits]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Each caller's rate under a grant that sets no `rate`; `None`: no such quota.
    pub rate: Option<Rate>,
    /// Each caller's rate for one report, where the grant sets no `report_rate`.
    pub report_rate: Option<Rate>,
    /// Each caller's rate of requests to iCasework, where the grant sets no `miss_rate`.
    pub miss_rate: Option<Rate>,
    /// The most keys (caller, caller and report, ...) the limiter keeps; at this many, a request
    /// that would add a key is refused until idle keys are swept.
    pub max_keys: usize,
    /// How often keys whose quotas are full again (idle) are removed.
    pub sweep_interval: Duration,
    /// Quotas shared by the replicas through Redis (`[limits.redis]`); `None`: per replica.
    pub redis: Option<super::SharedConfig>,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            rate: None,
            report_rate: None,
            miss_rate: None,
            max_keys: 100_000,
            sweep_interval: Duration::from_secs(60),
            redis: None,
        }
    }
}

/// The quotas of one request, each with its key. The request spends `caller` then `report`
/// before going further; `miss` only if it is about to go to iCasework.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub caller: Option<(Key, Rate)>,
    pub report: Option<(Key, Rate)>,
    pub miss: Option<(Key, Rate)>,
}

impl Plan {
    /// The quotas `grant` (or, where it is silent, `defaults`) sets for `identity`'s request
    /// for `report`.
    pub fn new(
        grant: &Grant,
        identity: &Identity,
        report: ReportId,
        defaults: &LimitConfig,
    ) -> Plan {
        let limits = &grant.limits;
        let rate = limits.rate.or(defaults.rate);
        let report_rate = limits.report_rate.or(defaults.report_rate);
        let miss_rate = limits.miss_rate.or(defaults.miss_rate);
        if rate.is_none() && report_rate.is_none() && miss_rate.is_none() {
            // Unlimited callers cost nothing here, not even the digest.
            return Plan::default();
        }
        let caller = CallerId::of(&grant.name, identity, limits.key.as_deref());
        let key = |scope, report| Key {
            scope,
            caller,
            report,
        };
        Plan {
            caller: rate.map(|r| (key(Scope::Caller, 0), r)),
            report: report_rate.map(|r| (key(Scope::Report, report.get()), r)),
            miss: miss_rate.map(|r| (key(Scope::Miss, 0), r)),
        }
    }

    /// Whether any quota applies; a caller without one gets no RateLimit fields.
    pub fn is_limited(&self) -> bool {
        self.caller.is_some() || self.report.is_some() || self.miss.is_some()
    }

    /// The quotas every request spends, widest first: a caller over its whole quota is refused
    /// before it can add a per-report key (cycling through ReportIds then adds no keys).
    pub fn requests(&self) -> impl Iterator<Item = (Key, Rate)> {
        self.caller.into_iter().chain(self.report)
    }
}
