//! [`JwtSigningKey`]: the key that signs a JWT-bearer assertion.

use std::fmt;

use grantkit_core::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey};

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
    Hs256(SigningKey),
}

impl JwtSigningKey {
    /// An HS256 key from a shared secret.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// let key = JwtSigningKey::hs256(std::env::var("DT_SERVICE_ACCOUNT_SECRET").unwrap_or_default());
    /// # let _ = key;
    /// ```
    pub fn hs256(secret: impl Into<SigningKey>) -> Self {
        JwtSigningKey::Hs256(secret.into())
    }

    /// The JWS `alg` value: `HS256`.
    ///
    /// ```
    /// # use grantkit_grants::JwtSigningKey;
    /// assert_eq!(JwtSigningKey::hs256("k").algorithm_name(), "HS256");
    /// ```
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            JwtSigningKey::Hs256(_) => "HS256",
        }
    }

    pub(super) fn algorithm(&self) -> Algorithm {
        match self {
            JwtSigningKey::Hs256(_) => Algorithm::HS256,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            JwtSigningKey::Hs256(secret) => secret.secret().is_empty(),
        }
    }

    /// jsonwebtoken's key; it zeroes its copy when dropped.
    pub(super) fn encoding_key(&self) -> EncodingKey {
        match self {
            JwtSigningKey::Hs256(secret) => EncodingKey::from_secret(secret.secret().as_bytes()),
        }
    }
}

impl fmt::Debug for JwtSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtSigningKey::Hs256(secret) => f.debug_tuple("Hs256").field(secret).finish(),
        }
    }
}
