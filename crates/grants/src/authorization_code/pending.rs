//! [`PendingLogin`]: a login whose listener waits for the browser.

use std::fmt;

use grantkit_core::{GrantContext, Result, Token};

use super::AuthorizationCodeLogin;
use super::listener::Listener;
use crate::Pkce;

/// A login under way: the listener is bound, the authorization URL is ready. Show the URL,
/// then [`finish`](Self::finish). Dropping it closes the listener.
pub struct PendingLogin {
    login: AuthorizationCodeLogin,
    url: String,
    redirect_uri: String,
    state: String,
    pkce: Pkce,
    listener: Listener,
}

impl PendingLogin {
    pub(super) fn new(
        login: AuthorizationCodeLogin,
        url: String,
        redirect_uri: String,
        state: String,
        pkce: Pkce,
        listener: Listener,
    ) -> Self {
        PendingLogin {
            login,
            url,
            redirect_uri,
            state,
            pkce,
            listener,
        }
    }

    /// The URL to open in the browser. It carries the `state` and the PKCE challenge,
    /// never a secret: showing it is safe.
    pub fn authorization_url(&self) -> &str {
        &self.url
    }

    /// The redirect URI, `http://127.0.0.1:{port}/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the redirect, then redeems the code at the token endpoint. A login started
    /// with a DPoP context asked for a code bound to its key (`dpop_jkt`): `cx` must sign
    /// with the same key, or the server refuses the code.
    ///
    /// # Errors
    /// See [`AuthorizationCodeLogin`]'s "The listener" for the redirect's failures; then
    /// the token endpoint's refusal or a transport error, as for every grant.
    pub async fn finish(self, cx: &GrantContext) -> Result<Token> {
        let PendingLogin {
            login,
            redirect_uri,
            state,
            pkce,
            listener,
            ..
        } = self;
        let code = listener
            .wait(login.redirect_path.clone(), state, login.timeout)
            .await?;
        tracing::debug!(
            token_url = %grantkit_core::redact_url(login.token_url.as_str()),
            "redeeming the authorization code"
        );
        crate::discovered::exchange(
            cx,
            &login.token_url,
            &login.options,
            Some("authorization_code"),
            |url| login.request(url, &code, &redirect_uri, &pkce, cx.now()),
        )
        .await
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce", &self.pkce)
            .finish_non_exhaustive()
    }
}
