//! The refresh-token grant (RFC 6749 §6), standalone and as the first step of other grants.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use grantkit_core::{
    Grant, GrantContext, GrantIdentity, HttpRequest, RefreshToken, Result, Token, TokenEndpoint,
};

use crate::error::GrantError;
use crate::options::ClientOptions;

/// Body parameters the refresh request sets itself.
const RESERVED: &[&str] = &[
    "grant_type",
    "refresh_token",
    "client_id",
    "client_secret",
    "scope",
];

/// The refresh token of the previous token, if the manager had one.
fn previous_refresh_token(cx: &GrantContext) -> Option<&RefreshToken> {
    cx.previous().and_then(Token::refresh_token)
}

/// The refresh-token grant (RFC 6749 §6): trades a refresh token for a new access token.
///
/// Use it standalone when all you have is a refresh token (obtained once by an
/// interactive flow, say), or wrap another grant with [`WithRefresh`] so that it renews
/// through its refresh token before logging in again.
///
/// The refresh token sent is the one the previous token carries (the latest, if the
/// server rotates them), else the one given to
/// [`refresh_token`](RefreshTokenGrant::refresh_token). When the server's answer has no
/// `refresh_token` (no rotation), the new token keeps the one that was sent.
///
/// # Wire format
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
/// Authorization: Basic …            (with a client secret and ClientAuth::Basic)
///
/// grant_type=refresh_token&refresh_token=…[&client_id=…&client_secret=…][&scope=…][&extra…]
/// ```
/// With [`BodyFormat::Json`](crate::BodyFormat::Json), the same members in the same order as a JSON object.
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientOptions, RefreshTokenGrant};
///
/// let client = ClientOptions::form("my-client", std::env::var("CLIENT_SECRET").unwrap_or_default());
/// let grant = RefreshTokenGrant::new("https://auth.example.com/oauth/token", client)
///     .refresh_token(std::env::var("REFRESH_TOKEN").unwrap_or_default());
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let token = manager.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RefreshTokenGrant {
    token_url: TokenEndpoint,
    options: ClientOptions,
    refresh_token: Option<RefreshToken>,
}

impl RefreshTokenGrant {
    /// A refresh-token grant at `token_url` (or an issuer's discovered token endpoint,
    /// [`TokenEndpoint::issuer`]) for the client `options` describe.
    ///
    /// Without a client secret it acts as a public client and sends `client_id` in the
    /// body. A scope set in the options asks for a narrower scope; without it, the
    /// server grants the scope originally granted (RFC 6749 §6).
    ///
    /// ```
    /// use grantkit_grants::{ClientOptions, RefreshTokenGrant};
    ///
    /// let grant = RefreshTokenGrant::new("https://auth.example.com/token", ClientOptions::new("app"));
    /// # let _ = grant;
    /// ```
    pub fn new(token_url: impl Into<TokenEndpoint>, options: ClientOptions) -> Self {
        RefreshTokenGrant {
            token_url: token_url.into(),
            options,
            refresh_token: None,
        }
    }

    /// The refresh token to start from, used until a token with a newer one exists.
    ///
    /// It is part of the identity only as a short SHA-256 fingerprint, so that two
    /// users' refresh tokens never share a cached token.
    ///
    /// ```
    /// # use grantkit_grants::{ClientOptions, RefreshTokenGrant};
    /// let grant = RefreshTokenGrant::new("https://a.example/token", ClientOptions::new("app"))
    ///     .refresh_token("rt-1");
    /// # let _ = grant;
    /// ```
    #[must_use]
    pub fn refresh_token(mut self, refresh_token: impl Into<RefreshToken>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// Checks the configuration without sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an invalid token URL, an
    /// empty client id, or an extra parameter that the grant sets itself.
    ///
    /// ```
    /// # use grantkit_grants::{ClientGrant, ClientOptions, RefreshTokenGrant};
    /// let bad = RefreshTokenGrant::new("https://a.example/token", ClientOptions::new("app"))
    ///     .param("grant_type", "x");
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.token_url.validate()?;
        self.options.validate(RESERVED)
    }

