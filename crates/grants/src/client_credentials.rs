//! The client-credentials grant (RFC 6749 §4.4).

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use grantkit_core::{
    ClientSecret, Discovery, Grant, GrantContext, GrantIdentity, HttpRequest, Result, SecretSource,
    Token, TokenEndpoint,
};

use crate::options::ClientOptions;

/// Body parameters the grant sets itself.
const RESERVED: &[&str] = &["grant_type", "client_id", "client_secret", "scope"];

/// The client-credentials grant (RFC 6749 §4.4): a confidential client obtains a token
/// for itself with its id and secret.
///
/// # Wire format
/// The client is described by [`ClientOptions`] (see [`ClientGrant`](crate::ClientGrant) for its setters).
///
/// Form body, [`ClientAuth::Basic`](crate::ClientAuth::Basic) (the default for forms):
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
/// Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))
///
/// grant_type=client_credentials[&scope=…][&extra…]
/// ```
/// Form body, [`ClientAuth::Body`](crate::ClientAuth::Body):
/// `grant_type=client_credentials&client_id=…&client_secret=…[&scope=…][&extra…]`.
///
/// JSON body, [`ClientAuth::Body`](crate::ClientAuth::Body) (the default for JSON), e.g. 24SevenOffice:
/// ```text
/// POST {token_url}
/// Content-Type: application/json
///
/// {"grant_type":"client_credentials","client_id":…,"client_secret":…,"audience":"https://api.24sevenoffice.com","login_organization":…}
/// ```
/// (`scope`, when set, follows `client_secret`; extra parameters come last, in the order
/// they were added.)
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientCredentials, ClientGrant};
///
/// let grant = ClientCredentials::json(
///     "https://login.24sevenoffice.com/oauth/token",
///     "my-client-id",
///     std::env::var("CLIENT_SECRET").unwrap_or_default(),
/// )
/// .param("audience", "https://api.24sevenoffice.com")
/// .param("login_organization", "123456");
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let header = manager.token().await?.authorization_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    token_url: TokenEndpoint,
    options: ClientOptions,
}

impl ClientCredentials {
    /// A client-credentials grant at `token_url` for the client `options` describe.
    ///
    /// ```
    /// use grantkit_grants::{ClientAuth, ClientCredentials, ClientGrant, ClientOptions};
    ///
    /// let grant = ClientCredentials::new(
    ///     "https://a.example/token",
    ///     ClientOptions::form("app", "s3cret").scope("read"),
    /// );
    /// assert_eq!(grant.client_options().client_auth_method(), ClientAuth::Basic);
    /// ```
    ///
    /// `token_url` may also be an issuer to discover the token endpoint from (a
    /// [`Discovery`] or [`TokenEndpoint::issuer`]); see [`discover`](Self::discover).
    pub fn new(token_url: impl Into<TokenEndpoint>, options: ClientOptions) -> Self {
        ClientCredentials {
            token_url: token_url.into(),
            options,
        }
    }

    /// A client-credentials grant at the token endpoint that `issuer`'s metadata names
    /// (RFC 8414, OpenID Connect Discovery; see [`Discovery`]). The metadata is fetched by
    /// the first token request and cached; before any token request, the grant checks
    /// that the server lists `client_credentials` and the client's authentication method
    /// (when it lists them).
    ///
    /// ```
    /// use grantkit_grants::{ClientCredentials, ClientGrant, ClientOptions};
    ///
    /// let grant = ClientCredentials::discover(
    ///     "https://auth.example.com",
    ///     ClientOptions::form("app", "s3cret").scope("read"),
    /// );
    /// assert_eq!(grant.token_url(), "https://auth.example.com"); // the issuer, until discovered
    /// assert!(grant.token_endpoint().discovery().is_some());
    /// ```
    pub fn discover(issuer: impl Into<String>, options: ClientOptions) -> Self {
        Self::new(Discovery::new(issuer), options)
    }

    /// Shorthand for `new(token_url, ClientOptions::form(client_id, client_secret))`: a
    /// form-encoded grant (RFC 6749), authenticating with HTTP Basic.
    ///
    /// ```
    /// use grantkit_grants::{ClientCredentials, ClientGrant};
    ///
    /// let grant = ClientCredentials::form("https://auth.example.com/token", "app", "s3cret")
    ///     .scope("read write");
    /// # let _ = grant;
    /// ```
    pub fn form(
        token_url: impl Into<TokenEndpoint>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource<ClientSecret>>,
    ) -> Self {
        Self::new(token_url, ClientOptions::form(client_id, client_secret))
    }

