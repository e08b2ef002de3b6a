//! DPoP proofs for API requests made with the manager's tokens.

use std::sync::Arc;

use super::TokenManager;
use crate::dpop::DpopNonces;
use crate::error::{Error, Result};
use crate::token::Token;

impl TokenManager {
    /// The `DPoP` header value for an API request of `method` to `url` made with `token`
    /// (RFC 9449 §7): a fresh proof signed with the token's key, with `ath` (the token's
    /// hash, computed once per token) and the nonce `url`'s server last sent, if any.
    /// `None` for a token that is not a `DPoP` token: it goes as a bearer token, without
    /// a proof. The header value is marked sensitive.
    ///
    /// The reqwest middleware (`grantkit::middleware`) and the tower layer call this for
    /// every request; call it yourself for another HTTP client, with
    /// [`Token::header_value`] as the `Authorization` header (`DPoP <token>`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `token` is a `DPoP` token
    /// without a key (built by hand), `url` is not an absolute `http(s)` URL, or signing
    /// fails.
    ///
    /// ```no_run
    /// # async fn run(manager: grantkit_core::TokenManager) -> grantkit_core::Result<()> {
    /// let url = "https://api.example.com/v1/things?page=2";
    /// let token = manager.token().await?;
    /// if let Some(proof) = manager.dpop_proof("GET", url, &token)? {
    ///     // Authorization: DPoP <token>, DPoP: <proof>
    ///     # let _ = proof;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        token: &Token,
    ) -> Result<Option<http::HeaderValue>> {
        if !token.is_dpop() {
            return Ok(None);
        }
        let key = token.dpop_key().ok_or_else(|| {
            Error::config("a DPoP token without its key: no proof can be made for it")
        })?;
        let nonce = self.dpop_nonces().get(url);
        let proof = key.proof(
            method,
            url,
            nonce.as_deref(),
            token.dpop_ath(),
            self.inner.clock.now(),
        )?;
        let mut value = http::HeaderValue::try_from(proof)
            .map_err(|_| Error::config("a DPoP proof that is not a header value"))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// The nonces servers sent for DPoP proofs, by origin: the token endpoint's, which
    /// the manager keeps itself, and those of resource servers, which the middleware keeps
    /// from `DPoP-Nonce` headers (RFC 9449 §9). A manager without DPoP has an empty set.
    pub fn dpop_nonces(&self) -> &Arc<DpopNonces> {
        match &self.inner.settings.dpop {
            Some((_, nonces)) => nonces,
            None => &self.inner.no_dpop_nonces,
        }
    }

    /// Whether the manager was built with DPoP.
    pub fn uses_dpop(&self) -> bool {
        self.inner.settings.dpop.is_some()
    }
}
