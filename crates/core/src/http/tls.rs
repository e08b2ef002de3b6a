//! TLS material for the default HTTP client: a client certificate with its private key
//! (mutual TLS, RFC 8705) and the certificate authorities trusted for the token endpoint.
//!
//! Both are read and checked when they are made (a bad file is a configuration error at
//! start-up, not at the first renewal); neither ever shows a private key.

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::secret::SigningKey;

/// A client certificate and its private key, presented to the token endpoint in the TLS
/// handshake: mutual TLS client authentication (RFC 8705 §2, `tls_client_auth` and
/// `self_signed_tls_client_auth`).
///
/// Give it to [`ReqwestHttpClient::client_certificate`](crate::ReqwestHttpClient::client_certificate)
/// or [`TokenManagerBuilder::client_certificate`](crate::TokenManagerBuilder::client_certificate).
///
/// The certificate PEM holds the client's certificate first, then any intermediate
/// certificates; the key is PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`)
/// or SEC1 (`BEGIN EC PRIVATE KEY`), unencrypted. The key must be the certificate's: a
/// mismatch is refused here rather than at the first handshake.
///
/// ```
/// use grantkit_core::ClientCertificate;
///
/// let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
/// let cert = ClientCertificate::from_pem_files(
///     format!("{keys}/test-only-mtls-client.pem"),
///     format!("{keys}/test-only-mtls-client-key.pem"),
/// )?;
/// assert_eq!(cert.chain_len(), 1);
/// // The certificate's SHA-256 thumbprint, as in a bound token's `cnf.x5t#S256`.
/// assert_eq!(cert.sha256_thumbprint().len(), 43);
/// assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
/// # Ok::<(), grantkit_core::Error>(())
/// ```
///
/// # Security
/// `Debug` shows the thumbprint, never the key; errors name the file or the problem,
/// never the key's content.
#[derive(Clone)]
pub struct ClientCertificate {
    /// The certificates and the key, re-encoded as one PEM for reqwest (the key kept in a
    /// zeroize-on-drop buffer).
    identity_pem: std::sync::Arc<SecretSlice<u8>>,
    thumbprint: String,
    chain_len: usize,
}

impl ClientCertificate {
    /// From the PEM of the certificate chain (client certificate first) and the PEM of its
    /// private key.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the certificate PEM holds no
    /// certificate, the key PEM holds no key (or an encrypted one) or more than one, or
    /// the key is not the certificate's.
    ///
    /// ```
    /// # use grantkit_core::ClientCertificate;
    /// let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
    /// let cert = std::fs::read_to_string(format!("{keys}/test-only-mtls-client.pem")).unwrap();
    /// let key = std::fs::read_to_string(format!("{keys}/test-only-mtls-client-key.pem")).unwrap();
    /// assert!(ClientCertificate::from_pem(&cert, key).is_ok());
    /// let other = std::fs::read_to_string(format!("{keys}/test-only-mtls-self-signed-key.pem")).unwrap();
    /// let e = ClientCertificate::from_pem(&cert, other).unwrap_err();
    /// assert!(e.to_string().contains("does not match"), "{e}");
    /// ```
    pub fn from_pem(
        certificate_pem: impl AsRef<[u8]>,
        private_key_pem: impl Into<SigningKey>,
    ) -> Result<Self> {
        let key_pem: SigningKey = private_key_pem.into();
        let certs = read_certificates(certificate_pem.as_ref(), "the client certificate")?;
        let key =
            read_private_key(key_pem.secret().as_bytes())?.ok_or_else(|| Error::config(NO_KEY))?;
        Self::new(certs, key)
    }

    /// From one PEM holding the certificate chain and the private key together (the form
    /// curl's `--cert` and many servers' configuration take).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    ///
    /// ```
    /// # use grantkit_core::ClientCertificate;
    /// let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
    /// let both = std::fs::read_to_string(format!("{keys}/test-only-mtls-client-combined.pem")).unwrap();
    /// assert!(ClientCertificate::from_combined_pem(both).is_ok());
    /// ```
    pub fn from_combined_pem(pem: impl Into<SigningKey>) -> Result<Self> {
        let pem: SigningKey = pem.into();
        let certs = read_certificates(pem.secret().as_bytes(), "the client certificate")?;
        let key =
            read_private_key(pem.secret().as_bytes())?.ok_or_else(|| Error::config(NO_KEY))?;
        Self::new(certs, key)
    }

