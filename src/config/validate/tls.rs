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
    match CertStore::load(
        &base_dir.join(cert.get_ref()),
        &base_dir.join(key.get_ref()),
    ) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{Dir, VALID};

    fn with_tls(dir: &Dir, table: &str, files: &[(&str, &str)]) -> String {
        for (name, content) in files {
            std::fs::write(dir.path().with_file_name(name), content).unwrap();
        }
        VALID.replace(
            "listen = \"127.0.0.1:0\"\n",
            &format!("listen = \"127.0.0.1:0\"\n\n[server.tls]\n{table}\n"),
        )
    }

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_good_pair_is_loaded_and_plain_http_is_the_default() {
        let dir = Dir::new();
        assert!(dir.parse(VALID).unwrap().server.tls.is_none());
        let (cert, key) = pair("gateway.test");
        let text = with_tls(
            &dir,
            "cert_file = \"tls/../cert.pem\"\nkey_file = \"key.pem\"",
            &[("cert.pem", &cert), ("key.pem", &key)],
        );
        std::fs::create_dir(dir.path().with_file_name("tls")).unwrap();
        let config = dir.parse(&text).unwrap();
        let store = config.server.tls.unwrap();
        assert_eq!(store.key_file(), dir.path().with_file_name("key.pem"));
        assert!(!format!("{store:?}").contains("PRIVATE"));
    }

    #[test]
    fn problems_name_the_key_and_its_line() {
        let dir = Dir::new();
        let (cert, key) = pair("a.test");
        let (_, other_key) = pair("b.test");
        let files = [
            ("cert.pem", cert.as_str()),
            ("key.pem", key.as_str()),
            ("other-key.pem", other_key.as_str()),
        ];

        let text = with_tls(&dir, "cert_file = \"cert.pem\"", &files);
        let problems = dir.parse(&text).unwrap_err().to_string();
        assert!(
            problems.contains(":5:1: [server.tls] needs both cert_file"),
            "{problems}"
        );

        let text = with_tls(
            &dir,
            "cert_file = \"missing.pem\"\nkey_file = \"key.pem\"",
            &files,
        );
        let problems = dir.parse(&text).unwrap_err().to_string();
        assert!(
            problems.contains(":6:13: server.tls: cannot read the certificate file"),
            "{problems}"
        );
        assert!(problems.contains("missing.pem"), "{problems}");

        let text = with_tls(
            &dir,
            "cert_file = \"key.pem\"\nkey_file = \"key.pem\"",
            &files,
        );
        let problems = dir.parse(&text).unwrap_err().to_string();
        assert!(
            problems.contains(":6:13: server.tls: the certificate file"),
            "{problems}"
        );
        assert!(problems.contains("holds no PEM certificate"), "{problems}");

        let text = with_tls(
            &dir,
            "cert_file = \"cert.pem\"\nkey_file = \"other-key.pem\"",
            &files,
        );
        let problems = dir.parse(&text).unwrap_err().to_string();
        assert!(
            problems.contains(":7:12: server.tls: the private key in"),
            "{problems}"
        );
        assert!(
            problems.contains("does not belong to the first certificate"),
            "{problems}"
        );
        assert!(!problems.contains("PRIVATE KEY-----"), "{problems}");
    }
}
