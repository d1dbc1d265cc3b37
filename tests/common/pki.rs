//! A test certificate authority (rcgen) and its leaves: for the fake iCasework's HTTPS and for
//! casegate's own TLS listener, with a client that trusts only this CA.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

use super::Got;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA that signs leaf certificates.
pub struct TestCa {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

/// A leaf certificate with its key, as PEM files hold them.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "casegate test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { key, cert }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `hosts` with `common_name` as its subject, signed by this CA.
    pub fn leaf(&self, hosts: &[&str], common_name: &str) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A server acceptor presenting a new leaf for `hosts` (ALPN h2 and http/1.1).
    pub fn acceptor(&self, hosts: &[&str]) -> tokio_rustls::TlsAcceptor {
        let leaf = self.leaf(hosts, hosts.first().copied().unwrap_or("leaf"));
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes());
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der], key.unwrap())
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// A client that trusts this CA alone and offers `alpn`.
    pub fn connector(&self, alpn: &[&str]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        // Every connection a full handshake: a resumed session presents no certificate, and
        // the tests look at the one the server presents now.
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// One TLS connection to a server: what it presented, and a way to send requests over it.
pub struct TlsConnection {
    /// The certificate the server presented (the leaf).
    pub served: CertificateDer<'static>,
    /// The protocol agreed by ALPN.
    pub alpn: Option<String>,
    sender: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl TlsConnection {
    /// Connects to `addr` as `host`, offering `alpn`; `Err` when the handshake fails.
    pub async fn open(
        connector: &tokio_rustls::TlsConnector,
        addr: SocketAddr,
        host: &str,
    ) -> std::io::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let tls = connector.connect(name, tcp).await?;
        let (_, session) = tls.get_ref();
        let served = session.peer_certificates().unwrap()[0].clone().into_owned();
        let alpn = session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let io = TokioIo::new(tls);
        let sender = if alpn.as_deref() == Some("h2") {
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            Sender::H2(sender)
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            Sender::H1(sender)
        };
        Ok(Self {
            served,
            alpn,
            sender,
        })
    }

    /// GETs `path_and_query` as the test caller over this connection.
    pub async fn get(&mut self, host: &str, path_and_query: &str) -> Result<Got, hyper::Error> {
        let request = Request::get(format!("https://{host}{path_and_query}"))
            .header("authorization", format!("Bearer {}", super::caller_token()))
            .body(Full::default())
            .unwrap();
        let response = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                // HTTP/1.1 wants the host in the Host header and the path alone as the target.
                let (mut parts, body) = request.into_parts();
                parts.headers.insert("host", host.parse().unwrap());
                parts.uri = path_and_query.parse().unwrap();
                s.send_request(Request::from_parts(parts, body)).await?
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(request).await?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Got {
            status: parts.status,
            headers: parts.headers,
            body,
            aborted: false,
        })
    }
}
