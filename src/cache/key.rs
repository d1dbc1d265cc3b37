//! What a cached response is filed under: the canonical parameter set (the report, its format,
//! filters, CSV options and pinned parameters; never Compression, which is transport) and the
//! fingerprint of the column rules that redacted it. A body redacted for one set of rules is
//! never found under another's key.

use std::fmt;
use std::sync::Arc;

use crate::params::CanonicalParams;
use crate::policy::ColumnRules;

/// A cache key. Cheap to clone and hash; `Debug` shows the report and the profile only, never
/// parameter values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Arc<Inner>);

#[derive(PartialEq, Eq, Hash)]
struct Inner {
    params: CanonicalParams,
    profile: Profile,
}

/// The fingerprint of a grant's column rules.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Profile([u8; 16]);

impl CacheKey {
    pub fn new(params: CanonicalParams, profile: Profile) -> Self {
        CacheKey(Arc::new(Inner { params, profile }))
    }

    pub fn params(&self) -> &CanonicalParams {
        &self.0.params
    }

    pub fn report(&self) -> u64 {
        self.0.params.report_id().get()
    }

    pub fn profile(&self) -> Profile {
        self.0.profile
    }

    /// Bytes this key costs in memory, roughly, for the cache's weigher.
    pub(crate) fn weight(&self) -> usize {
        std::mem::size_of::<Inner>() + 64
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheKey")
            .field("report", &self.report())
            .field("format", &self.0.params.format())
            .field("profile", &self.0.profile)
            .finish_non_exhaustive()
    }
}

impl Profile {
    /// The profile of `rules` (see [`ColumnRules::fingerprint`]).
    pub fn of(rules: &ColumnRules) -> Profile {
        Profile(rules.fingerprint())
    }

    /// Hex, for keys outside the process (the shared tier).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Profile({})", &self.hex()[..8])
    }
}
