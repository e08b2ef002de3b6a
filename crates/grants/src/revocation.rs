//! Token revocation (RFC 7009) at a revocation endpoint, with a client's authentication.

use std::fmt;

use async_trait::async_trait;
use grantkit_core::{Discovery, Error, GrantContext, Result, RevocableToken, Revoker};

use crate::client::validate_url;
use crate::discovered::{auth_method_name, listed, missing_endpoint};
use crate::options::ClientOptions;

/// Revokes tokens at a revocation endpoint (RFC 7009), authenticating as the client
/// [`ClientOptions`] describe (every [`ClientAuth`](crate::ClientAuth) method). Give it to
/// [`TokenManagerBuilder::revoker`](grantkit_core::TokenManagerBuilder::revoker) and call
/// [`TokenManager::revoke`](grantkit_core::TokenManager::revoke);
/// [`ClientGrant::revocation`](crate::ClientGrant::revocation) builds one with a grant's
/// client.
///
/// # Wire format
/// ```text
/// POST {revocation_url}
/// Content-Type: application/x-www-form-urlencoded
/// [Authorization: Basic …]                                   per ClientAuth
///
/// token=…&token_type_hint=refresh_token|access_token
/// [&client_id=…][&client_secret=…]                           per ClientAuth
/// [&client_assertion_type=…&client_assertion=…]              private_key_jwt, client_secret_jwt
/// ```
/// (A JSON body, for a client configured with one, carries the same members.) HTTP 200
/// is success whatever the body, also for a token the server does not know (RFC 7009
/// §2.2); any other answer is an error: `unsupported_token_type` (§2.2.1) and other
/// RFC 6749 §5.2 errors are [`ErrorKind::OAuth`](grantkit_core::ErrorKind::OAuth), a 503
/// is retryable.
///
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant};
///
/// let grant = PasswordGrant::new("https://auth.example.com/token", ClientOptions::form("app", "s3cret"), "me", "pw")
///     .with_refresh();
/// let revocation = grant.refresh_grant().revocation("https://auth.example.com/revoke");
/// let manager = TokenManager::builder().grant(grant).revoker(revocation).build()?;
/// manager.token().await?;
/// manager.revoke().await?; // the refresh token, then the access token; then forgotten
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Revocation {
    endpoint: Endpoint,
    options: ClientOptions,
}

/// Where revocation requests go.
#[derive(Clone)]
enum Endpoint {
    Url(String),
    /// The issuer's `revocation_endpoint`.
    Issuer(Discovery),
}

impl Revocation {
    /// Revocation at `url` for the client `options` describe (their scope and extra
    /// parameters are not sent).
    ///
    /// ```
    /// use grantkit_grants::{ClientOptions, Revocation};
    ///
    /// let revocation = Revocation::new("https://auth.example.com/revoke", ClientOptions::new("cli"));
    /// assert!(revocation.validate().is_ok());
    /// ```
    pub fn new(url: impl Into<String>, options: ClientOptions) -> Self {
        Revocation {
            endpoint: Endpoint::Url(url.into()),
            options: options.client_only(),
        }
    }

    /// Revocation at the `revocation_endpoint` that `issuer`'s metadata names (RFC 8414
    /// §2; see [`Discovery`]), read when revoking. `issuer` is an issuer string, or the
    /// [`Discovery`] handle of the grant (`grant.token_endpoint().discovery()`), whose
    /// cached metadata is then shared.
    ///
    /// ```
    /// use grantkit_grants::{ClientGrant, ClientCredentials, ClientOptions, Revocation};
    ///
    /// let grant = ClientCredentials::discover("https://auth.example.com", ClientOptions::form("app", "s3cret"));
    /// let endpoint = grant.token_endpoint();
    /// let revocation = Revocation::discover(endpoint.discovery().unwrap(), grant.client_options().clone());
    /// assert_eq!(revocation.url(), "https://auth.example.com"); // the issuer, until discovered
    /// ```
    pub fn discover(issuer: impl Into<Discovery>, options: ClientOptions) -> Self {
        Revocation {
            endpoint: Endpoint::Issuer(issuer.into()),
            options: options.client_only(),
        }
    }

    /// The revocation endpoint, or the issuer whose metadata names it.
    pub fn url(&self) -> &str {
        match &self.endpoint {
            Endpoint::Url(url) => url,
            Endpoint::Issuer(discovery) => discovery.issuer(),
        }
    }

    /// The client options.
    pub fn client_options(&self) -> &ClientOptions {
        &self.options
    }

    /// Checks the configuration without sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a URL that is not
    /// `http(s)` (or an issuer that is not a valid one), an empty client id, or a client
    /// assertion method without its key.
    pub fn validate(&self) -> Result<()> {
        match &self.endpoint {
            Endpoint::Url(url) => validate_url(url)?,
            Endpoint::Issuer(discovery) => discovery.validate()?,
        }
        self.options.validate(&[])
    }

    /// The URL to send to: the one given, or the metadata's `revocation_endpoint`, whose
    /// `revocation_endpoint_auth_methods_supported` (when listed) must offer the client's
    /// authentication method.
    async fn resolve(&self, cx: &GrantContext) -> Result<String> {
        let discovery = match &self.endpoint {
            Endpoint::Url(url) => return Ok(url.clone()),
            Endpoint::Issuer(discovery) => discovery,
        };
        let metadata = discovery.metadata(cx).await?;
        let url = metadata
            .revocation_endpoint()
            .ok_or_else(|| missing_endpoint(discovery, "revocation_endpoint"))?;
        let method = auth_method_name(&self.options);
        if !metadata.supports_revocation_auth_method(method) {
            return Err(Error::config(format!(
                "the authorization server {} does not offer {method} client authentication \
                 at its revocation endpoint (revocation_endpoint_auth_methods_supported: {}); \
                 set client_auth to one it offers",
                metadata.issuer(),
                listed(metadata.revocation_endpoint_auth_methods_supported())
            )));
        }
        Ok(url.to_owned())
    }
}

#[async_trait]
impl Revoker for Revocation {
    async fn revoke(&self, cx: &GrantContext, token: &RevocableToken) -> Result<()> {
        self.validate()?;
        let fields = [
            ("token", token.secret()),
            ("token_type_hint", token.type_hint()),
        ];
        let url = self.resolve(cx).await?;
        let request = self.options.client_request(&url, &fields, cx.now())?;
        cx.revoke_exchange(request).await
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("endpoint", &self.endpoint)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Url(url) => fmt::Debug::fmt(&grantkit_core::redact_url(url), f),
            Endpoint::Issuer(discovery) => f.debug_tuple("Issuer").field(discovery).finish(),
        }
    }
}
