//! Okta: client credentials for a service app, as [Okta documents it](https://developer.okta.com/docs/guides/implement-grant-type/clientcreds/main/),
//! to a custom authorization server, `https://{domain}/oauth2/{authorization_server}/v1/token`
//! (the `default` one unless named), or to the org authorization server,
//! `https://{domain}/oauth2/v1/token` (Okta's own APIs, `okta.*` scopes).
//!
//! Okta service apps authenticate with `private_key_jwt` ([Okta's guide](https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/)):
//! the form body `grant_type=client_credentials&scope=…&client_assertion_type=…&client_assertion=…`,
//! the assertion signed with the app's private key (RS256 by default), `kid` = the key's
//! id in Okta, `iss` = `sub` = the client id, `aud` = the token endpoint, a unique `jti`,
//! `exp` one minute on. With a client secret instead, HTTP Basic (`client_secret_basic`,
//! Okta's default for new apps): `Authorization: Basic …` and
//! `grant_type=client_credentials&scope=…`.
//!
//! Okta's client credentials flow needs scopes: a missing `scope` is an error before any
//! request. The token is renewed 60 s before expiry.

use std::fmt;
use std::time::Duration;

use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};
use grantkit_grants::{ClientAuth, ClientCredentials};

use super::{Credential, credential_setters, origin};
#[cfg(feature = "grant-jwt-bearer")]
use super::{env_var, required};

/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The custom authorization server used when none is named.
pub const DEFAULT_AUTHORIZATION_SERVER: &str = "default";
/// The `authorization_server` name (in a profile) that means the org authorization
/// server, `/oauth2/v1/token`.
pub const ORG_AUTHORIZATION_SERVER: &str = "org";

/// The environment variables [`Okta::from_env`] requires, the names of Okta's management
/// SDKs (`okta.client.*`): the org URL, the client id, the private key (PEM text, or the
/// path of a PEM file), the scopes (separated by commas or spaces).
pub const ENV_VARS: [&str; 4] = [
    "OKTA_CLIENT_ORGURL",
    "OKTA_CLIENT_CLIENTID",
    "OKTA_CLIENT_PRIVATEKEY",
    "OKTA_CLIENT_SCOPES",
];
/// The optional variable naming the key's id (`kid`).
pub const KEY_ID_ENV_VAR: &str = "OKTA_CLIENT_KID";

/// The Okta preset for this org domain and service app, signing `private_key_jwt`
/// assertions with `key`, at the `default` authorization server; see the [module](self)
/// docs.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// # let pem = std::fs::read_to_string("../grants/tests/keys/test-only-rsa-pkcs8.pem").unwrap();
/// use grantkit::grant::JwtSigningKey;
///
/// let key = JwtSigningKey::from_pem("RS256", pem)?;
/// let manager = grantkit::presets::okta("dev-123456.okta.com", "0oa1b2c3", key, "api.read")?
///     .build()?;
/// assert_eq!(
///     manager.identity().token_url(),
///     "https://dev-123456.okta.com/oauth2/default/v1/token"
/// );
/// # Ok(()) }
/// # #[cfg(feature = "grant-jwt-bearer")] run().unwrap();
/// ```
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field.
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub fn okta(
    domain: impl Into<String>,
    client_id: impl Into<String>,
    key: grantkit_grants::JwtSigningKey,
    scope: impl Into<String>,
) -> Result<TokenManagerBuilder> {
    Okta::new(domain, client_id, scope)
        .private_key(key)
        .builder()
}

/// Which Okta authorization server issues the token.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Server {
    Custom(String),
    Org,
}

/// The Okta preset's input: the org's domain, the service app, its key or secret, the
/// scopes, and the authorization server. The configuration file's `preset = "okta"`
/// profiles are turned into this type.
///
/// ```
/// use grantkit::presets::Okta;
///
/// let preset = Okta::new("dev-123456.okta.com", "0oa1b2c3", "api.read api.write")
///     .client_secret("s3cret")
///     .authorization_server("aus9xyz");
/// assert_eq!(
///     preset.token_endpoint()?,
///     "https://dev-123456.okta.com/oauth2/aus9xyz/v1/token"
/// );
/// let org = preset.org_authorization_server();
/// assert_eq!(org.token_endpoint()?, "https://dev-123456.okta.com/oauth2/v1/token");
/// # Ok::<(), grantkit::Error>(())
/// ```
#[derive(Clone)]
pub struct Okta {
    domain: String,
    client_id: String,
    scope: String,
    credential: Credential,
    server: Server,
    token_url: Option<String>,
}

impl Okta {
    /// The preset for this Okta domain (`dev-123456.okta.com`, or a custom domain),
    /// client and scopes (space-separated); give it [`private_key`](Self::private_key)
    /// or [`client_secret`](Self::client_secret).
    pub fn new(
        domain: impl Into<String>,
        client_id: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        Okta {
            domain: domain.into(),
            client_id: client_id.into(),
            scope: scope.into(),
            credential: Credential::default(),
            server: Server::Custom(DEFAULT_AUTHORIZATION_SERVER.to_owned()),
            token_url: None,
        }
    }