    /// Redeems `refresh_token` once, whatever this grant's own refresh token is.
    ///
    /// # Errors
    /// The token endpoint's refusal (e.g. [`is_invalid_grant`](grantkit_core::Error::is_invalid_grant)
    /// for a revoked token), a transport error, or a configuration error.
    ///
    /// ```no_run
    /// # async fn run(cx: grantkit_core::GrantContext) -> grantkit_core::Result<()> {
    /// use grantkit_core::RefreshToken;
    /// use grantkit_grants::{ClientOptions, RefreshTokenGrant};
    ///
    /// let grant = RefreshTokenGrant::new("https://auth.example.com/token", ClientOptions::new("app"));
    /// let token = grant.refresh(&cx, &RefreshToken::new("rt-1")).await?;
    /// assert!(token.refresh_token().is_some()); // rotated, or the one sent
    /// # Ok(()) }
    /// ```
    pub async fn refresh(&self, cx: &GrantContext, refresh_token: &RefreshToken) -> Result<Token> {
        self.validate()?;
        self.send(cx, refresh_token).await
    }

    /// Form: `grant_type=refresh_token&refresh_token=…[&client_id=…&client_secret=…][&scope=…]`
    /// then the extra parameters; JSON: the same members in the same order.
    fn request(
        &self,
        token_url: &str,
        refresh_token: &RefreshToken,
        now: SystemTime,
    ) -> Result<HttpRequest> {
        let options = self.options.resolved()?;
        let scope = options.requested_scope();
        let mut fields: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.secret()),
        ];
        options.push_body_credentials(&mut fields);
        options.push_scope_and_params(&scope, &mut fields);
        options.request(token_url, &fields, now)
    }

    /// Redeems `refresh_token`. When the server does not rotate it (its answer has no
    /// `refresh_token`), the token returned carries the one that was sent.
    async fn send(&self, cx: &GrantContext, refresh_token: &RefreshToken) -> Result<Token> {
        tracing::debug!(token_url = %grantkit_core::redact_url(self.token_url.as_str()), "renewing with the refresh token");
        // The server issued the refresh token: its grant_types_supported is not consulted.
        let token = crate::discovered::exchange(cx, &self.token_url, &self.options, None, |url| {
            self.request(url, refresh_token, cx.now())
        })
        .await?;
        Ok(match token.refresh_token() {
            Some(_) => token,
            None => token.with_refresh_token(refresh_token.clone()),
        })
    }

    /// Redeems `refresh_token` if there is one. `Ok(None)` means "use the primary grant":
    /// there was no refresh token, or the server answered `invalid_grant` (expired,
    /// revoked, already used). Any other failure is returned as it is, so that the
    /// manager can retry retryable ones.
    async fn send_or_fall_back(
        &self,
        cx: &GrantContext,
        refresh_token: Option<&RefreshToken>,
    ) -> Result<Option<Token>> {
        let Some(refresh_token) = refresh_token else {
            return Ok(None);
        };
        match self.send(cx, refresh_token).await {
            Ok(token) => Ok(Some(token)),
            Err(e) if e.is_invalid_grant() => {
                tracing::info!(
                    error = %e.report(),
                    "the refresh token was refused; obtaining a new token with the grant itself"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The refresh token to use: the previous token's, else the configured one.
    fn current_refresh_token<'a>(&'a self, cx: &'a GrantContext) -> Option<&'a RefreshToken> {
        previous_refresh_token(cx).or(self.refresh_token.as_ref())
    }
}

impl_client_grant!(RefreshTokenGrant);

#[async_trait]
impl Grant for RefreshTokenGrant {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        let refresh_token = self
            .current_refresh_token(cx)
            .ok_or_else(|| grantkit_core::Error::from(GrantError::NoRefreshToken))?;
        self.send(cx, refresh_token).await
    }

    /// Kind `refresh_token`, the token URL, the client id, the scope, the extra
    /// parameters, and `refresh_token_sha256`: the first 16 hex digits of the SHA-256 of
    /// the configured refresh token (not the refresh token).
    fn identity(&self) -> GrantIdentity {
        let mut identity = GrantIdentity::new("refresh_token", self.token_url.as_str());
        if let Some(rt) = &self.refresh_token {
            identity = identity.with_secret_param("refresh_token", rt.secret());
        }
        self.options.identify(identity)
    }
}

impl fmt::Debug for RefreshTokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenGrant")
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("refresh_token", &self.refresh_token)
            .finish_non_exhaustive()
    }
}

