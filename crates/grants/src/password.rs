//! The resource-owner password credentials grant (RFC 6749 §4.3).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use grantkit_core::{
    ClientSecret, Grant, GrantContext, GrantIdentity, HttpRequest, Password, Result, Token,
};

use crate::client::{BodyFormat, Client, ClientAuth, Params, Scope, validate_url};
use crate::error::GrantError;
use crate::refresh::{RefreshRequest, previous_refresh_token};

/// Body parameters the grant sets itself.
const RESERVED: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "client_id",
    "client_secret",
    "scope",
];

/// The resource-owner password credentials grant (RFC 6749 §4.3): a trusted client logs
/// in with a user's name and password.
///
/// Named `PasswordGrant` rather than `Password` because
/// [`grantkit_core::Password`] is the secret type holding the password.
///
/// The server's refresh token is kept in the [`Token`]; by default the next renewal
/// redeems it (`grant_type=refresh_token`, same body format and client authentication)
/// before logging in again, and logs in again when the server answers `invalid_grant`.
/// Turn that off with [`use_refresh_token(false)`](Self::use_refresh_token).
///
/// # Wire format
/// JSON body, [`ClientAuth::Body`] (the default for JSON), the legacy seed's order:
/// ```text
/// POST {token_url}
/// Content-Type: application/json
///
/// {"username":…,"password":…,"client_secret":…,"client_id":…,"grant_type":"password"}
/// ```
/// (`scope`, when set, follows `grant_type`; extra parameters come last.)
///
/// Form body, [`ClientAuth::Basic`] (the default for forms):
/// `grant_type=password&username=…&password=…[&scope=…][&extra…]` with
/// `Authorization: Basic …`; with [`ClientAuth::Body`],
/// `grant_type=password&username=…&password=…&client_id=…&client_secret=…[&scope=…][&extra…]`.
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::PasswordGrant;
///
/// let grant = PasswordGrant::json(
///     "https://legacy.example.com/oauth/token",
///     "client-id",
///     std::env::var("CLIENT_SECRET").unwrap_or_default(),
///     "me@example.com",
///     std::env::var("PASSWORD").unwrap_or_default(),
/// );
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let header = manager.token().await?.authorization_header(); // "Bearer …"
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PasswordGrant {
    token_url: String,
    client: Client,
    format: BodyFormat,
    username: String,
    password: Password,
    scope: Scope,
    params: Params,
    use_refresh_token: bool,
}

impl PasswordGrant {
    /// A password grant with a `format` body and that format's default client
    /// authentication ([`BodyFormat::default_client_auth`]).
    ///
    /// ```
    /// use grantkit_grants::{BodyFormat, PasswordGrant};
    ///
    /// let grant = PasswordGrant::new(
    ///     BodyFormat::Form, "https://a.example/token", "app", "s3cret", "me", "pw",
    /// );
    /// # let _ = grant;
    /// ```
    pub fn new(
        format: BodyFormat,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        PasswordGrant {
            token_url: token_url.into(),
            client: Client::new(
                client_id.into(),
                Some(client_secret.into()),
                format.default_client_auth(),
            ),
            format,
            username: username.into(),
            password: password.into(),
            scope: Scope::default(),
            params: Params::default(),
            use_refresh_token: true,
        }
    }

    /// A form-encoded password grant (RFC 6749), authenticating the client with Basic.
    ///
    /// ```
    /// use grantkit_grants::PasswordGrant;
    ///
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw");
    /// # let _ = grant;
    /// ```
    pub fn form(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        Self::new(
            BodyFormat::Form,
            token_url,
            client_id,
            client_secret,
            username,
            password,
        )
    }

    /// A password grant with a JSON body, the client credentials in the body.
    ///
    /// ```
    /// use grantkit_grants::PasswordGrant;
    ///
    /// let grant = PasswordGrant::json("https://a.example/oauth/token", "app", "s3cret", "me", "pw");
    /// # let _ = grant;
    /// ```
    pub fn json(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        Self::new(
            BodyFormat::Json,
            token_url,
            client_id,
            client_secret,
            username,
            password,
        )
    }