    /// [`from_pem`](Self::from_pem) with both read from files (once, now).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the file that cannot
    /// be read.
    pub fn from_pem_files(
        certificate: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self> {
        let certs = read_file(certificate.as_ref(), "client certificate")?;
        let key = read_file(private_key.as_ref(), "private key")?;
        Self::from_pem(certs.expose_secret(), key_text(&key)?)
    }

    /// [`from_combined_pem`](Self::from_combined_pem) with the PEM read from a file.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the file that cannot
    /// be read.
    pub fn from_combined_pem_file(path: impl AsRef<Path>) -> Result<Self> {
        let pem = read_file(path.as_ref(), "client certificate")?;
        Self::from_combined_pem(key_text(&pem)?)
    }

    /// Whether `pem` holds a private key (to tell a combined certificate-and-key file from
    /// a certificate alone). A malformed PEM counts as no key.
    pub fn pem_has_private_key(pem: impl AsRef<[u8]>) -> bool {
        matches!(read_private_key(pem.as_ref()), Ok(Some(_)))
    }

    fn new(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signing_key = provider.key_provider.load_private_key(key.clone_key()).map_err(|_| {
            Error::config(
                "the private key is not a key TLS can sign with (RSA, ECDSA P-256/P-384 or Ed25519)",
            )
        })?;
        let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(Error::config(
                    "the private key does not match the client certificate (the first certificate of the PEM)",
                ));
            }
            Err(_) => {
                return Err(Error::config(
                    "the client certificate is not a valid X.509 certificate",
                ));
            }
        }
        let thumbprint =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&certs[0]));
        let mut identity = String::new();
        for cert in &certs {
            push_pem(&mut identity, "CERTIFICATE", cert.as_ref());
        }
        let label = match &key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        push_pem(&mut identity, label, key.secret_der());
        Ok(ClientCertificate {
            identity_pem: std::sync::Arc::new(SecretSlice::from(identity.into_bytes())),
            thumbprint,
            chain_len: certs.len(),
        })
    }

    /// The base64url SHA-256 of the client certificate's DER: its `x5t#S256` (RFC 8705
    /// §3.1), the value a certificate-bound token's `cnf` claim carries.
    pub fn sha256_thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// How many certificates the chain holds (the client's and its intermediates).
    pub fn chain_len(&self) -> usize {
        self.chain_len
    }

    /// The identity for reqwest's client builder.
    pub(crate) fn identity(&self) -> Result<reqwest::Identity> {
        reqwest::Identity::from_pem(self.identity_pem.expose_secret())
            .map_err(|_| Error::config("the client certificate could not be loaded"))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("sha256_thumbprint", &self.thumbprint)
            .field("chain_len", &self.chain_len)
            .field("private_key", &format_args!("[redacted]"))
            .finish()
    }
}

/// The certificate authorities the default HTTP client trusts for the token endpoint,
/// **instead of** the platform's: for a token endpoint whose certificate an internal CA
/// issued (the usual case with mutual TLS). `ca_file` in a profile.
///
/// ```
/// use grantkit_core::RootCertificates;
///
/// let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
/// let roots = RootCertificates::from_pem_file(format!("{keys}/test-only-mtls-ca.pem"))?;
/// assert_eq!(roots.len(), 1);
/// # Ok::<(), grantkit_core::Error>(())
/// ```
#[derive(Clone)]
pub struct RootCertificates {
    certs: Vec<CertificateDer<'static>>,
}

impl RootCertificates {
    /// From a PEM bundle of one or more CA certificates.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when it holds no certificate or a
    /// malformed one.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self> {
        let certs = read_certificates(pem.as_ref(), "the CA certificates")?;
        for cert in &certs {
            webpki_anchor(cert)?;
        }
        Ok(RootCertificates { certs })
    }

    /// [`from_pem`](Self::from_pem) with the bundle read from a file (once, now).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the file that cannot
    /// be read.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            Error::config(format!("cannot read the CA file {}", path.display())).with_source(e)
        })?;
        Self::from_pem(pem)
    }

    /// How many certificates the bundle holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the bundle is empty (never, once made).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificates for reqwest's client builder.
    pub(crate) fn reqwest_certificates(&self) -> Result<Vec<reqwest::Certificate>> {
        self.certs
            .iter()
            .map(|c| {
                reqwest::Certificate::from_der(c.as_ref())
                    .map_err(|_| Error::config("a CA certificate could not be loaded"))
            })
            .collect()
    }
}

impl fmt::Debug for RootCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCertificates")
            .field("len", &self.certs.len())
            .finish()
    }
}

const NO_KEY: &str =
    "no private key found: expected an unencrypted PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM key";

fn webpki_anchor(cert: &CertificateDer<'_>) -> Result<()> {
    let mut store = rustls::RootCertStore::empty();
    store.add(cert.clone().into_owned()).map_err(|_| {
        Error::config("the CA file holds a certificate that is not a valid X.509 certificate")
    })
}

fn read_file(path: &Path, what: &str) -> Result<SecretSlice<u8>> {
    std::fs::read(path).map(SecretSlice::from).map_err(|e| {
        Error::config(format!("cannot read the {what} file {}", path.display())).with_source(e)
    })
}

/// A key file's bytes as text: PEM is ASCII.
fn key_text(bytes: &SecretSlice<u8>) -> Result<SigningKey> {
    std::str::from_utf8(bytes.expose_secret())
        .map(SigningKey::new)
        .map_err(|_| {
            Error::config("the PEM file is not text (a DER or PKCS#12 file is not supported)")
        })
}

