//! The server's HTTPS mode: a TLS listener that asks every client for a certificate
//! (mutual TLS, RFC 8705) and hands what it saw to the token endpoint.
//!
//! The handshake accepts any client certificate whose handshake signature is valid, or
//! none; what the certificate proves is decided per request by the token endpoint: a
//! `tls_client_auth` client needs a certificate issued by the test CA with the registered
//! subject, a `self_signed_tls_client_auth` client exactly the registered certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig as TlsConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::certs;

/// How a client registered for mutual TLS proves itself (RFC 8705 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsClient {
    /// `tls_client_auth`: a certificate issued by the test CA ([`certs::CA`]) whose
    /// subject, written as RFC 4514 does (`CN=…,O=…`), is this.
    SubjectDn(String),
    /// `self_signed_tls_client_auth`: exactly the certificate with this SHA-256 thumbprint
    /// (base64url, as [`certs::thumbprint`] gives it).
    SelfSigned(String),
}

impl TlsClient {
    /// Whether `peer` proves this registration.
    pub(super) fn accepts(&self, peer: Option<&PeerCertificate>) -> bool {
        match (self, peer) {
            (TlsClient::SubjectDn(dn), Some(peer)) => peer.issued_by_ca && peer.subject_dn == *dn,
            (TlsClient::SelfSigned(thumbprint), Some(peer)) => peer.thumbprint == *thumbprint,
            (_, None) => false,
        }
    }
}

/// The client certificate of a connection, as the token endpoint sees it.
#[derive(Debug, Clone)]
pub(super) struct PeerCertificate {
    /// Base64url SHA-256 of the DER (`x5t#S256`).
    pub(super) thumbprint: String,
    /// The subject, RFC 4514 style.
    pub(super) subject_dn: String,
    /// Whether the chain verifies against the test CA, for client authentication.
    pub(super) issued_by_ca: bool,
}

/// What a TLS connection carries into its requests (axum's `ConnectInfo`).
#[derive(Debug, Clone)]
pub(super) struct TlsPeer {
    pub(super) certificate: Option<PeerCertificate>,
}

/// A TCP listener that completes a TLS handshake before handing a connection to axum.
pub(super) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ca_verifier: Arc<dyn ClientCertVerifier>,
}

impl TlsListener {
    pub(super) fn new(tcp: TcpListener) -> TlsListener {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cert = CertificateDer::pem_file_iter(certs::SERVER)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .unwrap_or_else(|e| panic!("test server: {}: {e}", certs::SERVER));
        let key = PrivateKeyDer::from_pem_file(certs::SERVER_KEY)
            .unwrap_or_else(|e| panic!("test server: {}: {e}", certs::SERVER_KEY));
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(certs::CA)
            .unwrap_or_else(|e| panic!("test server: {}: {e}", certs::CA))
        {
            roots
                .add(ca.unwrap_or_else(|e| panic!("test server: {}: {e}", certs::CA)))
                .unwrap_or_else(|e| panic!("test server: the test CA: {e}"));
        }
        let ca_verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .unwrap_or_else(|e| panic!("test server: client verifier: {e}"));
        let config = TlsConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("test server: TLS versions: {e}"))
            .with_client_cert_verifier(Arc::new(AnyClientCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_single_cert(cert, key)
            .unwrap_or_else(|e| panic!("test server: server certificate: {e}"));
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_verifier,
        }
    }

    fn peer(&self, stream: &TlsStream<TcpStream>) -> TlsPeer {
        let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
        let certificate = chain.first().map(|leaf| PeerCertificate {
            thumbprint: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(leaf)),
            subject_dn: subject_dn(leaf).unwrap_or_default(),
            issued_by_ca: self
                .ca_verifier
                .verify_client_cert(leaf, &chain[1..], UnixTime::now())
                .is_ok(),
        });
        TlsPeer { certificate }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, _)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            // A client that refuses the server's certificate, or stalls, is dropped.
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                let peer = self.peer(&stream);
                return (stream, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr().map(|_| TlsPeer { certificate: None })
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The address a [`TlsListener`] is bound to.
pub(super) fn local_addr(listener: &TlsListener) -> SocketAddr {
    listener
        .tcp
        .local_addr()
        .unwrap_or_else(|e| panic!("test server: no local address: {e}"))
}

/// Asks for a client certificate, accepts any (or none) whose handshake signature is
/// valid: the token endpoint decides what it proves.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The subject of a DER certificate as RFC 4514 writes it: the RDNs last to first,
/// `CN=leaf,O=org`. Knows the attribute types test certificates use; others are written
/// as their dotted OID bytes in hex.
pub(crate) fn subject_dn(der: &[u8]) -> Option<String> {
    let (_, certificate, _) = tlv(der)?;
    let (_, mut tbs, _) = tlv(certificate)?;
    // version [0] (optional), serial, signature, issuer, validity, subject
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 6 {
        let (tag, value, rest) = tlv(tbs)?;
        fields.push((tag, value));
        tbs = rest;
    }
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (_, mut name) = *fields.get(skip + 4)?;
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (_, mut set, rest) = tlv(name)?;
        name = rest;
        let mut parts = Vec::new();
        while !set.is_empty() {
            let (_, attribute, rest) = tlv(set)?;
            set = rest;
            let (_, oid, value) = tlv(attribute)?;
            let (_, text, _) = tlv(value)?;
            let kind = match oid {
                [0x55, 0x04, 0x03] => "CN".to_owned(),
                [0x55, 0x04, 0x06] => "C".to_owned(),
                [0x55, 0x04, 0x07] => "L".to_owned(),
                [0x55, 0x04, 0x08] => "ST".to_owned(),
                [0x55, 0x04, 0x0a] => "O".to_owned(),
                [0x55, 0x04, 0x0b] => "OU".to_owned(),
                other => other.iter().map(|b| format!("{b:02x}")).collect(),
            };
            parts.push(format!("{kind}={}", String::from_utf8_lossy(text)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// One DER TLV: (tag, value, rest). Single-byte tags, definite lengths.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || input.len() < n {
            return None;
        }
        let (bytes, rest) = input.split_at(n);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (input.len() >= len).then(|| {
        let (value, rest) = input.split_at(len);
        (tag, value, rest)
    })
}
