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
//! The event is built only when there is somewhere to write it (`audit.enabled` and an output,
//! which `casegate serve` sets with [`set_output`]), so a gateway without an audit stream pays
//! nothing for it.

mod event;
pub use self::event::{Escaped, Record};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use ring::rand::SecureRandom;
use secrecy::ExposeSecret;

use crate::config::SecretString;
use crate::log_writer::LineWriter;
use crate::policy::HashKey;

/// The `target` of audit lines, as a tracing event's would be: it tells them apart from the
/// log's when both go to stdout.
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

/// The process's audit output, set once at start-up.
static OUTPUT: OnceLock<LineWriter> = OnceLock::new();

/// Where the audit events of every [`Auditor`] made from now on go (the first call wins: a
/// process has one audit stream).
pub fn set_output(out: LineWriter) {
    let _ = OUTPUT.set(out);
}

/// Decides whether a request is audited, hashes the values the audit may not show, and writes
/// the events.
#[derive(Debug)]
pub struct Auditor {
    /// `None` when audit is off or has no output.
    output: Option<LineWriter>,
    key: HashKey,
}

impl Auditor {
    /// An auditor writing to the output of [`set_output`], if any.
    pub fn new(config: &AuditConfig) -> Auditor {
        Auditor::with_output(config, OUTPUT.get().cloned())
    }

    /// An auditor writing to `output`.
    pub fn with_output(config: &AuditConfig, output: Option<LineWriter>) -> Auditor {
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
            output: output.filter(|_| config.enabled),
            key,
        }
    }

    /// Whether requests are audited.
    pub fn on(&self) -> bool {
        self.output.is_some()
    }

    /// Writes `record` as one line.
    pub fn write(&self, record: &Record<'_>) {
        if let Some(output) = &self.output {
            event::with_line(record, |line| output.append(line));
        }
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
                // A batch of whole lines is written at once: each is an event lost (a torn
                // last line included).
                let events = buf.iter().filter(|&&b| b == b'\n').count().max(1);
                crate::metrics::metrics()
                    .audit_write_failures
                    .inc_by(events as u64);
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
