//! [`JwtSigningKey`]: the key that signs a JWT-bearer assertion.

use std::fmt;
use std::path::Path;

use grantkit_core::{Result, SecretSource, SigningKey};
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::error::GrantError;

/// The key that signs the assertion, with its algorithm.
///
/// An enum so that other algorithms (RS256, ES256 from a PEM key) can be added as
/// variants without a new grant type; match it with a wildcard arm.
///
/// ```
/// use grantkit_grants::JwtSigningKey;
///
/// let key = JwtSigningKey::hs256("shared-secret");
/// assert_eq!(key.algorithm_name(), "HS256");
/// assert_eq!(format!("{key:?}"), "Hs256(SigningKey([redacted]))");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum JwtSigningKey {
    /// HMAC with SHA-256 over a shared secret, whose UTF-8 bytes are the key (as the
    /// vendors' own examples use it, e.g. PyJWT's `jwt.encode(…, secret, "HS256")`).
    /// The secret may come from a file or a function, read at each signing
    /// ([`SecretSource`]).
    Hs256(SecretSource<SigningKey>),
    /// An asymmetric private key from PEM (RSA, EC or Ed25519), with its algorithm; build
    /// it with [`from_pem`](Self::from_pem) or [`from_pem_file`](Self::from_pem_file).
    Pem(PemKey),
}

/// A private key in PEM with the algorithm it signs with, checked when built. Its
/// `Debug` shows the algorithm only.
#[derive(Clone)]
pub struct PemKey {
    algorithm: Algorithm,
    name: &'static str,
    pem: SigningKey,
}

/// The asymmetric algorithms a PEM key may sign with, by JWS name.
const PEM_ALGORITHMS: [(&str, Algorithm); 9] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The PEM algorithm named `alg` (any case).
fn pem_algorithm(alg: &str) -> Result<(&'static str, Algorithm)> {
    PEM_ALGORITHMS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(alg.trim()))
        .copied()
        .ok_or_else(|| GrantError::UnknownSigningAlg(alg.to_owned()).into())
}

impl PemKey {
    fn encoding_key(&self) -> std::result::Result<EncodingKey, jsonwebtoken::errors::Error> {
        let pem = self.pem.secret().as_bytes();
        match self.algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            _ => EncodingKey::from_rsa_pem(pem),
        }
    }
}

impl fmt::Debug for PemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemKey")
            .field("alg", &self.name)
            .field("pem", &self.pem)
            .finish()
    }
}

impl JwtSigningKey {
    /// An HS256 key from a shared secret: a value, or a [`SecretSource`] read at each
    /// signing (`SecretSource::file(path)` for a secret that is rotated in place).
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// use grantkit_core::SecretSource;
    ///
    /// let key = JwtSigningKey::hs256(std::env::var("DT_SERVICE_ACCOUNT_SECRET").unwrap_or_default());
    /// let rotated = JwtSigningKey::hs256(SecretSource::file("/run/secrets/dt-secret"));
    /// assert_eq!(format!("{rotated:?}"), r#"Hs256(SigningKey(file "/run/secrets/dt-secret"))"#);
    /// # let _ = key;
    /// ```
    pub fn hs256(secret: impl Into<SecretSource<SigningKey>>) -> Self {
        JwtSigningKey::Hs256(secret.into())
    }

    /// An asymmetric key from PEM text for `alg` (its JWS name: `RS256`, `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384` or `EdDSA`). RSA keys may be
    /// PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`); EC and Ed25519
    /// keys PKCS#8.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an unknown algorithm
    /// or a PEM that is not a private key of that kind; the message never contains the
    /// key.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// let err = JwtSigningKey::from_pem("RS256", "not a key").unwrap_err();
    /// assert_eq!(err.kind(), grantkit_core::ErrorKind::Config);
    /// assert!(!err.to_string().contains("not a key"));
    /// ```
    pub fn from_pem(alg: &str, pem: impl Into<SigningKey>) -> Result<Self> {
        let (name, algorithm) = pem_algorithm(alg)?;
        let key = PemKey {
            algorithm,
            name,
            pem: pem.into(),
        };
        key.encoding_key()
            .map_err(|source| GrantError::BadPrivateKey { alg: name, source })?;
        Ok(JwtSigningKey::Pem(key))
    }

    /// [`from_pem`](Self::from_pem) with the PEM read from `path` (once, now).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the path when the file
    /// cannot be read.
    pub fn from_pem_file(alg: &str, path: impl AsRef<Path>) -> Result<Self> {
        Self::pem_algorithm_name(alg)?;
        let path = path.as_ref();
        let pem = std::fs::read_to_string(path).map_err(|source| GrantError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(alg, pem)
    }

    /// The JWS name of an algorithm a PEM key may sign with, spelled as JWS spells it
    /// (`"es256"` → `"ES256"`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the algorithms
    /// there are.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// assert_eq!(JwtSigningKey::pem_algorithm_name("eddsa")?, "EdDSA");
    /// assert!(JwtSigningKey::pem_algorithm_name("HS256").is_err());
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn pem_algorithm_name(alg: &str) -> Result<&'static str> {
        Ok(pem_algorithm(alg)?.0)
    }

    /// Whether this is an HMAC key over a shared secret.
    pub(crate) fn is_symmetric(&self) -> bool {
        matches!(self, JwtSigningKey::Hs256(_))
    }

    /// The JWS `alg` value: `HS256`, or the algorithm of a PEM key.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// assert_eq!(JwtSigningKey::hs256("k").algorithm_name(), "HS256");
    /// ```
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            JwtSigningKey::Hs256(_) => "HS256",
            JwtSigningKey::Pem(key) => key.name,
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            JwtSigningKey::Hs256(_) => Algorithm::HS256,
            JwtSigningKey::Pem(key) => key.algorithm,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            JwtSigningKey::Hs256(secret) => secret.is_empty_value(),
            JwtSigningKey::Pem(_) => false,
        }
    }

    /// jsonwebtoken's key; it zeroes its copy when dropped.
    pub(crate) fn encoding_key(&self) -> Result<EncodingKey> {
        match self {
            JwtSigningKey::Hs256(secret) => {
                let secret = secret.resolve()?;
                Ok(EncodingKey::from_secret(secret.secret().as_bytes()))
            }
            JwtSigningKey::Pem(key) => Ok(key.encoding_key().map_err(GrantError::Sign)?),
        }
    }
}

impl fmt::Debug for JwtSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtSigningKey::Hs256(secret) => f.debug_tuple("Hs256").field(secret).finish(),
            JwtSigningKey::Pem(key) => f.debug_tuple("Pem").field(key).finish(),
        }
    }
}
