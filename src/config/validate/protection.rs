//! `[upstream.protection]`: the concurrency cap, global rate, retries and circuit breaker that
//! keep casegate's callers from overwhelming iCasework.

use serde_spanned::Spanned;

use super::super::problem::Reporter;
use super::super::raw::RawProtection;
use super::{count, duration};
use crate::policy::{Rate, RATE_SYNTAX};
use crate::upstream::protect::ProtectionConfig;

pub(super) fn protection(raw: &RawProtection, r: &mut Reporter<'_>) -> Option<ProtectionConfig> {
    let defaults = ProtectionConfig::default();
    let name = |key: &str| format!("upstream.protection.{key}");
    let max_concurrent = count(&raw.max_concurrent, &name("max_concurrent"), 1, 10_000, r)
        .map(|v| v.unwrap_or(defaults.max_concurrent));
    let retries = count(&raw.retries, &name("retries"), 0, 10, r)
        .map(|v| v.map_or(defaults.retries, |n| n as u32));
    let breaker_failures = count(
        &raw.breaker_failures,
        &name("breaker_failures"),
        1,
        10_000,
        r,
    )
    .map(|v| v.map_or(defaults.breaker_failures, |n| n as u32));
    let [queue_timeout, retry_backoff, retry_backoff_max, breaker_open_for] = [
        (&raw.queue_timeout, "queue_timeout", defaults.queue_timeout),
        (&raw.retry_backoff, "retry_backoff", defaults.retry_backoff),
        (
            &raw.retry_backoff_max,
            "retry_backoff_max",
            defaults.retry_backoff_max,
        ),
        (
            &raw.breaker_open_for,
            "breaker_open_for",
            defaults.breaker_open_for,
        ),
    ]
    .map(|(raw, key, default)| duration(raw, &name(key), r).map(|d| d.unwrap_or(default)));
    let rate = match &raw.rate {
        None => Ok(None),
        Some(s) => Rate::parse(s.get_ref()).map(Some).ok_or_else(|| {
            r.at(
                Some(s.span()),
                format!("upstream.protection.rate {RATE_SYNTAX}"),
            )
        }),
    };
    let retry_budget = match &raw.retry_budget {
        None => Ok(defaults.retry_budget),
        Some(v) if (0.0..=1.0).contains(v.get_ref()) => Ok(*v.get_ref() as f32),
        Some(v) => {
            r.at(
                Some(v.span()),
                "upstream.protection.retry_budget must be a share of requests from 0 to 1, \
                 such as 0.1 (retries add at most about 10 % to the load)",
            );
            Err(())
        }
    };
    let (retry_backoff, retry_backoff_max) = (retry_backoff.ok()?, retry_backoff_max.ok()?);
    if retry_backoff > retry_backoff_max {
        r.at(
            raw.retry_backoff
                .as_ref()
                .or(raw.retry_backoff_max.as_ref())
                .map(Spanned::span),
            "upstream.protection.retry_backoff must not exceed retry_backoff_max",
        );
        return None;
    }
    Some(ProtectionConfig {
        max_concurrent: max_concurrent.ok()?,
        queue_timeout: queue_timeout.ok()?,
        rate: rate.ok()?,
        retries: retries.ok()?,
        retry_backoff,
        retry_backoff_max,
        retry_budget: retry_budget.ok()?,
        breaker_failures: breaker_failures.ok()?,
        breaker_open_for: breaker_open_for.ok()?,
    })
}
