//! The configuration file as written: serde structs that accept exactly the documented keys.
//!
//! Values that need checking keep their place in the file (`Spanned`) so that every problem can
//! be reported with its line. Turning these into runtime types is `validate`'s job.

use serde::Deserialize;
use serde_spanned::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// The policy file (grants), relative to this file's folder.
    pub(crate) policy: Option<S<String>>,
    #[serde(default)]
    pub(crate) server: RawServer,
    pub(crate) upstream: Option<S<RawUpstream>>,
    /// Callers' identity providers; required (the validation says so).
    pub(crate) auth: Option<crate::auth::config::RawAuth>,
    #[serde(default)]
    pub(crate) logging: RawLogging,
    #[serde(default)]
    pub(crate) cache: RawCache,
    #[serde(default)]
    pub(crate) admin: RawAdmin,
    #[serde(default)]
    pub(crate) limits: RawLimits,
}

/// `[limits]`: callers' quotas where a grant sets none, and the limiter's memory bound.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) rate: Option<S<String>>,
    pub(crate) burst: Option<S<i64>>,
    pub(crate) report_rate: Option<S<String>>,
    pub(crate) report_burst: Option<S<i64>>,
    pub(crate) miss_rate: Option<S<String>>,
    pub(crate) miss_burst: Option<S<i64>>,
    pub(crate) max_keys: Option<S<i64>>,
    pub(crate) sweep_interval: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<S<String>>,
    pub(crate) token: Option<S<RawSecret>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub(crate) enabled: Option<bool>,
    pub(crate) max_bytes: Option<S<String>>,
    pub(crate) max_entry_bytes: Option<S<String>>,
    pub(crate) ttl: Option<S<String>>,
    pub(crate) stale_while_revalidate: Option<S<String>>,
    pub(crate) stale_if_error: Option<S<String>>,
    pub(crate) negative_ttl: Option<S<String>>,
    pub(crate) time_zone: Option<S<String>>,
    /// The optional shared tier.
    pub(crate) redis: Option<S<RawRedis>>,
}

/// `[cache.redis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedis {
    pub(crate) url: Option<S<String>>,
    pub(crate) password: Option<S<RawSecret>>,
    pub(crate) namespace: Option<S<String>>,
    pub(crate) keys: Option<S<Vec<S<RawEncryptionKey>>>>,
    pub(crate) operation_timeout: Option<S<String>>,
    pub(crate) lock_ttl: Option<S<String>>,
    pub(crate) wait_for_lock: Option<S<String>>,
}

/// One of `cache.redis.keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEncryptionKey {
    pub(crate) id: Option<S<String>>,
    pub(crate) secret: Option<S<RawSecret>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<S<String>>,
    pub(crate) max_query_bytes: Option<S<i64>>,
    pub(crate) max_value_bytes: Option<S<i64>>,
    pub(crate) header_read_timeout: Option<S<String>>,
    pub(crate) shutdown_grace: Option<S<String>>,
    pub(crate) tls: Option<S<RawTls>>,
}

/// `[server.tls]`: the public listener's certificate and key (PEM files).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) cert_file: Option<S<String>>,
    pub(crate) key_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub(crate) environment: Option<S<String>>,
    pub(crate) account: Option<S<String>>,
    pub(crate) base_url: Option<S<String>>,
    pub(crate) token_url: Option<S<String>>,
    pub(crate) connect_timeout: Option<S<String>>,
    pub(crate) first_byte_timeout: Option<S<String>>,
    pub(crate) total_timeout: Option<S<String>>,
    pub(crate) max_response_bytes: Option<S<String>>,
    pub(crate) pool_idle_timeout: Option<S<String>>,
    pub(crate) pool_max_idle_per_host: Option<S<i64>>,
    pub(crate) ca_file: Option<S<String>>,
    pub(crate) resolve: Option<S<std::collections::BTreeMap<String, S<String>>>>,
    pub(crate) credential: Option<S<RawCredential>>,
    #[serde(default)]
    pub(crate) protection: RawProtection,
}

/// `[upstream.protection]`: how casegate spares iCasework.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProtection {
    pub(crate) max_concurrent: Option<S<i64>>,
    pub(crate) queue_timeout: Option<S<String>>,
    pub(crate) rate: Option<S<String>>,
    pub(crate) retries: Option<S<i64>>,
    pub(crate) retry_backoff: Option<S<String>>,
    pub(crate) retry_backoff_max: Option<S<String>>,
    pub(crate) retry_budget: Option<S<f64>>,
    pub(crate) breaker_failures: Option<S<i64>>,
    pub(crate) breaker_open_for: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCredential {
    pub(crate) scheme: Option<S<String>>,
    pub(crate) api_key: Option<S<RawSecret>>,
    pub(crate) secret_key: Option<S<RawSecret>>,
    // OAuth 2.0 JWT-bearer
    pub(crate) refresh_margin: Option<S<String>>,
    pub(crate) token_timeout: Option<S<String>>,
    pub(crate) failure_backoff: Option<S<String>>,
    // Key + Signature
    pub(crate) signed_parameter: Option<S<String>>,
    pub(crate) time_zone: Option<S<String>>,
}

/// Where a secret comes from: exactly one of an environment variable or a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    pub(crate) env: Option<String>,
    pub(crate) file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogging {
    pub(crate) format: Option<S<String>>,
    pub(crate) level: Option<S<String>>,
}
