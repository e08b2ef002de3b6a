//! Sender-constrained tokens: DPoP (RFC 9449).
//!
//! A bearer token that leaks can be replayed by anyone. With DPoP the client holds a key
//! pair ([`DpopKey`]); every token request and every API request carries a fresh proof
//! signed with it (a `DPoP` header), and the server binds the token to the key's
//! thumbprint. A stolen token is useless without the private key.
//!
//! Turn it on with [`TokenManagerBuilder::dpop`](crate::TokenManagerBuilder::dpop). Then:
//! - every token request of every grant that goes through
//!   [`GrantContext::exchange`](crate::GrantContext::exchange) carries a proof (`htm`,
//!   `htu`, `iat`, `jti`, and the server's nonce once it asked for one), and `token_type`
//!   `DPoP` is accepted (without DPoP it is refused);
//! - an answer `400 {"error":"use_dpop_nonce"}` with a `DPoP-Nonce` header is retried once
//!   at once with the nonce, which is remembered for that server ([`DpopNonces`]);
//! - the token carries the key it is bound to ([`Token::dpop_key`](crate::Token::dpop_key)):
//!   a store keeps the private key beside the token, so every process sharing the store
//!   uses the one token with the one key;
//! - a new key is made for each new token, and a refresh (with a refresh token) keeps the
//!   key of the token it refreshes, as a DPoP-bound refresh token requires (RFC 9449 §5);
//!   a key given with [`Dpop::key`] is used for every token instead;
//! - [`TokenManager::dpop_proof`](crate::TokenManager::dpop_proof) makes the proof for an
//!   API request (with `ath`), which the middleware sends beside `Authorization: DPoP …`.
//!
//! # The key at rest
//! A store that writes tokens somewhere (a file, Redis) writes the private key with them.
//! [`TokenManagerBuilder::build`](crate::TokenManagerBuilder::build) refuses DPoP with a
//! store that writes in clear (see
//! [`TokenStore::protects_secrets_at_rest`](crate::TokenStore::protects_secrets_at_rest)) unless
//! [`Dpop::plaintext_key_in_store`] says so: give the store an encryption key instead.

use std::fmt;
use std::sync::Arc;

mod key;
mod nonce;

pub use key::{DpopAlgorithm, DpopKey};
pub use nonce::DpopNonces;

/// How a manager uses DPoP: the key algorithm, a fixed key if one is given, and whether
/// the private key may be written in clear by the store.
///
/// ```
/// use grantkit_core::{Dpop, DpopAlgorithm};
///
/// let dpop = Dpop::new(DpopAlgorithm::Es256);
/// assert_eq!(dpop.algorithm(), DpopAlgorithm::Es256);
/// assert!(!dpop.allows_plaintext_key_in_store());
/// ```
#[derive(Clone, Default)]
pub struct Dpop {
    alg: DpopAlgorithm,
    key: Option<DpopKey>,
    plaintext_key_in_store: bool,
}

impl Dpop {
    /// DPoP with a new key of `alg` for each new token.
    pub fn new(alg: DpopAlgorithm) -> Self {
        Dpop {
            alg,
            key: None,
            plaintext_key_in_store: false,
        }
    }

    /// DPoP with this one key for every token (its algorithm replaces the one given to
    /// [`new`](Self::new)). For a key the server knows in advance, or one kept in a
    /// secret manager; the default is a new key per token.
    #[must_use]
    pub fn key(mut self, key: DpopKey) -> Self {
        self.alg = key.algorithm();
        self.key = Some(key);
        self
    }

    /// Allows a store that writes in clear to write the private key with the token.
    /// Off by default: prefer the store's encryption key.
    #[must_use]
    pub fn plaintext_key_in_store(mut self, allow: bool) -> Self {
        self.plaintext_key_in_store = allow;
        self
    }

    /// The key algorithm.
    pub fn algorithm(&self) -> DpopAlgorithm {
        self.alg
    }

    /// The fixed key, if one was given.
    pub fn fixed_key(&self) -> Option<&DpopKey> {
        self.key.as_ref()
    }

    /// Whether a store may write the private key in clear.
    pub fn allows_plaintext_key_in_store(&self) -> bool {
        self.plaintext_key_in_store
    }

    /// The key for a new token request: the fixed key, the key of `previous` when it is
    /// being refreshed (it has a refresh token and a key of this algorithm), or a new key.
    pub(crate) fn key_for(&self, previous: Option<&crate::Token>) -> crate::Result<DpopKey> {
        if let Some(key) = &self.key {
            return Ok(key.clone());
        }
        if let Some(key) = previous
            .filter(|p| p.refresh_token().is_some())
            .and_then(crate::Token::dpop_key)
            .filter(|k| k.algorithm() == self.alg)
        {
            return Ok(key.clone());
        }
        DpopKey::generate(self.alg)
    }

    /// Whether a stored token bound to `key` may be used by this manager.
    pub(crate) fn accepts(&self, key: &DpopKey) -> bool {
        match &self.key {
            Some(fixed) => fixed == key,
            None => key.algorithm() == self.alg,
        }
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("alg", &self.alg.as_str())
            .field("key", &self.key)
            .field("plaintext_key_in_store", &self.plaintext_key_in_store)
            .finish()
    }
}

/// What a [`GrantContext`](crate::GrantContext) signs token requests with: the key the
/// token will be bound to and the servers' nonces.
#[derive(Clone, Debug)]
pub(crate) struct DpopBinding {
    pub(crate) key: DpopKey,
    pub(crate) nonces: Arc<DpopNonces>,
}

#[cfg(test)]
mod tests;
