//! The `Revoker` trait: how a token is revoked (RFC 7009).

use std::fmt;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::grant::GrantContext;
use crate::http::{HttpRequest, header_pairs};
use crate::secret::{AccessToken, RefreshToken};

/// A token to revoke, and so its `token_type_hint` (RFC 7009 §2.1).
///
/// Its `Debug` shows the kind, never the token.
///
/// ```
/// use grantkit_core::{RefreshToken, RevocableToken};
///
/// let token = RevocableToken::Refresh(RefreshToken::new("r-123"));
/// assert_eq!(token.type_hint(), "refresh_token");
/// assert_eq!(token.secret(), "r-123");
/// assert_eq!(format!("{token:?}"), "Refresh(RefreshToken([redacted]))");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RevocableToken {
    /// An access token: `token_type_hint=access_token`.
    Access(AccessToken),
    /// A refresh token: `token_type_hint=refresh_token`.
    Refresh(RefreshToken),
}

impl RevocableToken {
    /// The token's value.
    ///
    /// # Security
    /// The token itself: send it to the revocation endpoint, never log it.
    pub fn secret(&self) -> &str {
        match self {
            RevocableToken::Access(t) => t.secret(),
            RevocableToken::Refresh(t) => t.secret(),
        }
    }

    /// `access_token` or `refresh_token`, the `token_type_hint` of RFC 7009 §2.1.
    pub fn type_hint(&self) -> &'static str {
        match self {
            RevocableToken::Access(_) => "access_token",
            RevocableToken::Refresh(_) => "refresh_token",
        }
    }
}

/// Revokes tokens at an authorization server (RFC 7009); what
/// [`TokenManager::revoke`](crate::TokenManager::revoke) calls, given to the manager with
/// [`TokenManagerBuilder::revoker`](crate::TokenManagerBuilder::revoker).
///
/// `grantkit_grants::Revocation` implements it for a revocation endpoint and a client
/// (every client authentication method); implement it for a server with another
/// protocol.
///
/// # Contract
/// - [`revoke`](Revoker::revoke) makes one attempt, through [`GrantContext::send`] (or
///   [`GrantContext::revoke_exchange`]), and returns `Ok(())` when the server says the
///   token is no longer valid — including a token the server does not know (RFC 7009
///   §2.2: an invalid token is not an error).
/// - Errors and `Debug` never contain the token or a client secret.
///
/// # Implementing
/// ```
/// use async_trait::async_trait;
/// use grantkit_core::{GrantContext, Result, RevocableToken, Revoker, TokenRequest};
///
/// #[derive(Debug)]
/// struct Logout { url: String }
///
/// #[async_trait]
/// impl Revoker for Logout {
///     async fn revoke(&self, cx: &GrantContext, token: &RevocableToken) -> Result<()> {
///         let request = TokenRequest::post(&self.url)
///             .form([("token", token.secret()), ("token_type_hint", token.type_hint())])
///             .build()?;
///         cx.revoke_exchange(request).await
///     }
/// }
/// ```
#[async_trait]
pub trait Revoker: Send + Sync + fmt::Debug {
    /// Makes one attempt to revoke `token`.
    async fn revoke(&self, cx: &GrantContext, token: &RevocableToken) -> Result<()>;
}

impl GrantContext {
    /// Sends a revocation request (RFC 7009 §2.1) and reads the answer: HTTP 200 is
    /// success whatever the body (§2.2: also for a token the server does not know); any
    /// other status is an error parsed as a token endpoint's
    /// ([`Error::from_response`]): `unsupported_token_type` (§2.2.1) is
    /// [`ErrorKind::OAuth`](crate::ErrorKind::OAuth), a 503 is retryable.
    ///
    /// # Errors
    /// As for [`GrantContext::send`], and the server's refusal.
    pub async fn revoke_exchange(&self, request: HttpRequest) -> Result<()> {
        let response = self.send(request).await?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let error = Error::from_response(status, &header_pairs(&response), response.body());
        let message = match error.kind() {
            crate::ErrorKind::OAuth => "revocation endpoint refused the request",
            _ => "revocation endpoint answered an error",
        };
        Err(error.with_message(message))
    }
}
