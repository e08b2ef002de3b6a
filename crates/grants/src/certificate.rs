//! [`Certificate`]: an X.509 certificate chain from PEM, and its `x5t#S256` thumbprint.
//!
//! One small module so that every use of a client certificate loads it the same way:
//! the `x5t#S256` header of `private_key_jwt` assertions (RFC 7515 §4.1.8) here, and a
//! TLS client certificate (RFC 8705) where the HTTP client is built.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantkit_core::Result;
use sha2::{Digest as _, Sha256};

use crate::error::GrantError;

/// An X.509 certificate chain read from PEM (`-----BEGIN CERTIFICATE-----` blocks, the
/// client's own certificate first, then any intermediates). A certificate is public: its
/// `Debug` shows the `x5t#S256` thumbprint.
///
/// ```
/// use grantkit_grants::Certificate;
///
/// let cert = Certificate::from_pem_file("tests/keys/test-only-rsa-cert.pem")?;
/// assert_eq!(cert.x5t_s256(), "EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw");
/// assert_eq!(cert.chain().count(), 1);
/// # Ok::<(), grantkit_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Certificate {
    inner: Arc<Inner>,
}

struct Inner {
    pem: String,
    chain: Vec<Vec<u8>>,
    x5t_s256: String,
}

impl Certificate {
    /// The certificates of a PEM text, in order. Blocks other than `CERTIFICATE` (a
    /// private key kept in the same file, say) are skipped, never kept.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the text is not PEM or
    /// holds no `CERTIFICATE` block.
    ///
    /// ```
    /// # use grantkit_grants::Certificate;
    /// let err = Certificate::from_pem("not a certificate").unwrap_err();
    /// assert_eq!(err.to_string(), "the certificate is not PEM with a CERTIFICATE block");
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self> {
        let blocks = pem::parse_many(pem).map_err(|_| GrantError::BadCertificate)?;
        let chain: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|block| block.tag() == "CERTIFICATE")
            .map(pem::Pem::into_contents)
            .collect();
        let Some(first) = chain.first() else {
            return Err(GrantError::BadCertificate.into());
        };
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(first));
        let pem = chain
            .iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
            .collect();
        Ok(Certificate {
            inner: Arc::new(Inner {
                pem,
                chain,
                x5t_s256,
            }),
        })
    }

    /// [`from_pem`](Self::from_pem) with the PEM read from `path` (once, now).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the path when the file
    /// cannot be read.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read_to_string(path).map_err(|source| GrantError::CertificateFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&pem)
    }

    /// The `x5t#S256` value of RFC 7515 §4.1.8: the base64url (unpadded) SHA-256 of the
    /// DER of the first certificate. It equals `openssl x509 -fingerprint -sha256`'s
    /// bytes, base64url-encoded.
    pub fn x5t_s256(&self) -> &str {
        &self.inner.x5t_s256
    }

    /// The DER of each certificate, the client's own first.
    pub fn chain(&self) -> impl Iterator<Item = &[u8]> {
        self.inner.chain.iter().map(Vec::as_slice)
    }

    /// The certificates alone, re-encoded as PEM (for a TLS client identity).
    pub fn pem(&self) -> &str {
        &self.inner.pem
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t#S256", &self.inner.x5t_s256)
            .field("chain", &self.inner.chain.len())
            .finish()
    }
}
