//! Prometheus metrics: every metric in one typed struct, registered once, served as text on the
//! admin listener (`GET /metrics`). Names have the `casegate_` prefix, base units and `_total`
//! for counters. Labels are bounded sets (routes, status classes, outcomes, reasons, and the
//! ReportIds the policy names): never a subject, a token, a parameter value or anything from a
//! report. README's "Metrics" section is the table the alert rules and dashboard rely on.
//!
//! Label values known in advance are created at start, so every series exists (at 0) before
//! its first event and `rate()` and alerts see it. The public request counters, whose report
//! label depends on the policy, are resolved once per label set by [`requests::RequestSeries`]
//! and then incremented through a held handle: no label hashing or allocation per request.

pub mod requests;

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Outcomes of a request to iCasework GetReport (`casegate_upstream_requests_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// A 2xx head and a body read to its end (or left by a caller who hung up).
    Success,
    /// A status iCasework gives without its error code: 429, 5xx, anything unexpected.
    HttpError,
    /// iCasework's own refusal (400, 401, 403 with `X-Application-Error-Code`).
    IcaseworkError,
    /// No response head within the connect, first-byte or total timeout.
    Timeout,
    /// The connection could not be made, or broke before the response head.
    ConnectError,
    /// A 2xx head whose body then failed: reset, too large, or past the total timeout.
    BodyError,
}

impl UpstreamOutcome {
    pub const ALL: [UpstreamOutcome; 6] = [
        UpstreamOutcome::Success,
        UpstreamOutcome::HttpError,
        UpstreamOutcome::IcaseworkError,
        UpstreamOutcome::Timeout,
        UpstreamOutcome::ConnectError,
        UpstreamOutcome::BodyError,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UpstreamOutcome::Success => "success",
            UpstreamOutcome::HttpError => "http_error",
            UpstreamOutcome::IcaseworkError => "icasework_error",
            UpstreamOutcome::Timeout => "timeout",
            UpstreamOutcome::ConnectError => "connect_error",
            UpstreamOutcome::BodyError => "body_error",
        }
    }
}

/// `casegate_auth_failures_total` reasons (see `AuthError::metric_reason`).
pub const AUTH_FAILURE_REASONS: [&str; 11] = [
    "missing",
    "malformed",
    "algorithm",
    "unknown_issuer",
    "unknown_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "claims",
    "key_fetch",
];

/// `casegate_policy_denials_total` reasons.
pub const POLICY_DENIAL_REASONS: [&str; 4] = ["no_grant", "format", "parameter", "column"];

/// Seconds to a public response head: 0.5 ms (a cache hit) to a minute (a slow report).
const REQUEST_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Seconds to iCasework's response head: reports take from milliseconds to minutes.
const UPSTREAM_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Public requests by route, status class, report and cache status; incremented through
    /// [`requests::RequestSeries`].
    pub requests: IntCounterVec,
    /// Time to the response head by route and status class.
    pub request_duration: HistogramVec,
    /// Public requests being served (until their body has ended or been dropped).
    pub requests_in_flight: IntGauge,
    /// Requests to iCasework GetReport by outcome; see [`Metrics::upstream_request`].
    upstream_requests: [IntCounter; 6],
    upstream_duration: [prometheus::Histogram; 6],
    /// Body bytes read from iCasework, as received (compressed when iCasework compressed).
    pub upstream_response_bytes: IntCounter,
    /// Columns withheld from responses, by action (drop, mask, hash), counted once per response.
    pub redacted_columns: IntCounterVec,
    /// Responses whose body could not be redacted with certainty, by format and by when it was
    /// found: `refused` (before the first byte: a 502) or `aborted` (an aborted transfer).
    pub redaction_failures: IntCounterVec,
    /// Report responses by what the cache did: hit, miss, stale, bypass (in that order).
    pub cache_responses: [IntCounter; 4],
    /// Entries leaving the local cache, by cause (expired, size, explicit, replaced).
    pub cache_evictions: IntCounterVec,
    /// Entries in the local cache, as of the last scrape.
    pub cache_entries: IntGauge,
    /// Weighted bytes in the local cache, as of the last scrape.
    pub cache_bytes: IntGauge,
    /// Misses that waited for a fill another request started.
    pub cache_coalesced_waits: IntCounter,
    /// 1 while the shared (Redis) tier answers, 0 while degraded; 0 when not configured.
    pub shared_cache_up: IntGauge,
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
    /// Refused tokens, by reason ([`AUTH_FAILURE_REASONS`]).
    pub auth_failures: IntCounterVec,
    /// 403s from the policy, by reason ([`POLICY_DENIAL_REASONS`]).
    pub policy_denials: IntCounterVec,
    /// Policy file (re)loads by result (success, failure).
    pub policy_reloads: IntCounterVec,
    /// Unix time of the last successful policy load or reload.
    pub policy_last_reload_success: IntGauge,
    /// casegate's iCasework credential (access token) requests by result (success, failure).
    pub credential_refreshes: IntCounterVec,
    /// Audit events that could not be written (the file failed, or its queue was full).
    pub audit_write_failures: IntCounter,
    /// Reloads of the public listener's TLS certificate, by result (success, error).
    pub tls_reloads: IntCounterVec,
    /// Quota checks (callers' and the global rate to iCasework) answered by this replica's
    /// local share because Redis failed, timed out or was marked unreachable.
    pub rate_limit_backend_fallbacks: IntCounter,
    /// 1 when quotas are shared through Redis and Redis answers; 0 on the local fallback or
    /// when `[limits.redis]` is not configured.
    pub rate_limit_shared: IntGauge,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("a metric is registered twice: {e}"));
    c
}

/// A counter with `labels`, each value of `initial` (for the first label) created at 0.
fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    initial: &[&str],
) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    if labels.len() == 1 {
        for value in initial {
            counter.with_label_values(&[value]);
        }
    }
    register(registry, counter)
}

fn plain_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, c)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge =
        IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    register(registry, gauge)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let h = HistogramVec::new(opts, labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, h)
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let build_info = IntGaugeVec::new(
            Opts::new("casegate_build_info", "casegate's version; always 1."),
            &["version"],
        )
        .unwrap_or_else(|e| panic!("casegate_build_info: {e}"));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        register(&r, build_info);
        let upstream_requests = counter(
            &r,
            "casegate_upstream_requests_total",
            "Requests to iCasework GetReport, by outcome: success, http_error (429, 5xx, other \
             statuses), icasework_error (400/401/403 refusals), timeout (before the response \
             head), connect_error, body_error (the body failed after a 2xx head).",
            &["outcome"],
            &[],
        );
        let upstream_duration = histogram(
            &r,
            "casegate_upstream_request_duration_seconds",
            "Time from sending a request to iCasework to its response head (or the failure \
             before it), by outcome.",
            &["outcome"],
            &UPSTREAM_BUCKETS,
        );
        let cache_responses = counter(
            &r,
            "casegate_cache_responses_total",
            "Report responses by cache outcome (hit, miss, stale, bypass).",
            &["outcome"],
            &[],
        );
        Metrics {
            requests: counter(
                &r,
                "casegate_requests_total",
                "Public requests by route (getreport, reports, other), status class, report (a \
                 ReportId the policy names, other, or none without a valid ReportId) and cache \
                 status (hit, miss, stale, bypass, none), counted when the response head is sent.",
                &["route", "status_class", "report", "cache"],
                &[],
            ),
            request_duration: histogram(
                &r,
                "casegate_request_duration_seconds",
                "Time from receiving a public request to its response head, by route and status \
                 class.",
                &["route", "status_class"],
                &REQUEST_BUCKETS,
            ),
            requests_in_flight: gauge(
                &r,
                "casegate_requests_in_flight",
                "Public requests being served, until their response body has ended.",
            ),
            upstream_requests: UpstreamOutcome::ALL
                .map(|o| upstream_requests.with_label_values(&[o.label()])),
            upstream_duration: UpstreamOutcome::ALL
                .map(|o| upstream_duration.with_label_values(&[o.label()])),
            upstream_response_bytes: plain_counter(
                &r,
                "casegate_upstream_response_bytes_total",
                "Body bytes read from iCasework, as received (compressed when it compressed).",
            ),
            redacted_columns: counter(
                &r,
                "casegate_redacted_columns_total",
                "Columns withheld from report responses, by action, counted once per response.",
                &["action"],
                &["drop", "mask", "hash"],
            ),
            redaction_failures: counter(
                &r,
                "casegate_redaction_failures_total",
                "Report bodies that could not be redacted with certainty (fail closed), by format \
                 and stage: refused (before the first byte: answered 502) or aborted (the \
                 transfer was cut off).",
                &["format", "stage"],
                &[],
            ),
            cache_responses: ["hit", "miss", "stale", "bypass"]
                .map(|o| cache_responses.with_label_values(&[o])),
            cache_evictions: counter(
                &r,
                "casegate_cache_evictions_total",
                "Entries leaving the local response cache, by cause: expired (no longer \
                 servable), size (to stay within cache.max_bytes), explicit (purged), replaced \
                 (a newer answer for the same key).",
                &["cause"],
                &["expired", "size", "explicit", "replaced"],
            ),
            cache_entries: gauge(
                &r,
                "casegate_cache_entries",
                "Entries in the local response cache, as of this scrape.",
            ),
            cache_bytes: gauge(
                &r,
                "casegate_cache_bytes",
                "Weighted bytes in the local response cache (both encodings of each body), as \
                 of this scrape.",
            ),
            cache_coalesced_waits: plain_counter(
                &r,
                "casegate_cache_coalesced_waits_total",
                "Cache misses that waited for a fill another request had started instead of \
                 asking iCasework themselves.",
            ),
            shared_cache_up: gauge(
                &r,
                "casegate_shared_cache_up",
                "1 while the shared (Redis) cache tier answers, 0 while it is degraded or not \
                 configured.",
            ),
            upstream_circuit_state: gauge(
                &r,
                "casegate_upstream_circuit_state",
                "The circuit breaker towards iCasework: 0 closed, 1 half-open (one probe), 2 open \
                 (requests fail fast).",
            ),
            upstream_retries: counter(
                &r,
                "casegate_upstream_retries_total",
                "Retry decisions after transient iCasework failures, by outcome: retried, \
                 budget_exhausted (the retry budget was spent), attempts_exhausted.",
                &["outcome"],
                &["retried", "budget_exhausted", "attempts_exhausted"],
            ),
            upstream_throttled: counter(
                &r,
                "casegate_upstream_throttled_total",
                "Requests to iCasework held back (answered 503 or served stale), by reason: \
                 global_rate, concurrency, retry_after (iCasework asked for a pause), circuit_open.",
                &["reason"],
                &["global_rate", "concurrency", "retry_after", "circuit_open"],
            ),
            rate_limited: counter(
                &r,
                "casegate_rate_limited_total",
                "Requests refused with 429, by scope: caller (the caller's quota), report (its \
                 quota for one report), miss (its quota of requests to iCasework), capacity (the \
                 limiter held limits.max_keys keys).",
                &["scope"],
                &["caller", "report", "miss", "capacity"],
            ),
            rate_limit_keys: gauge(
                &r,
                "casegate_rate_limit_keys",
                "Keys the rate limiter holds (caller, caller and report, ...), as of its last \
                 sweep of idle keys.",
            ),
            auth_failures: counter(
                &r,
                "casegate_auth_failures_total",
                "Refused caller tokens (401; key_fetch: 503, the issuer's keys could not be \
                 loaded), by reason.",
                &["reason"],
                &AUTH_FAILURE_REASONS,
            ),
            policy_denials: counter(
                &r,
                "casegate_policy_denials_total",
                "Requests the policy refused (403), by reason: no_grant, format, parameter \
                 (forbidden or pinned), column (CSVFields names a withheld column).",
                &["reason"],
                &POLICY_DENIAL_REASONS,
            ),
            policy_reloads: counter(
                &r,
                "casegate_policy_reloads_total",
                "Policy file reloads (SIGHUP or a change to the file), by result: success (a new \
                 policy is in force), failure (the previous policy stays).",
                &["result"],
                &["success", "failure"],
            ),
            policy_last_reload_success: gauge(
                &r,
                "casegate_policy_last_reload_success_timestamp_seconds",
                "Unix time of the last successful load or reload of the policy file.",
            ),
            credential_refreshes: counter(
                &r,
                "casegate_credential_refreshes_total",
                "Requests for casegate's own iCasework access token, by result (success, \
                 failure).",
                &["result"],
                &["success", "failure"],
            ),
            audit_write_failures: plain_counter(
                &r,
                "casegate_audit_write_failures_total",
                "Audit events that could not be written to audit.file (write errors, or events \
                 dropped while the writer was behind).",
            ),
            tls_reloads: counter(
                &r,
                "casegate_tls_reloads_total",
                "Reloads of the public listener's TLS certificate and key after their files \
                 changed, by result: success (the new pair serves new connections) or error (the \
                 previous pair stays in use).",
                &["result"],
                &["success", "error"],
            ),
            rate_limit_backend_fallbacks: plain_counter(
                &r,
                "casegate_rate_limit_backend_fallbacks_total",
                "Quota checks answered by this replica's local share of the quota because Redis \
                 ([limits.redis]) failed, timed out or was unreachable.",
            ),
            rate_limit_shared: gauge(
                &r,
                "casegate_rate_limit_shared",
                "1 when quotas are shared through Redis and Redis answers; 0 on the local \
                 fallback or when [limits.redis] is not configured.",
            ),
            registry: r,
        }
    }

    /// Counts one request to iCasework and how long it took to its response head.
    pub fn upstream_request(&self, outcome: UpstreamOutcome, to_head: std::time::Duration) {
        let i = outcome as usize;
        self.upstream_requests[i].inc();
        self.upstream_duration[i].observe(to_head.as_secs_f64());
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
            .with_label_values(&["csv", "aborted"])
            .inc();
        m.upstream_request(
            UpstreamOutcome::Timeout,
            std::time::Duration::from_millis(30),
        );
        let text = m.render();
        assert!(text.contains("# HELP casegate_redacted_columns_total"));
        assert!(text.contains("# TYPE casegate_redacted_columns_total counter"));
        assert!(text.contains("casegate_redacted_columns_total{action=\"drop\"} 3"));
        assert!(text.contains("casegate_redacted_columns_total{action=\"hash\"} 0"));
        assert!(
            text.contains("casegate_redaction_failures_total{format=\"csv\",stage=\"aborted\"} 1")
        );
        assert!(text.contains("casegate_upstream_requests_total{outcome=\"timeout\"} 1"));
        assert!(text.contains("casegate_upstream_requests_total{outcome=\"success\"} 0"));
        assert!(text.contains(
            "casegate_upstream_request_duration_seconds_bucket{outcome=\"timeout\",le=\"0.05\"} 1"
        ));
        assert!(text.contains(&format!(
            "casegate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        // Every metric has help text.
        for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
            assert!(line.split_whitespace().count() > 3, "{line}");
        }
    }
}
