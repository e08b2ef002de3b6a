//! The client-credentials grant (RFC 6749 §4.4).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use grantkit_core::{ClientSecret, Grant, GrantContext, GrantIdentity, HttpRequest, Result, Token};

use crate::client::{BodyFormat, Client, ClientAuth, Params, Scope, validate_url};
use crate::refresh::{RefreshRequest, previous_refresh_token};

/// Body parameters the grant sets itself.
const RESERVED: &[&str] = &["grant_type", "client_id", "client_secret", "scope"];

/// The client-credentials grant (RFC 6749 §4.4): a confidential client obtains a token
/// for itself with its id and secret.
///
/// # Wire format
/// Form body, [`ClientAuth::Basic`] (the default for forms):
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
/// Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))
///
/// grant_type=client_credentials[&scope=…][&extra…]
/// ```
/// Form body, [`ClientAuth::Body`]:
/// `grant_type=client_credentials&client_id=…&client_secret=…[&scope=…][&extra…]`.
///
/// JSON body, [`ClientAuth::Body`] (the default for JSON), e.g. 24SevenOffice:
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
/// use grantkit_grants::ClientCredentials;
///
/// let grant = ClientCredentials::json(
///     "https://login.24sevenoffice.com/oauth/token",
///     "my-client-id",
///     std::env::var("CLIENT_SECRET").unwrap_or_default(),
/// )
/// .audience("https://api.24sevenoffice.com")
/// .param("login_organization", "123456");
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let header = manager.token().await?.authorization_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    token_url: String,
    client: Client,
    format: BodyFormat,
    scope: Scope,
    params: Params,
    use_refresh_token: bool,
}

impl ClientCredentials {
    /// A client-credentials grant with a `format` body and that format's default client
    /// authentication ([`BodyFormat::default_client_auth`]).
    ///
    /// ```
    /// use grantkit_grants::{BodyFormat, ClientAuth, ClientCredentials};
    ///
    /// let grant = ClientCredentials::new(BodyFormat::Form, "https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.client_auth_method(), ClientAuth::Basic);
    /// ```
    pub fn new(
        format: BodyFormat,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        ClientCredentials {
            token_url: token_url.into(),
            client: Client::new(
                client_id.into(),
                Some(client_secret.into()),
                format.default_client_auth(),
            ),
            format,
            scope: Scope::default(),
            params: Params::default(),
            use_refresh_token: false,
        }
    }

    /// A form-encoded grant (RFC 6749), authenticating with HTTP Basic.
    ///
    /// ```
    /// use grantkit_grants::ClientCredentials;
    ///
    /// let grant = ClientCredentials::form("https://auth.example.com/token", "app", "s3cret")
    ///     .scope("read write");
    /// # let _ = grant;
    /// ```
    pub fn form(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        Self::new(BodyFormat::Form, token_url, client_id, client_secret)
    }

    /// A grant with a JSON body, the credentials in the body (24SevenOffice).
    ///
    /// ```
    /// use grantkit_grants::ClientCredentials;
    ///
    /// let grant = ClientCredentials::json("https://login.24sevenoffice.com/oauth/token", "id", "secret")
    ///     .audience("https://api.24sevenoffice.com")
    ///     .param("login_organization", "42");
    /// # let _ = grant;
    /// ```
    pub fn json(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        Self::new(BodyFormat::Json, token_url, client_id, client_secret)
    }

