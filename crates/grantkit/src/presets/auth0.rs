//! Auth0: client credentials to `https://{domain}/oauth/token` for one API (its
//! `audience`), as the [Authentication API documents it](https://auth0.com/docs/api/authentication#client-credentials-flow).
//!
//! With a client secret the request is form-encoded with the credentials in the body,
//! `grant_type=client_credentials&client_id=…&client_secret=…&audience=…[&organization=…]`
//! (Auth0's documented default; [`BodyFormat::Json`] sends the same fields as JSON, which
//! Auth0 also accepts). With a private key (feature `grant-jwt-bearer`), the client
//! authenticates with `private_key_jwt` ([Auth0's Private Key JWT](https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt)):
//! no `client_id` or `client_secret` in the body but `client_assertion_type` and a fresh
//! `client_assertion` whose `iss` = `sub` = the client id and `aud` = `https://{domain}/`
//! (the tenant, with its trailing slash). The token is renewed 60 s before expiry.
//!
//! `audience` is required: without it Auth0 issues no token for an API. A missing one is
//! an error before any request.

use std::fmt;
use std::time::Duration;

use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};
use grantkit_grants::{BodyFormat, ClientAuth, ClientCredentials};

use super::{Credential, credential_setters, env_var, origin, required};

/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The environment variables [`Auth0::from_env`] reads, the names of Auth0's quickstarts:
/// domain, client id, client secret, audience.
pub const ENV_VARS: [&str; 4] = [
    "AUTH0_DOMAIN",
    "AUTH0_CLIENT_ID",
    "AUTH0_CLIENT_SECRET",
    "AUTH0_AUDIENCE",
];

/// The Auth0 preset for this tenant domain, client and API; see the [module](self) docs.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// let manager = grantkit::presets::auth0(
///     "dev-abc123.us.auth0.com",
///     "client-id",
///     "client-secret",
///     "https://api.example.com",
/// )?
/// .build()?;
/// assert_eq!(manager.identity().token_url(), "https://dev-abc123.us.auth0.com/oauth/token");
/// # Ok(()) }
/// # run().unwrap();
/// ```
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field.
pub fn auth0(
    domain: impl Into<String>,
    client_id: impl Into<String>,
    client_secret: impl Into<grantkit_core::ClientSecret>,
    audience: impl Into<String>,
) -> Result<TokenManagerBuilder> {
    Auth0::new(domain, client_id, audience)
        .client_secret(client_secret)
        .builder()
}

/// The Auth0 preset from `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET` and
/// `AUTH0_AUDIENCE`.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming each missing variable.
pub fn auth0_from_env() -> Result<TokenManagerBuilder> {
    Auth0::from_env()?.builder()
}

/// The Auth0 preset's input: the tenant's domain, the client, the API's audience, the
/// client's secret or private key, and the options Auth0 allows. The configuration file's
/// `preset = "auth0"` profiles are turned into this type.
///
/// ```
/// use grantkit::BodyFormat;
/// use grantkit::presets::Auth0;
///
/// let preset = Auth0::new("login.example.com", "client-id", "https://api.example.com")
///     .client_secret("client-secret")
///     .organization("org_W2v1n3tqsd")
///     .body(BodyFormat::Json);
/// assert_eq!(preset.token_endpoint()?, "https://login.example.com/oauth/token");
/// let builder = preset.builder()?;
/// # let _ = builder; Ok::<(), grantkit::Error>(())
/// ```
#[derive(Clone)]
pub struct Auth0 {
    domain: String,
    client_id: String,
    audience: String,
    credential: Credential,
    organization: Option<String>,
    body: BodyFormat,
    token_url: Option<String>,
}

impl Auth0 {
    /// The preset for this tenant domain (`dev-abc123.us.auth0.com`, or a custom domain),
    /// client and API audience; give it [`client_secret`](Self::client_secret) or
    /// [`private_key`](Self::private_key).
    pub fn new(
        domain: impl Into<String>,
        client_id: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Auth0 {
            domain: domain.into(),
            client_id: client_id.into(),
            audience: audience.into(),
            credential: Credential::default(),
            organization: None,
            body: BodyFormat::Form,
            token_url: None,
        }
    }

    /// The client from [`ENV_VARS`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming each missing variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let [domain, client_id, secret, audience] = required(&lookup, ENV_VARS)?;
        Ok(Self::new(domain, client_id, audience).client_secret(secret))
    }

    credential_setters!();

    /// The organization to issue the token for (Auth0 Organizations): the `organization`
    /// parameter, part of the token's identity.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// The body encoding: form (Auth0's documented default) or JSON.
    #[must_use]
    pub fn body(mut self, body: BodyFormat) -> Self {
        self.body = body;
        self
    }

    /// Another token endpoint than `https://{domain}/oauth/token` (a test server). A
    /// client assertion's `aud` stays `https://{domain}/`.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The token endpoint: `https://{domain}/oauth/token`, or the override.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an empty domain.
    pub fn token_endpoint(&self) -> Result<String> {
        match &self.token_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!(
                "{}/oauth/token",
                origin("Auth0", "domain", &self.domain)?
            )),
        }
    }

    /// The grant: client credentials with the audience (and organization), the client
    /// authenticated by its secret in the body or by `private_key_jwt`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming a missing field
    /// (`domain`, `client_id`, `audience`, a secret or key).
    pub fn grant(&self) -> Result<ClientCredentials> {
        if self.audience.trim().is_empty() {
            return Err(Error::config(
                "Auth0: missing field `audience` (the API identifier to issue the token for)",
            ));
        }
        let tenant = format!("{}/", origin("Auth0", "domain", &self.domain)?);
        let mut options = self
            .credential
            .options("Auth0", &self.client_id, ClientAuth::Body, Some(&tenant))?
            .body(self.body)
            .param("audience", &self.audience);
        if let Some(org) = &self.organization {
            options = options.param("organization", org);
        }
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

/// The profile keys a `preset = "auth0"` profile reads, besides the common ones and
/// [`CREDENTIAL_KEYS`](super::CREDENTIAL_KEYS).
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &["domain", "audience", "organization", "body"];

/// A `preset = "auth0"` profile: `domain`, `client_id`, `audience` and `client_secret`
/// (or `private_key_file`/`private_key`) make the preset; `organization`, `body`,
/// `client_auth`, `key_id`, `signing_alg` and `token_url` are its options.
#[cfg(feature = "config")]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::need;

    let mut preset = Auth0::new(
        need(name, "domain", &profile.domain)?,
        need(name, "client_id", &profile.client_id)?,
        need(name, "audience", &profile.audience)?,
    );
    preset.credential = Credential::from_profile(name, profile)?;
    if let Some(org) = &profile.organization {
        preset = preset.organization(org);
    }
    if let Some(body) = profile.body {
        preset = preset.body(body);
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

impl fmt::Debug for Auth0 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Auth0");
        d.field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience);
        self.credential.debug_fields(&mut d);
        d.field("organization", &self.organization)
            .field("body", &self.body)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
