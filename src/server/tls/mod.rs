//! The public listener's TLS (`[server.tls]`): rustls with the certificate and key from PEM
//! files, reloaded when they change without dropping a connection.

mod pair;
mod store;

use std::sync::Arc;
use std::time::Duration;

pub use self::pair::PairError;
pub use self::store::{CertStore, Reloaded};

/// How often the files are read even without a change event (network filesystems send none;
/// reading two small files a minute costs nothing).
const POLL: Duration = Duration::from_secs(60);

/// A TLS acceptor that asks `store` for the certificate at every handshake, offering HTTP/2
/// and HTTP/1.1 by ALPN.
pub(crate) fn acceptor(store: Arc<CertStore>) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // The ring provider supports TLS 1.2 and 1.3; nothing here depends on the input.
        .expect("the ring provider supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Reloads `store` on SIGHUP, when a folder of its files changes, and every minute, until the
/// guard is dropped.
pub(crate) fn watch(store: Arc<CertStore>) -> std::io::Result<crate::config::watch::WatchGuard> {
    let watch = crate::config::watch::Watch {
        what: "TLS certificate",
        files: vec![
            store.cert_file().to_path_buf(),
            store.key_file().to_path_buf(),
        ],
        poll: Some(POLL),
    };
    crate::config::watch::spawn(&watch, move || {
        let _ = store.reload();
    })
}
