//! The test-only TLS material of `crates/grants/tests/keys/` (see its README): a CA, the
//! test server's certificate, and client certificates for mutual TLS. Paths are absolute,
//! so tests of any package can read them.
//!
//! ```
//! use grantkit_testkit::certs;
//!
//! assert_eq!(certs::thumbprint(certs::CLIENT).len(), 43);
//! assert_eq!(certs::subject_dn(certs::CLIENT), certs::CLIENT_SUBJECT_DN);
//! ```

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use sha2::{Digest, Sha256};

macro_rules! key_file {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys/", $name)
    };
}

/// The test CA's certificate: it issued [`SERVER`], [`CLIENT`] and [`OTHER_CLIENT`].
pub const CA: &str = key_file!("test-only-mtls-ca.pem");
/// The HTTPS test server's certificate (`localhost`, `127.0.0.1`, `::1`).
pub const SERVER: &str = key_file!("test-only-mtls-server.pem");
/// The key of [`SERVER`].
pub const SERVER_KEY: &str = key_file!("test-only-mtls-server-key.pem");
/// A client certificate issued by [`CA`], subject [`CLIENT_SUBJECT_DN`] (EC P-256).
pub const CLIENT: &str = key_file!("test-only-mtls-client.pem");
/// The key of [`CLIENT`] (PKCS#8).
pub const CLIENT_KEY: &str = key_file!("test-only-mtls-client-key.pem");
/// [`CLIENT`] and [`CLIENT_KEY`] in one file.
pub const CLIENT_COMBINED: &str = key_file!("test-only-mtls-client-combined.pem");
/// The subject of [`CLIENT`], as RFC 4514 writes it.
pub const CLIENT_SUBJECT_DN: &str = "CN=grantkit-test-client,O=grantkit tests";
/// Another client certificate issued by [`CA`], subject
/// `CN=grantkit-other-client,O=grantkit tests`.
pub const OTHER_CLIENT: &str = key_file!("test-only-mtls-other-client.pem");
/// The key of [`OTHER_CLIENT`].
pub const OTHER_CLIENT_KEY: &str = key_file!("test-only-mtls-other-client-key.pem");
/// A self-signed client certificate (RSA 2048).
pub const SELF_SIGNED: &str = key_file!("test-only-mtls-self-signed.pem");
/// The key of [`SELF_SIGNED`] (PKCS#1).
pub const SELF_SIGNED_KEY: &str = key_file!("test-only-mtls-self-signed-key.pem");
/// Another self-signed client certificate, registered by no client.
pub const OTHER_SELF_SIGNED: &str = key_file!("test-only-mtls-other-self-signed.pem");
/// The key of [`OTHER_SELF_SIGNED`].
pub const OTHER_SELF_SIGNED_KEY: &str = key_file!("test-only-mtls-other-self-signed-key.pem");

fn leaf(path: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The base64url SHA-256 of the first certificate of the PEM file at `path` (its
/// `x5t#S256`).
///
/// # Panics
/// If the file holds no certificate.
pub fn thumbprint(path: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(leaf(path)))
}

/// The subject of the first certificate of the PEM file at `path`, as RFC 4514 writes it.
///
/// # Panics
/// If the file holds no certificate.
pub fn subject_dn(path: &str) -> String {
    crate::server::tls::subject_dn(&leaf(path)).unwrap_or_else(|| panic!("{path}: no subject"))
}