    /// Shorthand for `new(token_url, ClientOptions::json(client_id, client_secret))`: a
    /// JSON body, the credentials in the body (24SevenOffice).
    ///
    /// ```
    /// use grantkit_grants::{ClientCredentials, ClientGrant};
    ///
    /// let grant = ClientCredentials::json("https://login.24sevenoffice.com/oauth/token", "id", "secret")
    ///     .param("audience", "https://api.24sevenoffice.com")
    ///     .param("login_organization", "42");
    /// # let _ = grant;
    /// ```
    pub fn json(
        token_url: impl Into<TokenEndpoint>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource<ClientSecret>>,
    ) -> Self {
        Self::new(token_url, ClientOptions::json(client_id, client_secret))
    }

    /// Checks the configuration without sending anything; [`fetch_token`](Grant::fetch_token)
    /// calls it too.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a token URL that is not
    /// `http(s)` (or an issuer that is not a valid one), an empty client id, or an extra parameter named like one the grant sets.
    ///
    /// ```
    /// # use grantkit_grants::{ClientCredentials, ClientGrant};
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// assert!(grant.validate().is_ok());
    /// assert!(grant.clone().param("client_id", "other").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.token_url.validate()?;
        self.options.validate(RESERVED)
    }

    fn request(&self, token_url: &str, now: SystemTime) -> Result<HttpRequest> {
        let options = self.options.resolved()?;
        let scope = options.requested_scope();
        let mut fields: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        options.push_body_credentials(&mut fields);
        options.push_scope_and_params(&scope, &mut fields);
        options.request(token_url, &fields, now)
    }
}

impl_client_grant!(ClientCredentials);

#[async_trait]
impl Grant for ClientCredentials {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        crate::discovered::exchange(
            cx,
            &self.token_url,
            &self.options,
            Some("client_credentials"),
            |url| self.request(url, cx.now()),
        )
        .await
    }

    /// Kind `client_credentials`, the token URL (the issuer, when discovered), the client id, the scope, the
    /// `audience` parameter as the audience and every other extra parameter.
    fn identity(&self) -> GrantIdentity {
        self.options.identify(GrantIdentity::new(
            "client_credentials",
            self.token_url.as_str(),
        ))
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientAuth;
    use crate::options::ClientGrant as _;

    fn body(req: &HttpRequest) -> &str {
        std::str::from_utf8(req.body()).unwrap()
    }

    #[test]
    fn form_body_with_credentials_in_body() {
        let req = ClientCredentials::form("https://a.example/token", "app", "s3cret")
            .client_auth(ClientAuth::Body)
            .scope("read  write")
            .request("https://a.example/token", std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            body(&req),
            "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=read+write"
        );
        assert!(req.headers().get("authorization").is_none());
    }

    #[test]
    fn params_keep_insertion_order_and_replace_in_place() {
        let req = ClientCredentials::json("https://a.example/token", "id", "sec")
            .param("b", "1")
            .param("a", "2")
            .param("b", "3")
            .request("https://a.example/token", std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            body(&req),
            r#"{"grant_type":"client_credentials","client_id":"id","client_secret":"sec","b":"3","a":"2"}"#
        );
    }

    #[test]
    fn identity_separates_what_changes_the_token() {
        let base = ClientCredentials::json("https://a.example/token", "id", "sec");
        let keys = [
            base.clone(),
            base.clone().scope("x"),
            base.clone().param("audience", "https://api"),
            base.clone().param("login_organization", "1"),
            base.clone().param("login_organization", "2"),
            ClientCredentials::json("https://a.example/token", "id2", "sec"),
        ]
        .map(|g| g.identity().cache_key());
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        // The secret and the wire details do not change which token is issued.
        assert_eq!(
            base.identity(),
            ClientCredentials::form("https://a.example/token", "id", "other")
                .client_auth(ClientAuth::Body)
                .identity()
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let g = ClientCredentials::form("https://a.example/token", "app", "s3cret-value");
        let dbg = format!("{g:?}");
        assert!(!dbg.contains("s3cret-value"), "{dbg}");
        assert!(dbg.contains("ClientSecret([redacted])"), "{dbg}");
        assert!(dbg.ends_with(", .. }"), "{dbg}");
    }
}
