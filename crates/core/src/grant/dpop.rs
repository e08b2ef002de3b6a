//! DPoP (RFC 9449) on token requests: the proof, the nonce retry, the bound token.

use std::sync::Arc;

use super::GrantContext;
use crate::error::Result;
use crate::http::HttpRequest;
use crate::token::Token;

impl GrantContext {
    /// Sends what `build` makes with a DPoP proof; after a `use_dpop_nonce` answer, once
    /// more with the nonce. Every `DPoP-Nonce` the server sends is remembered.
    pub(super) async fn exchange_dpop(
        &self,
        dpop: &crate::dpop::DpopBinding,
        build: &(dyn Fn() -> Result<HttpRequest> + Send + Sync),
    ) -> Result<Token> {
        let mut retried = false;
        loop {
            let mut request = build()?;
            let url = request.uri().to_string();
            let nonce = dpop.nonces.get(&url);
            let proof = dpop.key.proof(
                request.method().as_str(),
                &url,
                nonce.as_deref(),
                None,
                self.now(),
            )?;
            let value = http::HeaderValue::try_from(proof)
                .map_err(|_| crate::Error::config("a DPoP proof that is not a header value"))?;
            request.headers_mut().insert(DPOP, value);
            let sent_at = self.now();
            let response = self.send(request).await?;
            let fresh_nonce = response
                .headers()
                .get(DPOP_NONCE)
                .and_then(|v| v.to_str().ok())
                .filter(|n| dpop.nonces.remember(&url, n))
                .is_some();
            let result = self.parse_token(&response, sent_at, &["DPoP"]);
            match result {
                Err(e) if !retried && fresh_nonce && is_use_dpop_nonce(&e) => {
                    tracing::debug!(
                        url = %crate::redact_url(&url),
                        "the token endpoint asks for a DPoP nonce; sending the request again with it"
                    );
                    retried = true;
                }
                Err(e) => return Err(e),
                Ok(token) => return Ok(token.with_dpop_key(dpop.key.clone())),
            }
        }
    }

    /// The same context, signing token requests with `key` (DPoP, RFC 9449) and keeping
    /// the servers' nonces in `nonces`; see [`exchange`](Self::exchange). The manager
    /// sets this when it was built with [`dpop`](crate::TokenManagerBuilder::dpop).
    #[must_use]
    pub fn with_dpop(mut self, key: crate::DpopKey, nonces: Arc<crate::DpopNonces>) -> Self {
        self.dpop = Some(crate::dpop::DpopBinding { key, nonces });
        self
    }

    /// The DPoP key token requests are signed with, if any.
    pub fn dpop_key(&self) -> Option<&crate::DpopKey> {
        self.dpop.as_ref().map(|d| &d.key)
    }
}

/// The header of a DPoP proof.
const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// The header a server sends its DPoP nonce in.
const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

fn is_use_dpop_nonce(error: &crate::Error) -> bool {
    error
        .oauth_error()
        .is_some_and(|o| o.error == "use_dpop_nonce")
}
