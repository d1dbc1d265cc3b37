//! Prometheus metrics: every metric in one typed struct, registered once, served as text on the
//! admin listener (`GET /metrics`). Names have the `casegate_` prefix, base units and `_total`
//! for counters. Labels are bounded sets (actions, formats, stages, cache outcomes): never a
//! subject, a token, a parameter value or anything from a report.

use std::sync::LazyLock;

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Columns withheld from responses, by action (drop, mask, hash), counted once per response.
    pub redacted_columns: IntCounterVec,
    /// Responses whose body could not be redacted with certainty, by format and by when it was
    /// found: `before_first_byte` (a 502) or `streaming` (an aborted transfer).
    pub redaction_failures: IntCounterVec,
    /// Report responses by what the cache did (hit, miss, stale, bypass).
    pub cache_responses: IntCounterVec,
    /// The circuit breaker towards iCasework: 0 closed, 1 half-open, 2 open.
    pub upstream_circuit_state: IntGauge,
    /// Retry decisions for transient iCasework failures, by outcome (retried, budget_exhausted,
    /// attempts_exhausted).
    pub upstream_retries: IntCounterVec,
    /// Requests held back to spare iCasework, by reason (global_rate, concurrency, retry_after,
    /// circuit_open).
    pub upstream_throttled: IntCounterVec,
    /// Requests refused with 429, by scope: caller, report, miss (the quota of requests to
    /// iCasework), capacity (the limiter was full).
    pub rate_limited: IntCounterVec,
    /// Keys (caller, caller and report, ...) the rate limiter holds, as of its last sweep.
    pub rate_limit_keys: IntGauge,
    /// Reloads of the public listener's TLS certificate, by result (success, error).
    pub tls_reloads: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(counter.clone()))
        .unwrap_or_else(|e| panic!("metric {name} is registered twice: {e}"));
    counter
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge =
        IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(gauge.clone()))
        .unwrap_or_else(|e| panic!("metric {name} is registered twice: {e}"));
    gauge
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        Metrics {
            redacted_columns: counter(
                &registry,
                "casegate_redacted_columns_total",
                "Columns withheld from report responses, by action, counted once per response.",
                &["action"],
            ),
            redaction_failures: counter(
                &registry,
                "casegate_redaction_failures_total",
                "Report bodies that could not be redacted with certainty (fail closed), by format \
                 and stage: before_first_byte (answered 502) or streaming (transfer aborted).",
                &["format", "stage"],
            ),
            cache_responses: counter(
                &registry,
                "casegate_cache_responses_total",
                "Report responses by cache outcome (hit, miss, stale, bypass).",
                &["outcome"],
            ),
            upstream_circuit_state: gauge(
                &registry,
                "casegate_upstream_circuit_state",
                "The circuit breaker towards iCasework: 0 closed, 1 half-open (one probe), 2 open \
                 (requests fail fast).",
            ),
            upstream_retries: counter(
                &registry,
                "casegate_upstream_retries_total",
                "Retry decisions after transient iCasework failures, by outcome: retried, \
                 budget_exhausted (the retry budget was spent), attempts_exhausted.",
                &["outcome"],
            ),
            upstream_throttled: counter(
                &registry,
                "casegate_upstream_throttled_total",
                "Requests to iCasework held back (answered 503 or served stale), by reason: \
                 global_rate, concurrency, retry_after (iCasework asked for a pause), circuit_open.",
                &["reason"],
            ),
            rate_limited: counter(
                &registry,
                "casegate_rate_limited_total",
                "Requests refused with 429, by scope: caller (the caller's quota), report (its \
                 quota for one report), miss (its quota of requests to iCasework), capacity (the \
                 limiter held limits.max_keys keys).",
                &["scope"],
            ),
            rate_limit_keys: gauge(
                &registry,
                "casegate_rate_limit_keys",
                "Keys the rate limiter holds (caller, caller and report, ...), as of its last \
                 sweep of idle keys.",
            ),
            tls_reloads: counter(
                &registry,
                "casegate_tls_reloads_total",
                "Reloads of the public listener's TLS certificate and key after their files \
                 changed, by result: success (the new pair serves new connections) or error (the \
                 previous pair stays in use).",
                &["result"],
            ),
            registry,
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on metrics the registry refused to register.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_help_and_labels() {
        let m = Metrics::new();
        m.redacted_columns.with_label_values(&["drop"]).inc_by(3);
        m.redaction_failures
            .with_label_values(&["csv", "streaming"])
            .inc();
        let text = m.render();
        assert!(text.contains("# HELP casegate_redacted_columns_total"));
        assert!(text.contains("# TYPE casegate_redacted_columns_total counter"));
        assert!(text.contains("casegate_redacted_columns_total{action=\"drop\"} 3"));
        assert!(text
            .contains("casegate_redaction_failures_total{format=\"csv\",stage=\"streaming\"} 1"));
    }
}
