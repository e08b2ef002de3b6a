//! Keycloak: client credentials (a client with service accounts enabled) to a realm's
//! token endpoint, `{base_url}/realms/{realm}/protocol/openid-connect/token`, as
//! [Keycloak documents it](https://www.keycloak.org/docs/latest/server_admin/#_service_accounts).
//!
//! The client authenticates as its [credentials tab](https://www.keycloak.org/docs/latest/server_admin/#_client-credentials)
//! says:
//! - **Client Id and Secret** (the default): HTTP Basic, `Authorization: Basic …` and the
//!   form body `grant_type=client_credentials[&scope=…]`;
//! - **Signed JWT with Client Secret**: `client_secret_jwt`, an HS256 assertion over the
//!   secret ([`client_auth`](Keycloak::client_auth)`(ClientAuth::ClientSecretJwt)`);
//! - **Signed JWT**: `private_key_jwt` with the client's private key
//!   ([`private_key`](Keycloak::private_key)), RS256 unless the key says otherwise.
//!
//! A client assertion has `iss` = `sub` = the client id, a unique `jti`, `exp` one minute
//! on, and `aud` = the realm's issuer, `{base_url}/realms/{realm}` (what Keycloak's own
//! adapters send, and the one audience Keycloak's strict audience check keeps). The token
//! is renewed 60 s before expiry.
//!
//! `base_url` is the server's root: `https://sso.example.com` for Keycloak 17 and later,
//! `https://sso.example.com/auth` for older servers (and newer ones started with
//! `--http-relative-path=/auth`).

use std::fmt;
use std::time::Duration;

use grantkit_core::{ClientSecret, Error, Result, TokenManager, TokenManagerBuilder};
use grantkit_grants::{ClientAuth, ClientCredentials};

use super::{Credential, credential_setters, origin};

/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The Keycloak preset for this server, realm and confidential client with its secret
/// (HTTP Basic); see the [module](self) docs.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// let manager = grantkit::presets::keycloak("https://sso.example.com", "acme", "svc", "s3cret")?
///     .build()?;
/// assert_eq!(
///     manager.identity().token_url(),
///     "https://sso.example.com/realms/acme/protocol/openid-connect/token"
/// );
/// # Ok(()) }
/// # run().unwrap();
/// ```
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field.
pub fn keycloak(
    base_url: impl Into<String>,
    realm: impl Into<String>,
    client_id: impl Into<String>,
    client_secret: impl Into<ClientSecret>,
) -> Result<TokenManagerBuilder> {
    Keycloak::new(base_url, realm, client_id)
        .client_secret(client_secret)
        .builder()
}

/// The Keycloak preset's input: the server, the realm, the client and its secret or key,
/// the scope. The configuration file's `preset = "keycloak"` profiles are turned into this
/// type.
///
/// ```
/// use grantkit::presets::Keycloak;
///
/// let preset = Keycloak::new("https://sso.example.com/auth/", "acme", "svc")
///     .client_secret("s3cret")
///     .scope("profile");
/// assert_eq!(preset.issuer()?, "https://sso.example.com/auth/realms/acme");
/// let builder = preset.builder()?;
/// # let _ = builder; Ok::<(), grantkit::Error>(())
/// ```
#[derive(Clone)]
pub struct Keycloak {
    base_url: String,
    realm: String,
    client_id: String,
    credential: Credential,
    scope: Option<String>,
    token_url: Option<String>,
}

impl Keycloak {
    /// The preset for this server root, realm and client; give it
    /// [`client_secret`](Self::client_secret) or [`private_key`](Self::private_key).
    pub fn new(
        base_url: impl Into<String>,
        realm: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Keycloak {
            base_url: base_url.into(),
            realm: realm.into(),
            client_id: client_id.into(),
            credential: Credential::default(),
            scope: None,
            token_url: None,
        }
    }

    credential_setters!();

    /// The scope to ask for, space-separated (optional: Keycloak adds the client's
    /// default scopes).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Another token endpoint (a test server); a client assertion's `aud` stays the
    /// realm's issuer.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The realm's issuer, `{base_url}/realms/{realm}`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an empty `base_url` or
    /// `realm`, or a realm with a `/`.
    pub fn issuer(&self) -> Result<String> {
        let base = origin("Keycloak", "base_url", &self.base_url)?;
        let realm = self.realm.trim();
        if realm.is_empty() {
            return Err(Error::config("Keycloak: missing field `realm`"));
        }
        if realm.contains('/') {
            return Err(Error::config(
                "Keycloak: field `realm` is a realm's name, not a path",
            ));
        }
        Ok(format!("{base}/realms/{realm}"))
    }

    /// The token endpoint: `{issuer}/protocol/openid-connect/token`, or the override.
    ///
    /// # Errors
    /// As for [`issuer`](Self::issuer).
    pub fn token_endpoint(&self) -> Result<String> {
        match &self.token_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!("{}/protocol/openid-connect/token", self.issuer()?)),
        }
    }

    /// The grant: client credentials, authenticated by HTTP Basic, `client_secret_jwt` or
    /// `private_key_jwt`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming a missing field.
    pub fn grant(&self) -> Result<ClientCredentials> {
        let issuer = self.issuer()?;
        let mut options = self.credential.options(
            "Keycloak",
            &self.client_id,
            ClientAuth::Basic,
            Some(&issuer),
        )?;
        if let Some(scope) = &self.scope {
            options = options.scope(scope);
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

/// The profile keys a `preset = "keycloak"` profile reads, besides the common ones and
/// [`CREDENTIAL_KEYS`](super::CREDENTIAL_KEYS).
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &["base_url", "realm", "scope"];

/// A `preset = "keycloak"` profile: `base_url`, `realm`, `client_id` and `client_secret`
/// (or `private_key_file`/`private_key`) make the preset; `client_auth`
/// (`client_secret_jwt`), `key_id`, `signing_alg`, `scope` and `token_url` are its
/// options.
#[cfg(feature = "config")]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::need;

    let mut preset = Keycloak::new(
        need(name, "base_url", &profile.base_url)?.as_str(),
        need(name, "realm", &profile.realm)?,
        need(name, "client_id", &profile.client_id)?,
    );
    preset.credential = Credential::from_profile(name, profile)?;
    if let Some(scope) = &profile.scope {
        preset = preset.scope(scope);
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

impl fmt::Debug for Keycloak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Keycloak");
        d.field("base_url", &grantkit_core::redact_url(&self.base_url))
            .field("realm", &self.realm)
            .field("client_id", &self.client_id);
        self.credential.debug_fields(&mut d);
        d.field("scope", &self.scope)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
