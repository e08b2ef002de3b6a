//! [`JwtSigningKey`]: the key that signs a JWT-bearer assertion.

use std::fmt;
use std::path::Path;

use grantkit_core::{Result, SecretSource, SigningKey};
use jsonwebtoken::{Algorithm, EncodingKey};

use super::{jwk, pkcs8};
use crate::error::GrantError;

/// The key that signs the assertion, with its algorithm.
///
/// An enum so that other kinds of key can be added as variants without a new grant
/// type; match it with a wildcard arm.
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
    /// An asymmetric private key (RSA, EC or Ed25519), with its algorithm; build it with
    /// [`from_pem`](Self::from_pem), [`from_jwk`](Self::from_jwk) or
    /// [`from_private_key`](Self::from_private_key) (either), or their `_file` twins. It
    /// is held as PEM: a SEC1 or JWK key is converted to PKCS#8 when read.
    Pem(PemKey),
}

/// A private key in PEM with the algorithm it signs with, checked when built, the `kid`
/// of the JWK it came from, and its RFC 7638 thumbprint. Its `Debug` shows the algorithm
/// and the JWK's `kid` only.
#[derive(Clone)]
pub struct PemKey {
    algorithm: Algorithm,
    name: &'static str,
    pem: SigningKey,
    kid: Option<String>,
    thumbprint: String,
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
    /// Checks that jsonwebtoken and aws-lc-rs read `pem` as a key for `algorithm`, and
    /// computes its thumbprint.
    fn new(
        name: &'static str,
        algorithm: Algorithm,
        pem: SigningKey,
        kid: Option<String>,
    ) -> Result<Self> {
        let mut key = PemKey {
            algorithm,
            name,
            pem,
            kid,
            thumbprint: String::new(),
        };
        key.encoding_key()
            .map_err(|source| GrantError::BadPrivateKey { alg: name, source })?;
        // aws-lc-rs checks the curve too (a P-384 key for ES256 is refused here, not at
        // the first signature).
        key.thumbprint = pkcs8::thumbprint(key.pem.secret(), algorithm).ok_or_else(|| {
            GrantError::BadPrivateKey {
                alg: name,
                source: jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into(),
            }
        })?;
        Ok(key)
    }

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
        let mut f = f.debug_struct("PemKey");
        f.field("alg", &self.name);
        if let Some(kid) = &self.kid {
            f.field("kid", kid);
        }
        f.field("pem", &self.pem).finish()
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
    /// PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`); EC keys PKCS#8
    /// or SEC1 (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey` writes, with or
    /// without its `EC PARAMETERS` block; converted to PKCS#8 by aws-lc-rs); Ed25519
    /// keys PKCS#8. The curve must be the algorithm's (P-256 for ES256, P-384 for ES384).
    /// Other blocks in the text (a certificate before or after the key, as one file holds
    /// both for curl's `--cert` or the Azure SDKs) are skipped.
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
        let mut pem: SigningKey = pem.into();
        if let Some(key) = pkcs8::private_key_block(pem.secret()) {
            pem = SigningKey::new(key);
        }
        let pem = match pkcs8::sec1_to_pkcs8_pem(pem.secret(), algorithm) {
            None => pem,
            Some(Ok(pkcs8)) => SigningKey::new(pkcs8),
            Some(Err(())) => {
                return Err(GrantError::BadPrivateKey {
                    alg: name,
                    source: jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into(),
                }
                .into());
            }
        };
        Ok(JwtSigningKey::Pem(PemKey::new(name, algorithm, pem, None)?))
    }

    /// An asymmetric key from a JSON Web Key (RFC 7517) holding a private key: `kty`
    /// `RSA` (two primes, with the CRT members `p`, `q`, `dp`, `dq`, `qi`), `EC` with
    /// `crv` `P-256` or `P-384`, or `OKP` with `crv` `Ed25519`.
    ///
    /// The algorithm is the JWK's `alg` when it has one, else `alg`, else the key's
    /// natural one (RS256, ES256, ES384, EdDSA). The JWK's `kid` becomes the assertions'
    /// `kid` unless a key id is set explicitly. Members other than those are ignored.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for text that is not such
    /// a JWK, a public JWK, members that do not form a valid key, an `alg` that differs
    /// from the JWK's, or an algorithm the key cannot sign with. The message says which
    /// member is wrong, never its value.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// let jwk = std::fs::read_to_string("tests/keys/test-only-ec-p256.jwk.json").unwrap();
    /// let key = JwtSigningKey::from_jwk(None, jwk)?;
    /// assert_eq!(key.algorithm_name(), "ES256");
    /// assert_eq!(key.key_id(), Some("test-only-ec-p256-jwk"));
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn from_jwk(alg: Option<&str>, jwk: impl Into<SigningKey>) -> Result<Self> {
        let jwk: SigningKey = jwk.into();
        let given = alg.map(pem_algorithm).transpose()?;
        let parsed = jwk::parse(jwk.secret())?;
        let own = parsed.alg.as_deref().map(pem_algorithm).transpose()?;
        let (name, algorithm) = match (own, given) {
            (Some(own), Some(given)) if own.0 != given.0 => {
                return Err(GrantError::JwkAlgMismatch {
                    jwk: own.0.to_owned(),
                    given: given.0,
                }
                .into());
            }
            (Some(chosen), _) | (None, Some(chosen)) => chosen,
            (None, None) => pem_algorithm(parsed.key_type.default_alg())?,
        };
        if !parsed.key_type.signs(algorithm) {
            return Err(GrantError::JwkKeyMismatch {
                key: parsed.key_type.name(),
                alg: name,
            }
            .into());
        }
        // Moved, not copied: the PEM text is zeroed by `SigningKey` alone.
        let pem = SigningKey::new(parsed.pem);
        Ok(JwtSigningKey::Pem(PemKey::new(
            name, algorithm, pem, parsed.kid,
        )?))
    }

    /// [`from_jwk`](Self::from_jwk) with the JWK read from `path` (once, now).
    ///
    /// # Errors
    /// As [`from_jwk`](Self::from_jwk), and a config error naming the path when the file
    /// cannot be read.
    pub fn from_jwk_file(alg: Option<&str>, path: impl AsRef<Path>) -> Result<Self> {
        Self::from_jwk(alg, read_key_file(path.as_ref())?)
    }

    /// A private key given either way: a JWK when the text starts with `{` (after
    /// whitespace), else PEM ([`from_pem`](Self::from_pem) with `alg`, RS256 when
    /// `None`). What configuration files use for `private_key`.
    ///
    /// # Errors
    /// As [`from_jwk`](Self::from_jwk) or [`from_pem`](Self::from_pem).
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// let jwk = std::fs::read_to_string("tests/keys/test-only-ed25519.jwk.json").unwrap();
    /// assert_eq!(JwtSigningKey::from_private_key(None, jwk)?.algorithm_name(), "EdDSA");
    /// let pem = std::fs::read_to_string("tests/keys/test-only-rsa-pkcs1.pem").unwrap();
    /// assert_eq!(JwtSigningKey::from_private_key(None, pem)?.algorithm_name(), "RS256");
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn from_private_key(alg: Option<&str>, key: impl Into<SigningKey>) -> Result<Self> {
        let key: SigningKey = key.into();
        if key.secret().trim_start().starts_with('{') {
            Self::from_jwk(alg, key)
        } else {
            Self::from_pem(alg.unwrap_or("RS256"), key)
        }
    }

    /// [`from_private_key`](Self::from_private_key) with the key read from `path` (once,
    /// now).
    ///
    /// # Errors
    /// As [`from_private_key`](Self::from_private_key), and a config error naming the
    /// path when the file cannot be read.
    pub fn from_private_key_file(alg: Option<&str>, path: impl AsRef<Path>) -> Result<Self> {
        if let Some(alg) = alg {
            Self::pem_algorithm_name(alg)?;
        }
        Self::from_private_key(alg, read_key_file(path.as_ref())?)
    }

    /// The key's own id: the `kid` of the JWK it was read from, if it had one. It is the
    /// default `kid` of the assertions it signs.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// assert_eq!(JwtSigningKey::hs256("k").key_id(), None);
    /// ```
    pub fn key_id(&self) -> Option<&str> {
        match self {
            JwtSigningKey::Hs256(_) => None,
            JwtSigningKey::Pem(key) => key.kid.as_deref(),
        }
    }

    /// The RFC 7638 JWK thumbprint of the public key (SHA-256, base64url without
    /// padding): a `kid` both sides can compute from the key alone. `None` for an HS256
    /// secret, whose thumbprint would be a hash of the secret.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// let pem = std::fs::read_to_string("tests/keys/test-only-ec-p256-pkcs8.pem").unwrap();
    /// let key = JwtSigningKey::from_pem("ES256", pem)?;
    /// assert_eq!(key.thumbprint(), Some("hoLWErFdGDm4_J15DGtnbMOZTursXJLIgd6yaykLBYY"));
    /// assert_eq!(JwtSigningKey::hs256("k").thumbprint(), None);
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn thumbprint(&self) -> Option<&str> {
        match self {
            JwtSigningKey::Hs256(_) => None,
            JwtSigningKey::Pem(key) => Some(&key.thumbprint),
        }
    }

    /// [`from_pem`](Self::from_pem) with the PEM read from `path` (once, now).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and a config error naming the path when the file
    /// cannot be read.
    pub fn from_pem_file(alg: &str, path: impl AsRef<Path>) -> Result<Self> {
        Self::pem_algorithm_name(alg)?;
        Self::from_pem(alg, read_key_file(path.as_ref())?)
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

/// The text of a key file, as a secret from the start.
fn read_key_file(path: &Path) -> Result<SigningKey> {
    std::fs::read_to_string(path)
        .map(SigningKey::new)
        .map_err(|source| {
            GrantError::KeyFile {
                path: path.display().to_string(),
                source,
            }
            .into()
        })
}
