//! What a cached response is filed under: the canonical parameter set (the report, its format,
//! filters, CSV options and pinned parameters; never Compression, which is transport) and the
//! fingerprint of the column rules that redacted it. A body redacted for one set of rules is
//! never found under another's key.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use equivalent::Equivalent;

use crate::params::CanonicalParams;
use crate::policy::ColumnRules;

/// A cache key. Cheap to clone and hash; `Debug` shows the report and the profile only, never
/// parameter values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Arc<Inner>);

// `Hash` must stay field by field, in this order: `KeyRef` hashes the same way.
#[derive(PartialEq, Eq, Hash)]
struct Inner {
    params: CanonicalParams,
    profile: Profile,
}

/// A key's parts, borrowed, to look an entry up without building a [`CacheKey`] (a clone of the
/// parameters and an `Arc` per request). Hashes and compares exactly as the key it stands for.
pub(crate) struct KeyRef<'a> {
    params: &'a CanonicalParams,
    profile: Profile,
}

impl<'a> KeyRef<'a> {
    pub(crate) fn new(params: &'a CanonicalParams, profile: Profile) -> Self {
        KeyRef { params, profile }
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.params.hash(state);
        self.profile.hash(state);
    }
}

impl Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        *self.params == key.0.params && self.profile == key.0.profile
    }
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

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::params::{parse, Limits};
    use crate::policy::ColumnRules;

    fn params(query: &str) -> CanonicalParams {
        parse(Some(query), None, &Limits::default())
            .unwrap()
            .canonical
    }

    #[test]
    fn a_borrowed_key_finds_exactly_its_own_entry() {
        let profile = Profile::of(&ColumnRules::default());
        let other_profile = Profile([1; 16]);
        let key = CacheKey::new(params("ReportId=10800&Format=json"), profile);
        let hasher = std::collections::hash_map::RandomState::new();
        // Equal parameters, spelled differently, under the same profile: the same entry.
        let same = params("format=JSON&reportid=10800");
        let by_ref = KeyRef::new(&same, profile);
        assert_eq!(hasher.hash_one(&by_ref), hasher.hash_one(&key));
        assert!(by_ref.equivalent(&key));
        // Another profile or other parameters: never.
        assert!(!KeyRef::new(&same, other_profile).equivalent(&key));
        let csv = params("ReportId=10800&Format=csv");
        assert!(!KeyRef::new(&csv, profile).equivalent(&key));
        // And through the store itself.
        let store = moka::sync::Cache::new(10);
        store.insert(key, 1);
        assert_eq!(store.get(&KeyRef::new(&same, profile)), Some(1));
        assert_eq!(store.get(&KeyRef::new(&same, other_profile)), None);
        assert_eq!(store.get(&KeyRef::new(&csv, profile)), None);
    }
}
