//! [`RedisOptions`]: the TLS material and credentials of a Redis store beside its URL, and
//! the reading and checking of its files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use grantkit_core::{Error, Password, Result};
use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// How to authenticate to Redis and verify it, beside what the URL says; for
/// [`RedisStore::from_url_with`](super::RedisStore::from_url_with).
///
/// - **TLS** (`rediss://`, `rediss+sentinel://`): the server's certificate is always
///   verified, against [`ca_file`](Self::ca_file) when given (it **replaces** the
///   platform's trust store), else against the platform's. A client certificate
///   ([`client_certificate_files`](Self::client_certificate_files)) is presented when the
///   server asks for one (`tls-auth-clients yes`).
/// - **ACL user** ([`username`](Self::username), [`password`](Self::password)): instead of
///   writing them into the URL, e.g. with the password read from a secret file. Giving one
///   here and in the URL as well is an error.
///
/// Files are read by [`RedisStore::from_url_with`](super::RedisStore::from_url_with), once. `Debug` shows the files and the
/// user name, never the password.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// use grantkit_core::Password;
/// use grantkit_stores::{RedisOptions, RedisStore};
///
/// let options = RedisOptions::new()
///     .username("grantkit")
///     .password(Password::new("s3cret"));
/// // Not a TLS URL: only the credentials apply (a CA would be refused).
/// let store = RedisStore::from_url_with("redis://redis.internal:6379", &options).unwrap();
/// assert!(!format!("{options:?} {store:?}").contains("s3cret"));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct RedisOptions {
    ca: Option<CaSource>,
    client_certificate: Option<(PathBuf, PathBuf)>,
    username: Option<String>,
    password: Option<Password>,
}

#[derive(Clone)]
enum CaSource {
    File(PathBuf),
    Pem(Arc<[u8]>),
}

impl RedisOptions {
    /// No TLS material and no credentials beyond the URL's.
    pub fn new() -> Self {
        Self::default()
    }

    /// The PEM file of the CA certificates that verify the server (`rediss://`), instead of
    /// the platform's trust store.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaSource::File(path.into()));
        self
    }

    /// The CA certificates that verify the server, as PEM text; like
    /// [`ca_file`](Self::ca_file).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaSource::Pem(pem.into().into()));
        self
    }

    /// The client certificate (PEM, the leaf first, then its intermediates) and its
    /// unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1), for servers that require
    /// one (`tls-auth-clients yes`).
    pub fn client_certificate_files(
        mut self,
        certificate: impl Into<PathBuf>,
        private_key: impl Into<PathBuf>,
    ) -> Self {
        self.client_certificate = Some((certificate.into(), private_key.into()));
        self
    }

    /// The ACL user to log in as (`AUTH user password`); the URL's `user@` otherwise.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password (of [`username`](Self::username), or of the `default` user); the URL's
    /// otherwise.
    pub fn password(mut self, password: Password) -> Self {
        self.password = Some(password);
        self
    }

    pub(super) fn username_option(&self) -> Option<&str> {
        self.username.as_deref()
    }

    pub(super) fn password_option(&self) -> Option<&Password> {
        self.password.as_ref()
    }

    pub(super) fn has_tls_material(&self) -> bool {
        self.ca.is_some() || self.client_certificate.is_some()
    }

    /// The TLS material, read and checked now.
    pub(super) fn certificates(&self) -> Result<TlsCertificates> {
        let root_cert = match &self.ca {
            None => None,
            Some(CaSource::File(path)) => {
                let pem = read(path, "CA file")?;
                check_certificates(&pem, || format!("the Redis CA file {}", path.display()))?;
                Some(pem)
            }
            Some(CaSource::Pem(pem)) => {
                check_certificates(pem, || "the Redis CA PEM".to_owned())?;
                Some(pem.to_vec())
            }
        };
        let client_tls = match &self.client_certificate {
            None => None,
            Some((cert_path, key_path)) => {
                let client_cert = read(cert_path, "client certificate file")?;
                check_certificates(&client_cert, || {
                    format!("the Redis client certificate file {}", cert_path.display())
                })?;
                let client_key = Zeroizing::new(read(key_path, "client private key file")?);
                if PrivateKeyDer::from_pem_slice(&client_key).is_err() {
                    return Err(Error::config(format!(
                        "the Redis client private key file {} holds no unencrypted PEM private key \
                         (PKCS#8, PKCS#1 or SEC1)",
                        key_path.display()
                    )));
                }
                Some(ClientTlsConfig {
                    client_cert,
                    client_key: client_key.to_vec(),
                })
            }
        };
        Ok(TlsCertificates {
            client_tls,
            root_cert,
        })
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ca = self.ca.as_ref().map(|ca| match ca {
            CaSource::File(path) => path.display().to_string(),
            CaSource::Pem(_) => "(PEM)".to_owned(),
        });
        f.debug_struct("RedisOptions")
            .field("ca", &ca)
            .field("client_certificate", &self.client_certificate)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::config(format!("cannot read the Redis {what} {}", path.display())).with_source(e)
    })
}

/// At least one certificate, and no malformed PEM.
fn check_certificates(pem: &[u8], what: impl Fn() -> String) -> Result<()> {
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        if cert.is_err() {
            return Err(Error::config(format!(
                "{} holds a malformed PEM block",
                what()
            )));
        }
        found += 1;
    }
    if found == 0 {
        return Err(Error::config(format!(
            "{} holds no PEM certificate",
            what()
        )));
    }
    Ok(())
}
