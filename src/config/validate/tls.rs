//! `[server.tls]`: both files required; the pair is read and checked now, so a configuration
//! whose certificate cannot be served never starts (and `casegate check` says why).

use std::path::Path;
use std::sync::Arc;

use serde_spanned::Spanned;

use crate::config::problem::Reporter;
use crate::config::raw::RawTls;
use crate::server::tls::CertStore;

pub(super) fn tls(
    raw: &Spanned<RawTls>,
    base_dir: &Path,
    r: &mut Reporter<'_>,
) -> Option<Arc<CertStore>> {
    let t = raw.get_ref();
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        r.at(
            Some(raw.span()),
            "[server.tls] needs both cert_file (PEM certificate chain, leaf first) and key_file (PEM private key)",
        );
        return None;
    };
    match CertStore::load(&base_dir.join(cert.get_ref()), &base_dir.join(key.get_ref())) {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => {
            // Point at the file the problem is in.
            let span = match &e {
                crate::server::tls::PairError::ReadKey { .. }
                | crate::server::tls::PairError::NoKey { .. }
                | crate::server::tls::PairError::UnsupportedKey { .. }
                | crate::server::tls::PairError::Mismatch { .. } => key.span(),
                _ => cert.span(),
            };
            r.at(Some(span), format!("server.tls: {e}"));
            None
        }
    }
}