    /// How the client id and secret are sent; see [`ClientAuth`].
    ///
    /// ```
    /// use grantkit_grants::{ClientAuth, ClientCredentials};
    ///
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
    ///     .client_auth(ClientAuth::Body);
    /// assert_eq!(grant.client_auth_method(), ClientAuth::Body);
    /// ```
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client.auth = auth;
        self
    }

    /// The scope to request, space-separated (`"read write"`). Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret").scope("read write");
    /// assert_eq!(grant.requested_scope().as_deref(), Some("read write"));
    /// ```
    pub fn scope(mut self, scope: impl AsRef<str>) -> Self {
        self.scope = Scope::parse(scope.as_ref());
        self
    }

    /// The scope to request, as a list; sent space-joined. Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
    ///     .scopes(["read", "write"]);
    /// assert_eq!(grant.requested_scope().as_deref(), Some("read write"));
    /// ```
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope = Scope::from_list(scopes);
        self
    }

    /// Adds an extra body parameter (`audience`, `resource`, `login_organization`, …),
    /// sent after the standard ones in the order added. Setting a name again replaces
    /// its value in place. Values are sent as strings, in JSON too.
    ///
    /// The names the grant sets itself (`grant_type`, `client_id`, `client_secret`,
    /// `scope`) are refused when the token is fetched (see [`validate`](Self::validate)).
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
    ///     .param("resource", "https://api.example.com");
    /// # let _ = grant;
    /// ```
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.set(name.into(), value.into());
        self
    }

    /// Shorthand for `.param("audience", audience)`; the audience is also part of the
    /// [identity](Grant::identity).
    ///
    /// ```
    /// use grantkit_core::Grant;
    /// use grantkit_grants::ClientCredentials;
    ///
    /// let grant = ClientCredentials::json("https://a.example/token", "app", "s3cret")
    ///     .audience("https://api.example.com");
    /// assert_eq!(grant.identity().get_audience(), Some("https://api.example.com"));
    /// ```
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.param("audience", audience)
    }

    /// Whether to renew with the previous token's refresh token first (off by default:
    /// RFC 6749 §4.4.3 says client-credentials responses should not carry one, but some
    /// servers send one anyway and prefer it used). See [`WithRefresh`](crate::WithRefresh)
    /// for the behaviour.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret")
    ///     .use_refresh_token(true);
    /// # let _ = grant;
    /// ```
    pub fn use_refresh_token(mut self, enabled: bool) -> Self {
        self.use_refresh_token = enabled;
        self
    }

    /// The token endpoint.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.token_url(), "https://a.example/token");
    /// ```
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The client id.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.client_id(), "app");
    /// ```
    pub fn client_id(&self) -> &str {
        &self.client.id
    }

    /// The body format.
    ///
    /// ```
    /// # use grantkit_grants::{BodyFormat, ClientCredentials};
    /// let grant = ClientCredentials::json("https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.body_format(), BodyFormat::Json);
    /// ```
    pub fn body_format(&self) -> BodyFormat {
        self.format
    }

    /// The client authentication in use.
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientCredentials};
    /// let grant = ClientCredentials::json("https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.client_auth_method(), ClientAuth::Body);
    /// ```
    pub fn client_auth_method(&self) -> ClientAuth {
        self.client.auth
    }

    /// The `scope` parameter sent, if any.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// assert_eq!(grant.requested_scope(), None);
    /// ```
    pub fn requested_scope(&self) -> Option<String> {
        self.scope.joined()
    }

    /// Checks the configuration without sending anything; [`fetch_token`](Grant::fetch_token)
    /// calls it too.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a token URL that is not
    /// `http(s)`, an empty client id, or an extra parameter named like one the grant sets.
    ///
    /// ```
    /// # use grantkit_grants::ClientCredentials;
    /// let grant = ClientCredentials::form("https://a.example/token", "app", "s3cret");
    /// assert!(grant.validate().is_ok());
    /// assert!(grant.clone().param("client_id", "other").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        validate_url(&self.token_url)?;
        self.client.validate()?;
        self.params.validate(RESERVED)
    }

    fn request(&self) -> Result<HttpRequest> {
        let scope = self.scope.joined();
        let mut fields: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(id) = self.client.body_id() {
            fields.push(("client_id", id));
        }
        if let Some(secret) = self.client.body_secret() {
            fields.push(("client_secret", secret));
        }
        if let Some(scope) = &scope {
            fields.push(("scope", scope));
        }
        fields.extend(self.params.iter());
        self.client.request(&self.token_url, self.format, &fields)
    }
}

#[async_trait]
impl Grant for ClientCredentials {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        if self.use_refresh_token {
            let refresh = RefreshRequest {
                token_url: &self.token_url,
                client: &self.client,
                format: self.format,
                scope: None,
                params: None,
            };
            if let Some(token) = refresh
                .send_or_fall_back(cx, previous_refresh_token(cx))
                .await?
            {
                return Ok(token);
            }
        }
        cx.exchange(self.request()?).await
    }

    /// Kind `client_credentials`, the token URL, the client id, the scope, the
    /// `audience` parameter as the audience and every other extra parameter.
    fn identity(&self) -> GrantIdentity {
        let mut identity =
            GrantIdentity::new("client_credentials", &self.token_url).client_id(&self.client.id);
        if let Some(scope) = self.scope.joined() {
            identity = identity.scope(scope);
        }
        self.params.identify(identity)
    }

    fn with_token_url(&self, token_url: &str) -> Option<Arc<dyn Grant>> {
        let mut grant = self.clone();
        grant.token_url = token_url.to_owned();
        Some(Arc::new(grant))
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &grantkit_core::redact_url(&self.token_url))
            .field("client_id", &self.client.id)
            .field("client_secret", &self.client.secret)
            .field("client_auth", &self.client.auth)
            .field("format", &self.format)
            .field("scope", &self.scope)
            .field("params", &self.params)
            .field("use_refresh_token", &self.use_refresh_token)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(req: &HttpRequest) -> &str {
        std::str::from_utf8(req.body()).unwrap()
    }

    #[test]
    fn form_body_with_credentials_in_body() {
        let req = ClientCredentials::form("https://a.example/token", "app", "s3cret")
            .client_auth(ClientAuth::Body)
            .scope("read  write")
            .request()
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
            .request()
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
            base.clone().audience("https://api"),
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