    /// How the client id and secret are sent; see [`ClientAuth`].
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, PasswordGrant};
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw")
    ///     .client_auth(ClientAuth::Body);
    /// # let _ = grant;
    /// ```
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client.auth = auth;
        self
    }

    /// The scope to request, space-separated. Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw")
    ///     .scope("openid offline_access");
    /// # let _ = grant;
    /// ```
    pub fn scope(mut self, scope: impl AsRef<str>) -> Self {
        self.scope = Scope::parse(scope.as_ref());
        self
    }

    /// The scope to request, as a list; sent space-joined. Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw")
    ///     .scopes(["openid", "offline_access"]);
    /// # let _ = grant;
    /// ```
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope = Scope::from_list(scopes);
        self
    }

    /// Adds an extra body parameter, sent last in the order added; setting a name again
    /// replaces its value. The names the grant sets itself are refused (see
    /// [`validate`](Self::validate)).
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw")
    ///     .param("audience", "https://api.example.com");
    /// # let _ = grant;
    /// ```
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.set(name.into(), value.into());
        self
    }

    /// Whether to renew with the previous token's refresh token first (on by default).
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw")
    ///     .use_refresh_token(false); // always log in again
    /// # let _ = grant;
    /// ```
    pub fn use_refresh_token(mut self, enabled: bool) -> Self {
        self.use_refresh_token = enabled;
        self
    }

    /// The token endpoint.
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw");
    /// assert_eq!(grant.token_url(), "https://a.example/token");
    /// ```
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The resource owner's username.
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "me", "pw");
    /// assert_eq!(grant.username(), "me");
    /// ```
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Checks the configuration without sending anything; [`fetch_token`](Grant::fetch_token)
    /// calls it too.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a token URL that is not
    /// `http(s)`, an empty client id or username, or an extra parameter named like one the
    /// grant sets.
    ///
    /// ```
    /// # use grantkit_grants::PasswordGrant;
    /// let grant = PasswordGrant::form("https://a.example/token", "app", "s3cret", "", "pw");
    /// assert!(grant.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        validate_url(&self.token_url)?;
        self.client.validate()?;
        if self.username.is_empty() {
            return Err(GrantError::EmptyUsername.into());
        }
        self.params.validate(RESERVED)
    }

    fn request(&self) -> Result<HttpRequest> {
        let scope = self.scope.joined();
        let username = ("username", self.username.as_str());
        let password = ("password", self.password.secret());
        let grant_type = ("grant_type", "password");
        let client_id = self.client.body_id().map(|id| ("client_id", id));
        let client_secret = self.client.body_secret().map(|s| ("client_secret", s));
        let mut fields: Vec<(&str, &str)> = match self.format {
            // The legacy JSON endpoints' order.
            BodyFormat::Json => [Some(username), Some(password), client_secret, client_id]
                .into_iter()
                .flatten()
                .chain([grant_type])
                .collect(),
            // RFC 6749 §4.3.2's order, then the client credentials.
            BodyFormat::Form => [grant_type, username, password]
                .into_iter()
                .chain(client_id)
                .chain(client_secret)
                .collect(),
        };
        if let Some(scope) = &scope {
            fields.push(("scope", scope));
        }
        fields.extend(self.params.iter());
        self.client.request(&self.token_url, self.format, &fields)
    }
}

#[async_trait]
impl Grant for PasswordGrant {
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

    /// Kind `password`, the token URL, the client id, the scope, the `username`
    /// parameter, the `audience` parameter as the audience and every other extra
    /// parameter.
    fn identity(&self) -> GrantIdentity {
        let mut identity = GrantIdentity::new("password", &self.token_url)
            .client_id(&self.client.id)
            .param("username", &self.username);
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

impl fmt::Debug for PasswordGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordGrant")
            .field("token_url", &grantkit_core::redact_url(&self.token_url))
            .field("client_id", &self.client.id)
            .field("client_secret", &self.client.secret)
            .field("client_auth", &self.client.auth)
            .field("format", &self.format)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("scope", &self.scope)
            .field("params", &self.params)
            .field("use_refresh_token", &self.use_refresh_token)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(grant: &PasswordGrant) -> String {
        String::from_utf8(grant.request().unwrap().into_body()).unwrap()
    }

    #[test]
    fn json_with_basic_auth_leaves_credentials_out_of_the_body() {
        let g = PasswordGrant::json("https://a.example/t", "id", "sec", "me", "pw")
            .client_auth(ClientAuth::Basic)
            .scope("a b");
        assert_eq!(
            body(&g),
            r#"{"username":"me","password":"pw","grant_type":"password","scope":"a b"}"#
        );
    }

    #[test]
    fn form_with_body_auth() {
        let g = PasswordGrant::form("https://a.example/t", "id", "s&c", "m e", "p=w")
            .client_auth(ClientAuth::Body)
            .param("audience", "x");
        assert_eq!(
            body(&g),
            "grant_type=password&username=m+e&password=p%3Dw&client_id=id&client_secret=s%26c&audience=x"
        );
    }

    #[test]
    fn identity_includes_the_username_not_the_password() {
        let a = PasswordGrant::json("https://a.example/t", "id", "sec", "alice", "pw-secret");
        let b = PasswordGrant::json("https://a.example/t", "id", "sec", "bob", "pw-secret");
        assert_ne!(a.identity().cache_key(), b.identity().cache_key());
        assert_eq!(
            a.identity().params().get("username").map(String::as_str),
            Some("alice")
        );
        let shown = format!("{:?} {:?} {}", a, a.identity(), a.identity().cache_key());
        assert!(
            !shown.contains("pw-secret") && !shown.contains("\"sec\""),
            "{shown}"
        );
    }
}
