//! A certificate chain and its private key read from two PEM files, checked to belong together.
//!
//! Error messages name the files and what is wrong with them, never their contents: a PEM
//! parser's message may quote a line of the key file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate and key pair cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("cannot read the certificate file {}: {source}", path.display())]
    ReadCert {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the private key file {}: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the certificate file {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the certificate file {} is not valid PEM: {reason}", path.display())]
    CertificateNotPem { path: PathBuf, reason: String },
    #[error("the private key file {} holds no PEM private key (\"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")", path.display())]
    NoKey { path: PathBuf },
    #[error("the private key file {} holds a key casegate cannot use (RSA of at least 2048 bits, ECDSA P-256 or P-384, Ed25519)", path.display())]
    UnsupportedKey { path: PathBuf },
    #[error("the first certificate in {} cannot be parsed as X.509: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("the private key in {} does not belong to the first certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// The two files' bytes, kept to tell whether they changed since they were last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl Files {
    pub(super) fn read(cert: &Path, key: &Path) -> Result<Self, PairError> {
        Ok(Self {
            cert: std::fs::read(cert).map_err(|source| PairError::ReadCert {
                path: cert.to_path_buf(),
                source,
            })?,
            key: std::fs::read(key).map_err(|source| PairError::ReadKey {
                path: key.to_path_buf(),
                source,
            })?,
        })
    }

    /// The chain in `cert` (leaf first, as in the file) with the key in `key`, if they match.
    pub(super) fn parse(&self, cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, PairError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PairError::CertificateNotPem {
                path: cert.to_path_buf(),
                reason: pem_reason(&e),
            })?;
        if chain.is_empty() {
            return Err(PairError::NoCertificate {
                path: cert.to_path_buf(),
            });
        }
        let no_key = || PairError::NoKey {
            path: key.to_path_buf(),
        };
        let private = PrivateKeyDer::from_pem_slice(&self.key).map_err(|_| no_key())?;
        let signing = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(private)
            .map_err(|_| PairError::UnsupportedKey {
                path: key.to_path_buf(),
            })?;
        let certified = CertifiedKey::new(chain, signing);
        // Fail closed: a key whose public half cannot be compared is refused too.
        match certified.keys_match() {
            Ok(()) => Ok(Arc::new(certified)),
            Err(rustls::Error::InconsistentKeys(_)) => Err(PairError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            Err(e) => Err(PairError::BadCertificate {
                path: cert.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }
}

/// The PEM parser's reason, without the bytes some of its errors carry.
fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a section is not valid base64".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        cert: String,
        key: String,
    }

    fn pair(name: &str) -> Pair {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn parse(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, PairError> {
        let files = Files {
            cert: cert.as_bytes().to_vec(),
            key: key.as_bytes().to_vec(),
        };
        files.parse(Path::new("tls/cert.pem"), Path::new("tls/key.pem"))
    }

    #[test]
    fn a_matching_pair_is_served_leaf_first() {
        let p = pair("gateway.test");
        let served = parse(&p.cert, &p.key).unwrap();
        let expected = CertificateDer::from_pem_slice(p.cert.as_bytes()).unwrap();
        assert_eq!(served.end_entity_cert().unwrap(), &expected);
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() {
        let (a, b) = (pair("a.test"), pair("b.test"));
        let e = parse(&a.cert, &b.key).unwrap_err();
        assert!(matches!(e, PairError::Mismatch { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the private key in tls/key.pem does not belong to the first certificate in tls/cert.pem"
        );
    }

    #[test]
    fn files_without_pem_are_named() {
        let p = pair("a.test");
        let e = parse("not a certificate", &p.key).unwrap_err();
        assert!(matches!(e, PairError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("tls/cert.pem"), "{e}");
        // Swapped files: neither holds what it should.
        let e = parse(&p.key, &p.cert).unwrap_err();
        assert!(matches!(e, PairError::NoCertificate { .. }), "{e}");
        let e = parse(&p.cert, &p.cert).unwrap_err();
        assert!(matches!(e, PairError::NoKey { .. }), "{e}");
        assert!(e.to_string().contains("tls/key.pem"), "{e}");
    }

    #[test]
    fn a_broken_key_file_is_reported_without_its_contents() {
        let p = pair("a.test");
        // A key section whose base64 is damaged: the message must not quote any of it.
        let body: String = p.key.lines().nth(1).unwrap().to_owned();
        let damaged = p.key.replace(&body, &format!("{body}!!"));
        let e = parse(&p.cert, &damaged).unwrap_err();
        assert!(matches!(e, PairError::NoKey { .. }), "{e}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains(&body[..16]), "{text}");
    }

    #[test]
    fn a_damaged_certificate_is_not_pem() {
        let p = pair("a.test");
        let cut = &p.cert[..p.cert.len() - 30];
        let e = parse(cut, &p.key).unwrap_err();
        assert!(matches!(e, PairError::CertificateNotPem { .. }), "{e}");
    }
}
