//! `[audit]`: whether requests are audited, where to, and the key of the parameter hashes.

use std::path::Path;

use secrecy::ExposeSecret;

use super::super::problem::Reporter;
use super::super::raw::RawAudit;
use crate::audit::AuditConfig;

/// Shortest hash key accepted: SHA-256's output size, as for the policy's hashing key.
const MIN_KEY_BYTES: usize = 32;

pub(super) fn audit(raw: &RawAudit, base_dir: &Path, r: &mut Reporter<'_>) -> Option<AuditConfig> {
    let file = match &raw.file {
        Some(f) if f.get_ref().trim().is_empty() => {
            r.at(
                Some(f.span()),
                "audit.file must name a file, e.g. \"/var/log/casegate/audit.jsonl\" (leave it out to audit to stdout)",
            );
            return None;
        }
        Some(f) => Some(base_dir.join(f.get_ref())),
        None => None,
    };
    let hash_key = match &raw.hash_key {
        None => None,
        Some(s) => match crate::config::secret::resolve(s.get_ref(), base_dir) {
            Ok(key) if key.expose_secret().len() < MIN_KEY_BYTES => {
                r.at(
                    Some(s.span()),
                    format!("audit.hash_key must be at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -base64 32`)"),
                );
                return None;
            }
            Ok(key) => Some(key),
            Err(e) => {
                r.at(Some(s.span()), format!("audit.hash_key: {e}"));
                return None;
            }
        },
    };
    Some(AuditConfig {
        enabled: raw.enabled.unwrap_or(true),
        file,
        hash_key,
    })
}