/// Any grant, renewed through its refresh token first.
///
/// When the previous token (or the [`RefreshTokenGrant`]'s configured one) carries a
/// refresh token, [`fetch_token`](Grant::fetch_token) redeems it with the
/// [`RefreshTokenGrant`]; when the server answers `invalid_grant` (expired, revoked,
/// already used), or there is no refresh token, it calls the wrapped grant. Other
/// failures of the refresh request are returned as they are, so the manager retries the
/// retryable ones — through the refresh token again.
///
/// This is the one way grantkit renews through refresh tokens: the grants themselves never
/// do. [`ClientGrant::with_refresh`](crate::ClientGrant::with_refresh) wraps any grant of this crate with a refresh grant of
/// the same client; `WithRefresh::new` takes any grant, of your own too, and any
/// [`RefreshTokenGrant`].
///
/// Its identity is the wrapped grant's: the refresh token renews the same token.
///
/// ```
/// use grantkit_grants::{ClientCredentials, ClientOptions, RefreshTokenGrant, WithRefresh};
///
/// let url = "https://auth.example.com/token";
/// let grant = WithRefresh::new(
///     ClientCredentials::form(url, "app", "s3cret"),
///     RefreshTokenGrant::new(url, ClientOptions::form("app", "s3cret")),
/// );
/// # let _ = grant;
/// ```
#[derive(Clone)]
pub struct WithRefresh<G> {
    grant: G,
    refresh: RefreshTokenGrant,
}

impl<G: Grant> WithRefresh<G> {
    /// Wraps `grant`, renewing with `refresh` first.
    ///
    /// ```
    /// # use grantkit_grants::{ClientCredentials, ClientOptions, RefreshTokenGrant, WithRefresh};
    /// let url = "https://auth.example.com/token";
    /// let grant = WithRefresh::new(
    ///     ClientCredentials::form(url, "app", "s3cret"),
    ///     RefreshTokenGrant::new(url, ClientOptions::form("app", "s3cret")),
    /// );
    /// # let _ = grant;
    /// ```
    pub fn new(grant: G, refresh: RefreshTokenGrant) -> Self {
        WithRefresh { grant, refresh }
    }

    /// The wrapped grant.
    ///
    /// ```
    /// # use grantkit_grants::{ClientCredentials, ClientGrant, ClientOptions, RefreshTokenGrant, WithRefresh};
    /// # let url = "https://auth.example.com/token";
    /// let grant = WithRefresh::new(
    ///     ClientCredentials::form(url, "app", "s3cret"),
    ///     RefreshTokenGrant::new(url, ClientOptions::new("app")),
    /// );
    /// assert_eq!(grant.grant().client_options().client_id(), "app");
    /// ```
    pub fn grant(&self) -> &G {
        &self.grant
    }

    /// The refresh-token grant used first.
    ///
    /// ```
    /// # use grantkit_grants::{ClientCredentials, ClientGrant, ClientOptions, RefreshTokenGrant, WithRefresh};
    /// # let url = "https://auth.example.com/token";
    /// let grant = WithRefresh::new(
    ///     ClientCredentials::form(url, "app", "s3cret"),
    ///     RefreshTokenGrant::new(url, ClientOptions::new("app")),
    /// );
    /// assert_eq!(grant.refresh_grant().token_url(), url);
    /// ```
    pub fn refresh_grant(&self) -> &RefreshTokenGrant {
        &self.refresh
    }
}

#[async_trait]
impl<G: Grant> Grant for WithRefresh<G> {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        let refresh_token = self.refresh.current_refresh_token(cx);
        if refresh_token.is_some() {
            self.refresh.validate()?;
        }
        match self.refresh.send_or_fall_back(cx, refresh_token).await? {
            Some(token) => Ok(token),
            None => self.grant.fetch_token(cx).await,
        }
    }

    fn identity(&self) -> GrantIdentity {
        self.grant.identity()
    }
}

impl<G: fmt::Debug> fmt::Debug for WithRefresh<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithRefresh")
            .field("grant", &self.grant)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_tells_refresh_tokens_apart_without_showing_them() {
        let g = |rt: &str| {
            RefreshTokenGrant::new("https://a.example/t", ClientOptions::new("app"))
                .refresh_token(rt)
        };
        let a = g("secret-rt-1").identity();
        let b = g("secret-rt-2").identity();
        assert_ne!(a.cache_key(), b.cache_key());
        assert_eq!(a.kind(), "refresh_token");
        let shown = format!("{a:?} {} {:?}", a.cache_key(), g("secret-rt-1"));
        assert!(!shown.contains("secret-rt"), "{shown}");
    }
}