/// Every `CERTIFICATE` section of `pem`, in order; at least one.
fn read_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for (kind, der) in sections(pem)? {
        if kind == SectionKind::Certificate {
            certs.push(CertificateDer::from(der));
        }
    }
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what}: no `BEGIN CERTIFICATE` section found"
        )));
    }
    Ok(certs)
}

/// The one private key of `pem`, if it holds one; more than one is an error.
fn read_private_key(pem: &[u8]) -> Result<Option<PrivateKeyDer<'static>>> {
    let mut keys = sections(pem)?
        .into_iter()
        .filter_map(|(kind, der)| match kind {
            SectionKind::PrivateKey => Some(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => Some(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => Some(PrivateKeyDer::Sec1(der.into())),
            _ => None,
        });
    let first = keys.next();
    if keys.next().is_some() {
        return Err(Error::config("the PEM holds more than one private key"));
    }
    Ok(first)
}

/// The PEM sections of `pem` that rustls knows; others (`EC PARAMETERS`, …) are skipped.
fn sections(pem: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>> {
    let mut reader = Cursor::new(pem);
    let mut out = Vec::new();
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some(section)) => out.push(section),
            Ok(None) => return Ok(out),
            // The error may quote a line of the PEM (a key's): never pass it on.
            Err(_) => return Err(Error::config("malformed PEM")),
        }
    }
}

fn push_pem(out: &mut String, label: &str, der: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../grants/tests/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_thumbprint_is_the_sha256_of_the_leaf_der() {
        let pem = key_file("test-only-mtls-client.pem");
        let cert =
            ClientCertificate::from_pem(&pem, key_file("test-only-mtls-client-key.pem")).unwrap();
        let der = read_certificates(pem.as_bytes(), "x").unwrap().remove(0);
        assert_eq!(
            cert.sha256_thumbprint(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&der))
        );
        // PKCS#1 RSA keys load too.
        let rsa = ClientCertificate::from_pem(
            key_file("test-only-mtls-self-signed.pem"),
            key_file("test-only-mtls-self-signed-key.pem"),
        )
        .unwrap();
        assert_ne!(rsa.sha256_thumbprint(), cert.sha256_thumbprint());
        assert!(cert.identity().is_ok());
    }

    #[test]
    fn errors_name_the_problem_never_the_key() {
        let cert = key_file("test-only-mtls-client.pem");
        let key = key_file("test-only-mtls-client-key.pem");
        let body = key.lines().nth(1).unwrap().to_owned();
        for (input_cert, input_key, expected) in [
            (
                cert.clone(),
                key_file("test-only-mtls-other-client-key.pem"),
                "does not match",
            ),
            (cert.clone(), cert.clone(), "no private key found"),
            (key.clone(), key.clone(), "no `BEGIN CERTIFICATE`"),
            (
                cert.clone(),
                format!("{key}{key}"),
                "more than one private key",
            ),
            (
                cert.clone(),
                format!("-----BEGIN PRIVATE KEY-----\n{body}\n"),
                "malformed PEM",
            ),
        ] {
            let e = ClientCertificate::from_pem(&input_cert, input_key).unwrap_err();
            let shown = format!("{} {e:?}", e.report());
            assert!(shown.contains(expected), "{expected}: {shown}");
            assert!(!shown.contains(&body), "{shown}");
        }
        // An encrypted key is not read (no passphrase support): said so, not "malformed".
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = ClientCertificate::from_pem(&cert, encrypted).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no private key found: expected an unencrypted"),
            "{e}"
        );
        // Windows line endings are fine.
        let crlf = |pem: &str| pem.replace('\n', "\r\n");
        assert!(ClientCertificate::from_pem(crlf(&cert), crlf(&key)).is_ok());
        let e = ClientCertificate::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }

    #[test]
    fn debug_shows_the_thumbprint_not_the_key() {
        let cert =
            ClientCertificate::from_combined_pem(key_file("test-only-mtls-client-combined.pem"))
                .unwrap();
        let key = key_file("test-only-mtls-client-key.pem");
        let shown = format!("{cert:?}");
        assert_eq!(
            shown,
            format!(
                "ClientCertificate {{ sha256_thumbprint: {:?}, chain_len: 1, private_key: [redacted] }}",
                cert.sha256_thumbprint()
            )
        );
        assert!(!shown.contains(key.lines().nth(1).unwrap()));
        assert!(ClientCertificate::pem_has_private_key(key_file(
            "test-only-mtls-client-combined.pem"
        )));
        assert!(!ClientCertificate::pem_has_private_key(key_file(
            "test-only-mtls-client.pem"
        )));
    }

    #[test]
    fn root_certificates_need_a_certificate() {
        let roots = RootCertificates::from_pem(key_file("test-only-mtls-ca.pem")).unwrap();
        assert_eq!((roots.len(), roots.is_empty()), (1, false));
        assert_eq!(format!("{roots:?}"), "RootCertificates { len: 1 }");
        assert!(roots.reqwest_certificates().is_ok());
        let e = RootCertificates::from_pem("nothing here").unwrap_err();
        assert!(e.to_string().contains("no `BEGIN CERTIFICATE`"), "{e}");
    }
}
