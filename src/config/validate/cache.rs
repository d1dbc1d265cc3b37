//! `[cache]`: the response cache's bounds and lifetimes.

use std::path::Path;
use std::time::Duration;

use super::super::problem::Reporter;
use super::super::raw::RawCache;
use crate::cache::CacheConfig;
use crate::policy::MAX_CACHE_TTL;

/// The largest entry accepted: entries are weighed in `u32` bytes (both encodings).
const MAX_ENTRY_BYTES: u64 = 1 << 30;

pub(super) fn cache(raw: &RawCache, base_dir: &Path, r: &mut Reporter<'_>) -> Option<CacheConfig> {
    let defaults = CacheConfig::default();
    let mut ok = true;
    let mut size =
        |raw: &Option<serde_spanned::Spanned<String>>, name: &str, default: u64, max: u64| {
            let Some(s) = raw else { return default };
            match s
                .get_ref()
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
            {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    r.at(
                        Some(s.span()),
                        format!(
                            "cache.{name} must be a size such as \"64 MiB\", from 1 byte to {}",
                            bytesize::ByteSize(max)
                        ),
                    );
                    ok = false;
                    default
                }
            }
        };
    let max_bytes = size(&raw.max_bytes, "max_bytes", defaults.max_bytes, u64::MAX);
    let max_entry_bytes = size(
        &raw.max_entry_bytes,
        "max_entry_bytes",
        defaults.max_entry_bytes,
        MAX_ENTRY_BYTES,
    );
    // Zero is meaningful for these (no stale serving, no negative cache).
    let mut period =
        |raw: &Option<serde_spanned::Spanned<String>>, name: &str, default: Duration| {
            let Some(s) = raw else { return default };
            match humantime::parse_duration(s.get_ref()) {
                Ok(d) if d <= MAX_CACHE_TTL => d,
                _ => {
                    r.at(
                        Some(s.span()),
                        format!(
                            "cache.{name} must be a duration such as \"30s\" or \"5m\", at most {}",
                            humantime::format_duration(MAX_CACHE_TTL)
                        ),
                    );
                    ok = false;
                    default
                }
            }
        };
    let ttl = period(&raw.ttl, "ttl", defaults.ttl);
    let stale_while_revalidate = period(
        &raw.stale_while_revalidate,
        "stale_while_revalidate",
        defaults.stale_while_revalidate,
    );
    let stale_if_error = period(
        &raw.stale_if_error,
        "stale_if_error",
        defaults.stale_if_error,
    );
    let negative_ttl = period(&raw.negative_ttl, "negative_ttl", defaults.negative_ttl);
    let time_zone = match &raw.time_zone {
        None => defaults.time_zone,
        Some(tz) => tz.get_ref().parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            r.at(
                Some(tz.span()),
                "cache.time_zone must be an IANA time zone such as \"Europe/London\" (the \
                 iCasework account's, where relative timeframes end at midnight)",
            );
            ok = false;
            defaults.time_zone
        }),
    };
    let redis = match &raw.redis {
        Some(table) => {
            let redis = super::shared_cache::redis(table, base_dir, r);
            ok &= redis.is_some();
            redis
        }
        None => None,
    };
    if ok && max_entry_bytes > max_bytes {
        r.at(
            raw.max_entry_bytes.as_ref().map(|s| s.span()),
            "cache.max_entry_bytes must not be larger than cache.max_bytes",
        );
        ok = false;
    }
    ok.then_some(CacheConfig {
        enabled: raw.enabled.unwrap_or(true),
        max_bytes,
        max_entry_bytes,
        ttl,
        stale_while_revalidate,
        stale_if_error,
        negative_ttl,
        time_zone,
        redis,
    })
}
