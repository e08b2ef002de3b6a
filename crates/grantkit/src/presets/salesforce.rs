//! Salesforce: the OAuth 2.0 JWT bearer flow for server-to-server integration (RFC 7523),
//! as [Salesforce documents it](https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm&type=5).
//!
//! The connected app's consumer key and a pre-authorized user make an RS256 assertion
//! with header `{"typ":"JWT","alg":"RS256"}` and claims `iss` = the consumer key, `sub` =
//! the username, `aud` = the login URL (`https://login.salesforce.com`,
//! `https://test.salesforce.com` for a sandbox, or an Experience Cloud site), `iat` = now
//! and `exp` = now + 2 min; it is posted as
//! `assertion={jwt}&grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` to
//! `{login_url}/services/oauth2/token` (a My Domain URL works as well:
//! [`token_url`](SalesforceJwt::token_url)).
//!
//! **Limits.** Salesforce accepts an assertion only when `exp` is within 3 minutes
//! ([`MAX_ASSERTION_LIFETIME`]); a longer lifetime is refused before any request. The
//! default of 2 minutes leaves a minute for clock skew.
//!
//! **No `expires_in`.** Salesforce's token response (`access_token`, `instance_url`,
//! `id`, `token_type`, `scope`, `issued_at`) says nothing about expiry, and its access
//! tokens are opaque: the session lasts the org's session timeout (Setup → Session
//! Settings; 2 hours unless changed), counted from the last use. The preset takes a token
//! to live [`DEFAULT_SESSION_LIFETIME`] (the builder's
//! [`default_lifetime`](grantkit_core::TokenManagerBuilder::default_lifetime)); set
//! [`session_lifetime`](SalesforceJwt::session_lifetime) (`default_lifetime_secs` in a
//! profile) to your org's timeout when it is shorter. The token is renewed 60 s before
//! that. The API's base URL is the response's `instance_url`
//! ([`Token::extra`](grantkit_core::Token)).

#[cfg(feature = "grant-jwt-bearer")]
use std::fmt;
use std::time::Duration;

#[cfg(feature = "grant-jwt-bearer")]
use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};
#[cfg(feature = "grant-jwt-bearer")]
use grantkit_grants::{JwtBearer, JwtSigningKey};

#[cfg(feature = "grant-jwt-bearer")]
use super::origin;

/// Production orgs' login URL, the default.
pub const LOGIN_URL: &str = "https://login.salesforce.com";
/// Sandboxes' login URL.
pub const SANDBOX_LOGIN_URL: &str = "https://test.salesforce.com";
/// The longest assertion lifetime Salesforce accepts (`exp` within 3 minutes).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(180);
/// The assertion lifetime used unless another is set.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(120);
/// How long a token is taken to live, Salesforce's default session timeout (its response
/// has no `expires_in`).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// How long before the assumed expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The Salesforce JWT bearer preset for this connected app (its consumer key), user and
/// private key, at [`LOGIN_URL`]; see the [module](self) docs.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// # let pem = std::fs::read_to_string("../grants/tests/keys/test-only-rsa-pkcs8.pem").unwrap();
/// use grantkit::grant::JwtSigningKey;
///
/// let key = JwtSigningKey::from_pem("RS256", pem)?;
/// let manager = grantkit::presets::salesforce_jwt("3MVG9…consumer-key", "integration@example.com", key)?
///     .build()?;
/// assert_eq!(
///     manager.identity().token_url(),
///     "https://login.salesforce.com/services/oauth2/token"
/// );
/// # Ok(()) }
/// # run().unwrap();
/// ```
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field, or for
/// a key that is not RSA.
#[cfg(feature = "grant-jwt-bearer")]
pub fn salesforce_jwt(
    consumer_key: impl Into<String>,
    username: impl Into<String>,
    key: JwtSigningKey,
) -> Result<TokenManagerBuilder> {
    SalesforceJwt::new(consumer_key, username, key).builder()
}

/// The Salesforce JWT bearer preset's input: the consumer key, the username, the private
/// key, the login URL and the lifetimes. The configuration file's
/// `preset = "salesforce-jwt"` profiles are turned into this type.
///
/// ```
/// # let pem = std::fs::read_to_string("../grants/tests/keys/test-only-rsa-pkcs8.pem").unwrap();
/// use std::time::Duration;
/// use grantkit::grant::JwtSigningKey;
/// use grantkit::presets::{SalesforceJwt, salesforce};
///
/// let preset = SalesforceJwt::new("consumer-key", "me@example.com", JwtSigningKey::from_pem("RS256", pem)?)
///     .login_url(salesforce::SANDBOX_LOGIN_URL)
///     .session_lifetime(Duration::from_secs(30 * 60));
/// assert!(preset.clone().assertion_lifetime(Duration::from_secs(300)).builder().is_err());
/// let builder = preset.builder()?;
/// # let _ = builder; Ok::<(), grantkit::Error>(())
/// ```
#[cfg(feature = "grant-jwt-bearer")]
#[derive(Clone)]
pub struct SalesforceJwt {
    consumer_key: String,
    username: String,
    key: JwtSigningKey,
    login_url: String,
    lifetime: Duration,
    session_lifetime: Duration,
    token_url: Option<String>,
}

