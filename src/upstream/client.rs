//! The pooled HTTP client casegate uses to reach iCasework: keep-alive, rustls (no OpenSSL),
//! the webpki roots plus any CA the configuration adds, and optional fixed addresses for host
//! names (like curl's `--resolve`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;

/// The client type; requests carry small in-memory bodies (none, or a token form).
pub type HttpClient = Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

/// How connections are made.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Trusted in addition to the webpki roots (a private CA, a TLS-inspecting proxy).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Host names answered with a fixed address instead of DNS.
    pub resolve: HashMap<String, SocketAddr>,
}

/// Builds the client. `http://` is allowed only because the configuration may point `base_url`
/// at the sandbox or a test server; the production and UAT URLs are always `https://`.
pub fn build(options: &ConnectOptions) -> std::io::Result<HttpClient> {
    let resolver = Resolver {
        fixed: Arc::new(options.resolve.clone()),
        dns: GaiResolver::new(),
    };
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_connect_timeout(Some(options.connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));

    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in &options.extra_roots {
        roots.add(cert.clone()).map_err(std::io::Error::other)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}

/// DNS, except for the host names the configuration pins to an address.
#[derive(Debug, Clone)]
pub struct Resolver {
    fixed: Arc<HashMap<String, SocketAddr>>,
    dns: GaiResolver,
}

type Addrs = Box<dyn Iterator<Item = SocketAddr> + Send>;

impl tower::Service<Name> for Resolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Addrs>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.dns.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(addr) = self.fixed.get(name.as_str()).copied() {
            return Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) });
        }
        let lookup = self.dns.call(name);
        Box::pin(async move { Ok(Box::new(lookup.await?) as Addrs) })
    }
}
