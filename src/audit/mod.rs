//! The audit log: one event per public request, on its own stream (the tracing target
//! [`TARGET`], which `casegate serve` writes to stdout or to `audit.file`).
//!
//! An event names who asked (issuer, subject, grant), for what (ReportId, format, parameter
//! names), what was decided and why, what the cache did, which columns were withheld, and how
//! it ended (status, bytes, duration). It never holds a response value, a token or a secret;
//! the values of `Keywords` and `AttributeFilter*`, which may name people, appear only as keyed
//! hashes ([`Auditor::hash`]), so an auditor can tell two searches for the same term apart from
//! two different ones without learning the term.
//!
//! The event is built only when the target is enabled (`audit.enabled` and a subscriber that
//! takes it), so a gateway without an audit stream pays nothing for it.

mod layer;
pub use self::layer::AuditLayer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use ring::rand::SecureRandom;
use secrecy::ExposeSecret;

use crate::config::SecretString;
use crate::policy::HashKey;

/// The tracing target of audit events.
pub const TARGET: &str = "audit";

/// Hex characters of each keyed hash: 64 bits, enough to tell values apart in an audit trail.
const HASH_LENGTH: usize = 16;

/// `[audit]` in the configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Off: no audit events at all.
    pub enabled: bool,
    /// JSON lines appended to this file instead of stdout.
    pub file: Option<PathBuf>,
    /// The key of the parameter hashes; a random one per process when `None`.
    pub hash_key: Option<SecretString>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            file: None,
            hash_key: None,
        }
    }
}

/// Decides whether a request is audited and hashes the values the audit may not show.
#[derive(Debug)]
pub struct Auditor {
    enabled: bool,
    key: HashKey,
}

impl Auditor {
    pub fn new(config: &AuditConfig) -> Auditor {
        let key = match &config.hash_key {
            Some(secret) => HashKey::new(secret.expose_secret().as_bytes(), HASH_LENGTH),
            None => {
                // Hashes then match only within this process's lifetime: still no value leaks.
                let mut random = [0u8; 32];
                let _ = ring::rand::SystemRandom::new().fill(&mut random);
                if config.enabled {
                    tracing::warn!(
                        "audit.hash_key is not set: parameter hashes in the audit log are \
                         comparable only within this process's lifetime"
                    );
                }
                HashKey::new(&random, HASH_LENGTH)
            }
        };
        Auditor {
            enabled: config.enabled,
            key,
        }
    }

    /// Whether the request starting now is audited. Cheap: tracing caches the answer per
    /// call site.
    pub fn on(&self) -> bool {
        self.enabled && tracing::enabled!(target: TARGET, tracing::Level::INFO)
    }

    /// The keyed hash of a parameter value.
    pub fn hash(&self, value: &str) -> String {
        self.key.pseudonym(value)
    }
}

/// False while the audit file's last write failed; readiness reports it.
static WRITES_OK: AtomicBool = AtomicBool::new(true);

/// Whether the last write to the audit file succeeded (true without a file).
pub fn writes_ok() -> bool {
    WRITES_OK.load(Ordering::Relaxed)
}

/// The audit file as the log writer sees it: a failed write is counted, logged and reported
/// by readiness, and the gateway keeps serving (see README, "Audit log").
#[derive(Debug)]
pub struct AuditFile {
    file: std::fs::File,
    path: PathBuf,
}

impl AuditFile {
    /// Opens (creating if needed) `path` for appending; mode 0600, since it names callers.
    pub fn open(path: PathBuf) -> std::io::Result<AuditFile> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        Ok(AuditFile { file, path })
    }
}

impl std::io::Write for AuditFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file.write_all(buf) {
            Ok(()) => {
                WRITES_OK.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            Err(e) => {
                crate::metrics::metrics().audit_write_failures.inc();
                // Only the first failure of a run is logged: a full disk fails every event.
                if WRITES_OK.swap(false, Ordering::Relaxed) {
                    tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log; requests are still served");
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_stable() {
        let config = |key: &str| AuditConfig {
            hash_key: Some(SecretString::from(key.to_owned())),
            ..AuditConfig::default()
        };
        let a = Auditor::new(&config("an-audit-key-of-at-least-32-bytes!!"));
        let b = Auditor::new(&config("another-audit-key-of-32-bytes-or-more"));
        assert_eq!(a.hash("Bloggs"), a.hash("Bloggs"));
        assert_ne!(a.hash("Bloggs"), b.hash("Bloggs"));
        assert_eq!(a.hash("Bloggs").len(), HASH_LENGTH);
        assert!(!a.hash("Bloggs").contains("Bloggs"));
    }
}
