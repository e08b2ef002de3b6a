//! Where an assertion's `kid` header comes from: set explicitly, the key's RFC 7638
//! thumbprint, or by default the `kid` of the JWK the key was read from.

use grantkit_core::Result;

use super::JwtSigningKey;
use crate::error::GrantError;

/// The `kid` of the assertions a key signs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum KeyId {
    /// The key's own id (a JWK's `kid`), or none.
    #[default]
    FromKey,
    /// This value.
    Literal(String),
    /// The key's RFC 7638 thumbprint.
    Thumbprint,
}

impl KeyId {
    /// The `kid` to send with `key` (`None` for a thumbprint of no key or of an HS256
    /// secret: [`validate`](Self::validate) refuses that first).
    pub(crate) fn resolve<'a>(&'a self, key: Option<&'a JwtSigningKey>) -> Option<&'a str> {
        match self {
            KeyId::Literal(kid) => Some(kid),
            KeyId::FromKey => key.and_then(JwtSigningKey::key_id),
            KeyId::Thumbprint => key.and_then(JwtSigningKey::thumbprint),
        }
    }

    /// Fails when the thumbprint is asked for and the key has none (HS256).
    pub(crate) fn validate(&self, key: Option<&JwtSigningKey>) -> Result<()> {
        if *self == KeyId::Thumbprint && key.and_then(JwtSigningKey::thumbprint).is_none() {
            return Err(GrantError::NoThumbprint.into());
        }
        Ok(())
    }
}
