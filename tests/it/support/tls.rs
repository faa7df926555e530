//! A throwaway PKI for https tests: a CA, and a leaf certificate for
//! 127.0.0.1 and localhost that it signed, written as PEM files to a
//! temporary directory; and an axum listener that speaks TLS with that leaf.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// The files of one test PKI; removed when dropped.
pub struct TestPki {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM): what a client must trust.
    pub ca_cert: PathBuf,
    /// The leaf certificate (PEM) for 127.0.0.1 and localhost.
    pub leaf_cert: PathBuf,
    /// The leaf's private key (PEM).
    pub leaf_key: PathBuf,
    leaf_cert_pem: String,
    leaf_key_pem: String,
}

impl TestPki {
    /// A new CA and leaf.
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "oauthd test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        // An IP literal needs an IP address SAN; rcgen makes one from the
        // string.
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "oauthd test document host");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let leaf_cert_pem = leaf_cert.pem();
        let leaf_key_pem = leaf_key.serialize_pem();
        Self {
            ca_cert: write("ca.pem", &ca_cert.pem()),
            leaf_cert: write("leaf.pem", &leaf_cert_pem),
            leaf_key: write("leaf.key", &leaf_key_pem),
            leaf_cert_pem,
            leaf_key_pem,
            _dir: dir,
        }
    }

    /// The CA as oauthd reads it from `client_metadata.extra_root_certificates`.
    pub fn ca_roots(&self) -> Vec<reqwest::Certificate> {
        oauthd::config::read_root_certificates(&self.ca_cert).unwrap()
    }

    /// A TLS acceptor that presents the leaf.
    pub fn acceptor(&self) -> TlsAcceptor {
        let certs = CertificateDer::pem_slice_iter(self.leaf_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.leaf_key_pem.as_bytes()).unwrap();
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A TCP listener whose connections are TLS: for `axum::serve`. A failed
/// handshake (an untrusting client, say) is dropped and the next
/// connection accepted.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Binds 127.0.0.1 on a free port.
    pub async fn bind(pki: &TestPki) -> Self {
        Self {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: pki.acceptor(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
