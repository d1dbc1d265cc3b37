//! Redis key names. Parameter values may be personal data (a Keywords search, a name in an
//! AttributeFilter), so a name holds only a SHA-256 of the canonical query, the column profile's
//! fingerprint and, for the purge index, the ReportId.
//!
//! ```text
//! {namespace}:v1:entry:{sha256(canonical query)}:{profile}   the sealed entry (PX = keep_for)
//! {namespace}:v1:lock:{sha256(canonical query)}:{profile}    who fills it now (PX = lock_ttl)
//! {namespace}:v1:report:{ReportId}                           sorted set of the report's entry
//!                                                            names, scored by expiry (purge)
//! ```
//!
//! `v1` is the layout of names and values: a change to either gets a new prefix, so replicas of
//! two versions never read each other's entries during a rolling upgrade.

use ring::digest;

use crate::cache::CacheKey;

/// The names one cache key has in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) entry: String,
    pub(crate) lock: String,
    pub(crate) index: String,
}

impl Names {
    pub(crate) fn new(namespace: &str, key: &CacheKey) -> Names {
        let mut query = String::new();
        key.params().write_query(&mut query);
        let hash = digest::digest(&digest::SHA256, query.as_bytes());
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let id = format!("{hex}:{}", key.profile().hex());
        Names {
            entry: format!("{namespace}:v1:entry:{id}"),
            lock: format!("{namespace}:v1:lock:{id}"),
            index: report_index(namespace, key.report()),
        }
    }
}

/// The sorted set naming every entry of `report`.
pub(crate) fn report_index(namespace: &str, report: u64) -> String {
    format!("{namespace}:v1:report:{report}")
}

/// A `SCAN MATCH` pattern for every key of this layout in `namespace` (validation keeps glob
/// characters out of namespaces).
pub(crate) fn everything(namespace: &str) -> String {
    format!("{namespace}:v1:*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Profile;
    use crate::params::{parse, Limits};
    use crate::policy::ColumnRules;

    fn key(query: &str) -> CacheKey {
        let params = parse(Some(query), None, &Limits::default())
            .unwrap()
            .canonical;
        CacheKey::new(params, Profile::of(&ColumnRules::default()))
    }

    #[test]
    fn names_hold_no_parameter_value() {
        let names = Names::new(
            "casegate",
            &key("ReportId=10800&Keywords=Bloggs&Format=json"),
        );
        for name in [&names.entry, &names.lock, &names.index] {
            assert!(!name.to_lowercase().contains("bloggs"), "{name}");
            assert!(!name.contains("json"), "{name}");
        }
        assert!(names.entry.starts_with("casegate:v1:entry:"));
        assert!(names.lock.starts_with("casegate:v1:lock:"));
        assert_eq!(names.index, "casegate:v1:report:10800");
        // 64 hex digits of query hash, 32 of profile.
        let id = names.entry.trim_start_matches("casegate:v1:entry:");
        let (hash, profile) = id.split_once(':').unwrap();
        assert_eq!((hash.len(), profile.len()), (64, 32));
        assert!(id.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()));
    }

    #[test]
    fn equal_queries_share_names_and_different_ones_do_not() {
        let a = Names::new("ns", &key("reportid=010800&format=JSON&Keywords=x"));
        let b = Names::new("ns", &key("ReportId=10800&Keywords=x&Format=json"));
        let c = Names::new("ns", &key("ReportId=10800&Keywords=y&Format=json"));
        assert_eq!(a, b);
        assert_ne!(a.entry, c.entry);
        assert_eq!(a.index, c.index);
        assert_ne!(
            Names::new("other", &key("ReportId=1")).entry,
            Names::new("ns", &key("ReportId=1")).entry
        );
    }
}
