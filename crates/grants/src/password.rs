//! The resource-owner password credentials grant (RFC 6749 §4.3).

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use grantkit_core::{
    Grant, GrantContext, GrantIdentity, HttpRequest, Password, Result, SecretSource, Token,
    TokenEndpoint,
};

use crate::client::BodyFormat;
use crate::error::GrantError;
use crate::options::ClientOptions;

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
/// Renewing through the server's refresh token is [`WithRefresh`](crate::WithRefresh)'s
/// job: [`with_refresh`](crate::ClientGrant::with_refresh) wraps the grant so that the next
/// renewal redeems the previous token's refresh token (`grant_type=refresh_token`, same
/// body format and client authentication) before logging in again, and logs in again
/// when the server answers `invalid_grant`. The configuration file's `password` profiles
/// are built that way.
///
/// # Wire format
/// JSON body, [`ClientAuth::Body`](crate::ClientAuth::Body) (the default for JSON), the
/// legacy seed's order:
/// ```text
/// POST {token_url}
/// Content-Type: application/json
///
/// {"username":…,"password":…,"client_secret":…,"client_id":…,"grant_type":"password"}
/// ```
/// (`scope`, when set, follows `grant_type`; extra parameters come last.)
///
/// Form body, [`ClientAuth::Basic`](crate::ClientAuth::Basic) (the default for forms):
/// `grant_type=password&username=…&password=…[&scope=…][&extra…]` with
/// `Authorization: Basic …`; with [`ClientAuth::Body`](crate::ClientAuth::Body),
/// `grant_type=password&username=…&password=…&client_id=…&client_secret=…[&scope=…][&extra…]`.
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant};
///
/// let client = ClientOptions::json(
///     "client-id",
///     std::env::var("CLIENT_SECRET").unwrap_or_default(),
/// );
/// let grant = PasswordGrant::new(
///     "https://legacy.example.com/oauth/token",
///     client,
///     "me@example.com",
///     std::env::var("PASSWORD").unwrap_or_default(),
/// )
/// .with_refresh();
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let header = manager.token().await?.authorization_header(); // "Bearer …"
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PasswordGrant {
    token_url: TokenEndpoint,
    options: ClientOptions,
    username: String,
    password: SecretSource<Password>,
}

impl PasswordGrant {
    /// A password grant at `token_url` for the client `options` describe, logging in as
    /// `username` with `password`: a value, or a [`SecretSource`] that reads it from a
    /// file (`SecretSource::file(path)`) or a function at each login. `token_url` may also
    /// be an issuer ([`TokenEndpoint::issuer`]) whose metadata names the token endpoint.
    ///
    /// ```
    /// use grantkit_grants::{ClientOptions, PasswordGrant};
    ///
    /// let grant = PasswordGrant::new(
    ///     "https://a.example/token",
    ///     ClientOptions::form("app", "s3cret"),
    ///     "me",
    ///     "pw",
    /// );
    /// assert_eq!(grant.username(), "me");
    /// ```
    pub fn new(
        token_url: impl Into<TokenEndpoint>,
        options: ClientOptions,
        username: impl Into<String>,
        password: impl Into<SecretSource<Password>>,
    ) -> Self {
        PasswordGrant {
            token_url: token_url.into(),
            options,
            username: username.into(),
            password: password.into(),
        }
    }

    /// The resource owner's username.
    ///
    /// ```
    /// # use grantkit_grants::{ClientOptions, PasswordGrant};
    /// let grant = PasswordGrant::new("https://a.example/token", ClientOptions::new("app"), "me", "pw");
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
    /// # use grantkit_grants::{ClientOptions, PasswordGrant};
    /// let grant = PasswordGrant::new("https://a.example/token", ClientOptions::new("app"), "", "pw");
    /// assert!(grant.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.token_url.validate()?;
        self.options.validate(RESERVED)?;
        if self.username.is_empty() {
            return Err(GrantError::EmptyUsername.into());
        }
        Ok(())
    }

    fn request(&self, token_url: &str, now: SystemTime) -> Result<HttpRequest> {
        let options = self.options.resolved()?;
        let password = self.password.resolve()?;
        let scope = options.requested_scope();
        let username = ("username", self.username.as_str());
        let password = ("password", password.secret());
        let grant_type = ("grant_type", "password");
        let client_id = options.body_client_id().map(|id| ("client_id", id));
        let client_secret = options.body_client_secret().map(|s| ("client_secret", s));
        let mut fields: Vec<(&str, &str)> = match options.body_format() {
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
        options.push_scope_and_params(&scope, &mut fields);
        options.request(token_url, &fields, now)
    }
}

impl_client_grant!(PasswordGrant);

#[async_trait]
impl Grant for PasswordGrant {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        crate::discovered::exchange(
            cx,
            &self.token_url,
            &self.options,
            Some("password"),
            |url| self.request(url, cx.now()),
        )
        .await
    }

    /// Kind `password`, the token URL, the client id, the scope, the `username`
    /// parameter, the `audience` parameter as the audience and every other extra
    /// parameter.
    fn identity(&self) -> GrantIdentity {
        let identity = GrantIdentity::new("password", self.token_url.as_str())
            .with_param("username", &self.username);
        self.options.identify(identity)
    }
}

impl fmt::Debug for PasswordGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordGrant")
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("username", &self.username)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientAuth;
    use crate::options::ClientGrant as _;

    fn json(id: &str, secret: &str, username: &str, password: &str) -> PasswordGrant {
        PasswordGrant::new(
            "https://a.example/t",
            ClientOptions::json(id, secret),
            username,
            password,
        )
    }

    fn body(grant: &PasswordGrant) -> String {
        String::from_utf8(
            grant
                .request("https://a.example/token", std::time::UNIX_EPOCH)
                .unwrap()
                .into_body(),
        )
        .unwrap()
    }

    #[test]
    fn json_with_basic_auth_leaves_credentials_out_of_the_body() {
        let g = json("id", "sec", "me", "pw")
            .client_auth(ClientAuth::Basic)
            .scope("a b");
        assert_eq!(
            body(&g),
            r#"{"username":"me","password":"pw","grant_type":"password","scope":"a b"}"#
        );
    }

    #[test]
    fn form_with_body_auth() {
        let g = PasswordGrant::new(
            "https://a.example/t",
            ClientOptions::form("id", "s&c"),
            "m e",
            "p=w",
        )
        .client_auth(ClientAuth::Body)
        .param("audience", "x");
        assert_eq!(
            body(&g),
            "grant_type=password&username=m+e&password=p%3Dw&client_id=id&client_secret=s%26c&audience=x"
        );
    }

    #[test]
    fn identity_includes_the_username_not_the_password() {
        let a = json("id", "sec", "alice", "pw-secret");
        let b = json("id", "sec", "bob", "pw-secret");
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