    /// The service app of Okta's management SDK variables ([`ENV_VARS`], and
    /// [`KEY_ID_ENV_VAR`] when set), at the org authorization server as those SDKs use
    /// it (`okta.*` scopes); change it with
    /// [`authorization_server`](Self::authorization_server).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming each missing
    /// variable, or a key that cannot be read or parsed (never its contents).
    #[cfg(feature = "grant-jwt-bearer")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    #[cfg(feature = "grant-jwt-bearer")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        use grantkit_grants::JwtSigningKey;

        let [org, client_id, key, scopes] = required(&lookup, ENV_VARS)?;
        let context = |e: Error| e.with_context("environment variable OKTA_CLIENT_PRIVATEKEY");
        let key = if key.trim_start().starts_with("-----BEGIN") {
            JwtSigningKey::from_pem("RS256", key).map_err(context)?
        } else {
            JwtSigningKey::from_pem_file("RS256", key.trim()).map_err(context)?
        };
        let scopes: Vec<&str> = scopes
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        let mut preset = Self::new(org, client_id, scopes.join(" "))
            .private_key(key)
            .org_authorization_server();
        if let Some(kid) = lookup(KEY_ID_ENV_VAR).filter(|v| !v.trim().is_empty()) {
            preset = preset.key_id(kid);
        }
        Ok(preset)
    }

    credential_setters!();

    /// A custom authorization server by its id (`aus…`), instead of `default`.
    #[must_use]
    pub fn authorization_server(mut self, id: impl Into<String>) -> Self {
        self.server = Server::Custom(id.into());
        self
    }

    /// The org authorization server (`/oauth2/v1/token`), which issues tokens for Okta's
    /// own APIs (`okta.users.read`, …).
    #[must_use]
    pub fn org_authorization_server(mut self) -> Self {
        self.server = Server::Org;
        self
    }

    /// Another token endpoint (a test server); the assertion's `aud` is the endpoint used.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The token endpoint: `https://{domain}/oauth2/{server}/v1/token`, the org server's
    /// `https://{domain}/oauth2/v1/token`, or the override.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an empty domain or
    /// authorization server.
    pub fn token_endpoint(&self) -> Result<String> {
        if let Some(url) = &self.token_url {
            return Ok(url.clone());
        }
        let base = origin("Okta", "domain", &self.domain)?;
        match &self.server {
            Server::Org => Ok(format!("{base}/oauth2/v1/token")),
            Server::Custom(id) if id.trim().is_empty() || id.contains('/') => Err(Error::config(
                "Okta: field `authorization_server` must be an authorization server's id",
            )),
            Server::Custom(id) => Ok(format!("{base}/oauth2/{}/v1/token", id.trim())),
        }
    }

    /// The grant: client credentials with the scopes, authenticated by `private_key_jwt`
    /// (a key is set) or HTTP Basic (a secret).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming a missing field
    /// (`domain`, `client_id`, `scope`, a key or secret).
    pub fn grant(&self) -> Result<ClientCredentials> {
        if self.scope.trim().is_empty() {
            return Err(Error::config(
                "Okta: missing field `scope` (Okta's client credentials flow needs at least one)",
            ));
        }
        let options = self
            .credential
            .options("Okta", &self.client_id, ClientAuth::Basic, None)?
            .scope(&self.scope);
        let grant = ClientCredentials::new(self.token_endpoint()?, options);
        grant.validate()?;
        Ok(grant)
    }

    /// The pre-filled builder: [`grant`](Self::grant), renewed [`REFRESH_BEFORE`] expiry.
    ///
    /// # Errors
    /// As for [`grant`](Self::grant).
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        Ok(TokenManager::builder()
            .grant(self.grant()?)
            .refresh_before(REFRESH_BEFORE))
    }
}

/// The profile keys a `preset = "okta"` profile reads, besides the common ones and
/// [`CREDENTIAL_KEYS`](super::CREDENTIAL_KEYS).
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &["domain", "scope", "authorization_server"];

/// A `preset = "okta"` profile: `domain`, `client_id`, `scope` and `private_key_file`
/// (or `private_key`, or `client_secret`) make the preset; `authorization_server` (an id,
/// or `org`), `key_id`, `signing_alg`, `client_auth` and `token_url` are its options.
#[cfg(feature = "config")]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::need;

    let mut preset = Okta::new(
        need(name, "domain", &profile.domain)?,
        need(name, "client_id", &profile.client_id)?,
        need(name, "scope", &profile.scope)?,
    );
    preset.credential = Credential::from_profile(name, profile)?;
    match profile.authorization_server.as_deref() {
        Some(ORG_AUTHORIZATION_SERVER) => preset = preset.org_authorization_server(),
        Some(id) => preset = preset.authorization_server(id),
        None => {}
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

impl fmt::Debug for Okta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Okta");
        d.field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope);
        self.credential.debug_fields(&mut d);
        d.field("server", &self.server)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
