//! The certificate in force, and its reload: both files are read and checked together, then the
//! new pair is swapped in atomically. Connections already open keep the certificate they
//! shook hands with; a bad pair leaves the old one serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::pair::{Files, PairError};

/// The public listener's certificate and key, swapped whole on reload.
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The files as last read, good or bad: an unchanged pair is neither reloaded nor counted
    /// again, so a bad pair is logged once, not on every event in its folder.
    last_read: Mutex<Files>,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    Swapped,
    Unchanged,
}

impl CertStore {
    /// Reads and checks the pair.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, PairError> {
        let files = Files::read(cert_file, key_file)?;
        let certified = files.parse(cert_file, key_file)?;
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: ArcSwap::new(certified),
            last_read: Mutex::new(files),
        })
    }

    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The pair served to new connections now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// Reads both files and swaps the pair in if they changed and are good. A bad pair leaves
    /// the old one serving; it is logged (file names and the reason, never key material) and
    /// counted in `casegate_tls_reloads_total{result="error"}`.
    pub fn reload(&self) -> Result<Reloaded, PairError> {
        let result = self.try_reload();
        let metric = &crate::metrics::metrics().tls_reloads;
        match &result {
            Ok(Reloaded::Swapped) => {
                metric.with_label_values(&["success"]).inc();
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
            }
            Ok(Reloaded::Unchanged) => {}
            Err(e) => {
                metric.with_label_values(&["error"]).inc();
                tracing::error!(error = %e, "TLS certificate reload refused; the previous certificate stays in use");
            }
        }
        result
    }

    fn try_reload(&self) -> Result<Reloaded, PairError> {
        // Unreadable files (a rename in progress, say) are not remembered: the next event
        // or poll tries again.
        let files = Files::read(&self.cert_file, &self.key_file)?;
        let mut last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
        if *last == files {
            return Ok(Reloaded::Unchanged);
        }
        let parsed = files.parse(&self.cert_file, &self.key_file);
        *last = files;
        self.current.store(parsed?);
        Ok(Reloaded::Swapped)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

// By hand: the key must never reach a log through `{:?}`.
impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}
