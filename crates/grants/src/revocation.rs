//! Token revocation (RFC 7009) at a revocation endpoint, with a client's authentication.

use std::fmt;

use async_trait::async_trait;
use grantkit_core::{GrantContext, Result, RevocableToken, Revoker};

use crate::client::validate_url;
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
    url: String,
    options: ClientOptions,
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
            url: url.into(),
            options: options.client_only(),
        }
    }

    /// The revocation endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client options.
    pub fn client_options(&self) -> &ClientOptions {
        &self.options
    }

    /// Checks the configuration without sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a URL that is not
    /// `http(s)`, an empty client id, or a client assertion method without its key.
    pub fn validate(&self) -> Result<()> {
        validate_url(&self.url)?;
        self.options.validate(&[])
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
        let request = self.options.client_request(&self.url, &fields, cx.now())?;
        cx.revoke_exchange(request).await
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("url", &grantkit_core::redact_url(&self.url))
            .field("options", &self.options)
            .finish()
    }
}
