//! `TokenManager::revoke` and `TokenManager::forget`: ending the manager's tokens.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::grant::GrantContext;
use crate::revoke::RevocableToken;
use crate::token::Token;

use super::TokenManager;

impl TokenManager {
    /// Revokes the manager's tokens at the authorization server (RFC 7009), then forgets
    /// them (see [`forget`](Self::forget)): the refresh token first (`token_type_hint=refresh_token`;
    /// RFC 7009 §2.1 lets the server drop the access tokens of the same grant with it), then
    /// the access token, unless it has expired (`token_type_hint=access_token`). The token
    /// revoked is the store's (another process may have renewed it) or else the cached
    /// one, even if expired or invalidated. With no token, there is nothing to revoke and
    /// this returns `Ok(())`.
    ///
    /// Each revocation is one request (no retries), within the attempt timeout, with the
    /// manager's HTTP client and URL policy; the client authenticates as the
    /// [revoker](crate::TokenManagerBuilder::revoker) says. A token the server does not
    /// know counts as revoked (RFC 7009 §2.2). When the server refuses to revoke access
    /// tokens (`unsupported_token_type`, §2.2.1) after the refresh token was revoked, the
    /// access token is left to expire and this still succeeds.
    ///
    /// A renewal already running when `revoke` is called may still store a new token.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when no revoker was given; the server's refusal
    /// ([`ErrorKind::OAuth`], [`ErrorKind::Status`]) or a transport error otherwise. On an
    /// error the tokens are kept, so that a later call can try again; call
    /// [`forget`](Self::forget) to drop them anyway.
    ///
    /// ```no_run
    /// # async fn run(manager: grantkit_core::TokenManager) -> grantkit_core::Result<()> {
    /// manager.revoke().await?; // logged out: the next token() logs in anew
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self) -> Result<()> {
        let inner = &self.inner;
        let Some(revoker) = inner.settings.revoker.clone() else {
            return Err(Error::config(
                "no revocation endpoint is configured: give one with \
                 TokenManagerBuilder::revoker (revocation_url in a profile)",
            ));
        };
        let Some(token) = self.last_token().await else {
            self.forget_revoked().await;
            return Ok(());
        };
        let cx = GrantContext::new(Arc::clone(&inner.http), Arc::clone(&inner.clock))
            .danger_allow_http(inner.settings.allow_http);
        let timeout = inner.settings.attempt_timeout;
        let attempt = |revocable: RevocableToken| {
            let revoker = Arc::clone(&revoker);
            let cx = cx.clone();
            async move {
                let what = revocable.type_hint();
                match tokio::time::timeout(timeout, revoker.revoke(&cx, &revocable)).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        format!("the revocation request took longer than {timeout:?}"),
                    )),
                }
                .map_err(|e| {
                    e.with_context(format_args!("revoking the {}", what.replace('_', " ")))
                })
            }
        };
        let refresh_revoked = match token.refresh_token() {
            Some(refresh) => {
                attempt(RevocableToken::Refresh(refresh.clone())).await?;
                tracing::debug!(key = %inner.key, "refresh token revoked");
                true
            }
            None => false,
        };
        if !token.is_expired(inner.clock.now()) {
            match attempt(RevocableToken::Access(token.access_token().clone())).await {
                Ok(()) => tracing::debug!(key = %inner.key, "access token revoked"),
                Err(e) if refresh_revoked && is_unsupported_token_type(&e) => {
                    tracing::debug!(
                        key = %inner.key,
                        "the server does not revoke access tokens; the access token expires by itself"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        self.forget_revoked().await;
        Ok(())
    }

    /// [`forget`](Self::forget) after a revocation: a store error is logged and counted,
    /// not returned, since the server has already ended the token.
    async fn forget_revoked(&self) {
        if let Err(e) = self.forget().await {
            self.inner.store_error("remove", &e);
        }
    }

    /// The token to revoke: the store's, else the cached one (expired or not).
    async fn last_token(&self) -> Option<Token> {
        let inner = &self.inner;
        match inner.store.load(&inner.key).await {
            Ok(Some(stored)) => return Some(stored),
            Ok(None) => {}
            Err(e) => inner.store_error("load", &e),
        }
        inner
            .current
            .load()
            .as_ref()
            .map(|entry| entry.token().clone())
    }
}

fn is_unsupported_token_type(e: &Error) -> bool {
    e.oauth_error()
        .is_some_and(|o| o.error == "unsupported_token_type")
}