#[cfg(feature = "grant-jwt-bearer")]
impl SalesforceJwt {
    /// The preset for this consumer key, username and RSA private key.
    pub fn new(
        consumer_key: impl Into<String>,
        username: impl Into<String>,
        key: JwtSigningKey,
    ) -> Self {
        SalesforceJwt {
            consumer_key: consumer_key.into(),
            username: username.into(),
            key,
            login_url: LOGIN_URL.to_owned(),
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            token_url: None,
        }
    }

    /// The login URL: [`LOGIN_URL`] (default), [`SANDBOX_LOGIN_URL`], or an Experience
    /// Cloud site; the assertion's `aud`, and the token endpoint's base.
    #[must_use]
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = url.into();
        self
    }

    /// The assertion lifetime (`exp - iat`): at most [`MAX_ASSERTION_LIFETIME`].
    #[must_use]
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How long a token is taken to live (Salesforce does not say): your org's session
    /// timeout; default [`DEFAULT_SESSION_LIFETIME`].
    #[must_use]
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// Another token endpoint than `{login_url}/services/oauth2/token`: a My Domain
    /// (`https://acme.my.salesforce.com/services/oauth2/token`) or a test server. The
    /// assertion's `aud` stays the login URL.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The grant, carrying Salesforce's 3-minute limit ([`JwtBearer::max_lifetime`]).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field, a
    /// key that is not RSA, or a lifetime over 3 minutes.
    pub fn grant(&self) -> Result<JwtBearer> {
        let aud = origin("Salesforce", "login_url", &self.login_url)?;
        let url = match &self.token_url {
            Some(url) => url.clone(),
            None => format!("{aud}/services/oauth2/token"),
        };
        if self.consumer_key.trim().is_empty() {
            return Err(Error::config("Salesforce: missing field `consumer_key`"));
        }
        if self.username.trim().is_empty() {
            return Err(Error::config("Salesforce: missing field `username`"));
        }
        if !self.key.algorithm_name().starts_with("RS") {
            return Err(Error::config(
                "Salesforce: the private key must sign RS256 (Salesforce's only algorithm)",
            ));
        }
        let grant = JwtBearer::new(url, &self.consumer_key, self.key.clone())
            .subject(&self.username)
            .audience(aud)
            .max_lifetime(MAX_ASSERTION_LIFETIME)
            .lifetime(self.lifetime);
        grant.validate().map_err(|e| e.with_context("Salesforce"))?;
        Ok(grant)
    }

    /// The pre-filled builder: [`grant`](Self::grant), tokens taken to live the session
    /// lifetime, renewed [`REFRESH_BEFORE`] its end.
    ///
    /// # Errors
    /// As for [`grant`](Self::grant), and for a session lifetime under one minute.
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        if self.session_lifetime < Duration::from_secs(60) {
            return Err(Error::config(
                "Salesforce: the session lifetime must be at least 60 s (Salesforce's shortest timeout is 15 min)",
            ));
        }
        Ok(TokenManager::builder()
            .grant(self.grant()?)
            .default_lifetime(self.session_lifetime)
            .refresh_before(REFRESH_BEFORE))
    }
}

/// The profile keys a `preset = "salesforce-jwt"` profile reads, besides the common ones
/// (`default_lifetime_secs` among them: the session lifetime).
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &[
    "consumer_key",
    "username",
    "private_key_file",
    "private_key",
    "signing_alg",
    "login_url",
    "jwt.lifetime_secs",
];

/// A `preset = "salesforce-jwt"` profile: `consumer_key`, `username` and
/// `private_key_file` (or `private_key`) make the preset; `login_url`,
/// `jwt.lifetime_secs` (at most 180) and `token_url` are its options.
#[cfg(all(feature = "config", feature = "grant-jwt-bearer"))]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::{missing, need};

    let key = profile
        .private_key(name)?
        .ok_or_else(|| missing(name, "private_key_file"))?;
    let mut preset = SalesforceJwt::new(
        need(name, "consumer_key", &profile.consumer_key)?,
        need(name, "username", &profile.username)?,
        key,
    );
    if let Some(url) = &profile.login_url {
        preset = preset.login_url(url.as_str());
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    if let Some(secs) = profile.jwt.as_ref().and_then(|j| j.lifetime_secs) {
        preset = preset.assertion_lifetime(Duration::from_secs(secs));
        preset
            .grant()
            .map_err(|e| e.with_context(format!("profile `{name}`: field `jwt.lifetime_secs`")))?;
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

#[cfg(feature = "grant-jwt-bearer")]
impl fmt::Debug for SalesforceJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceJwt")
            .field("consumer_key", &self.consumer_key)
            .field("username", &self.username)
            .field("key", &self.key)
            .field("login_url", &grantkit_core::redact_url(&self.login_url))
            .field("lifetime", &self.lifetime)
            .field("session_lifetime", &self.session_lifetime)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
