//! [`ClientGrant`]: the client setters every grant gets from its [`ClientOptions`].

use grantkit_core::{ClientSecret, SecretSource, TokenEndpoint};

use super::ClientOptions;
use crate::client::{BodyFormat, ClientAuth};
use crate::refresh::{RefreshTokenGrant, WithRefresh};
use crate::revocation::Revocation;

/// A grant made by an OAuth client with [`ClientOptions`]: the client setters, written
/// once, for every grant of this crate.
///
/// Bring the trait into scope (`use grantkit::ClientGrant;`) to call them on a grant:
///
/// ```
/// use grantkit_grants::{ClientAuth, ClientCredentials, ClientGrant};
///
/// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
///     .client_auth(ClientAuth::Body)
///     .scope("read write")
///     .param("audience", "https://api.example.com");
/// assert_eq!(grant.client_options().requested_scope().as_deref(), Some("read write"));
/// ```
///
/// # Implementing
/// A grant of your own that embeds [`ClientOptions`] implements the three required
/// methods and gets every setter.
pub trait ClientGrant: Sized {
    /// The token endpoint's URL, or the issuer when the grant discovers its token
    /// endpoint (see [`TokenEndpoint::as_str`]).
    fn token_url(&self) -> &str;

    /// Where the grant sends token requests: its token URL, or its issuer's
    /// [`Discovery`](grantkit_core::Discovery), shared with the grant's clones and its
    /// [`with_refresh`](ClientGrant::with_refresh) companion. The default wraps
    /// [`token_url`](ClientGrant::token_url).
    fn token_endpoint(&self) -> TokenEndpoint {
        TokenEndpoint::from(self.token_url())
    }

    /// The client options.
    fn client_options(&self) -> &ClientOptions;

    /// The client options, to change in place.
    fn client_options_mut(&mut self) -> &mut ClientOptions;

    /// Replaces the client options with `f(options)`.
    ///
    /// ```
    /// # use grantkit_grants::{ClientCredentials, ClientGrant};
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
    ///     .map_client_options(|o| o.scope("read").param("resource", "r"));
    /// # let _ = grant;
    /// ```
    #[must_use]
    fn map_client_options(mut self, f: impl FnOnce(ClientOptions) -> ClientOptions) -> Self {
        let options = std::mem::take(self.client_options_mut());
        *self.client_options_mut() = f(options);
        self
    }

    /// [`ClientOptions::client_secret`].
    #[must_use]
    fn client_secret(self, secret: impl Into<SecretSource<ClientSecret>>) -> Self {
        self.map_client_options(|o| o.client_secret(secret))
    }

    /// [`ClientOptions::client_auth`].
    #[must_use]
    fn client_auth(self, auth: ClientAuth) -> Self {
        self.map_client_options(|o| o.client_auth(auth))
    }

    /// [`ClientOptions::body`].
    #[must_use]
    fn body(self, body: BodyFormat) -> Self {
        self.map_client_options(|o| o.body(body))
    }

    /// [`ClientOptions::scope`].
    #[must_use]
    fn scope(self, scope: impl AsRef<str>) -> Self {
        self.map_client_options(|o| o.scope(scope))
    }

    /// [`ClientOptions::scopes`].
    #[must_use]
    fn scopes<S: Into<String>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.map_client_options(|o| o.scopes(scopes))
    }

    /// [`ClientOptions::param`].
    #[must_use]
    fn param(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.map_client_options(|o| o.param(name, value))
    }

    /// This grant, renewed through the refresh token of its previous token first (see
    /// [`WithRefresh`]): the refresh request goes to the same token URL (or issuer, sharing
    /// its cached metadata) with the same
    /// client id, secret, authentication and body format, without scope or extra
    /// parameters.
    ///
    /// ```
    /// use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant};
    ///
    /// let grant = PasswordGrant::new("https://a.example/token", ClientOptions::json("app", "s"), "me", "pw")
    ///     .with_refresh();
    /// assert_eq!(grant.refresh_grant().token_url(), "https://a.example/token");
    /// ```
    fn with_refresh(self) -> WithRefresh<Self>
    where
        Self: grantkit_core::Grant,
    {
        let refresh =
            RefreshTokenGrant::new(self.token_endpoint(), self.client_options().client_only());
        WithRefresh::new(self, refresh)
    }

    /// A [`Revocation`] of this grant's tokens at `revocation_url` (RFC 7009), with the
    /// same client id, secret, authentication and body format; hand it to
    /// [`TokenManagerBuilder::revoker`](grantkit_core::TokenManagerBuilder::revoker).
    ///
    /// ```
    /// use grantkit_grants::{ClientCredentials, ClientGrant};
    ///
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// let revocation = grant.revocation("https://a.example/revoke");
    /// assert_eq!(revocation.url(), "https://a.example/revoke");
    /// ```
    fn revocation(&self, revocation_url: impl Into<String>) -> Revocation {
        Revocation::new(revocation_url, self.client_options().client_only())
    }
}
