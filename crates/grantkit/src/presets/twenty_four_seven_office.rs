//! 24SevenOffice: JSON client credentials to its token endpoint, with its API's audience
//! and the organization to log in to; renewed 60 s before expiry; its API answers **403**
//! (not only 401) to an expired token.
//!
//! Give the HTTP middleware [`REJECTED_STATUSES`] so that a 403 also means "renew and
//! retry once":
//!
//! ```no_run
//! # #[cfg(feature = "middleware")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use grantkit::middleware::{AuthMiddleware, reqwest, reqwest_middleware};
//! use grantkit::presets::twenty_four_seven_office;
//!
//! let manager = twenty_four_seven_office("id", "secret", "123456").build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(
//!         AuthMiddleware::new(manager, ["rest.api.24sevenoffice.com"])
//!             .rejected_statuses(twenty_four_seven_office::REJECTED_STATUSES),
//!     )
//!     .build();
//! # let _ = client; Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use grantkit_core::{ClientSecret, SecretSource, TokenManager, TokenManagerBuilder};
use grantkit_grants::{BodyFormat, ClientAuth, ClientCredentials, ClientOptions};

/// 24SevenOffice's token endpoint.
pub const TOKEN_URL: &str = "https://login.24sevenoffice.com/oauth/token";
/// The audience 24SevenOffice's API expects.
pub const AUDIENCE: &str = "https://api.24sevenoffice.com";
/// The statuses with which 24SevenOffice's API rejects a token: 401, and 403 for an
/// expired one. Hand them to
/// [`AuthMiddleware::rejected_statuses`](crate::middleware::AuthMiddleware::rejected_statuses).
pub const REJECTED_STATUSES: [u16; 2] = [401, 403];
/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The 24SevenOffice preset for this client and organization: see the
/// [module](self) docs.
///
/// Tokens are per organization: `login_organization` is part of the cache identity, so
/// one process serving several organizations holds one token for each.
///
/// The request is exactly
/// `{"grant_type":"client_credentials","client_id":…,"client_secret":…,"audience":"https://api.24sevenoffice.com","login_organization":…}`.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// let manager = grantkit::presets::twenty_four_seven_office("id", "secret", "123456").build()?;
/// assert!(manager.cache_key().starts_with("client_credentials:id:"));
/// # Ok(()) }
/// # run().unwrap();
/// ```
pub fn twenty_four_seven_office(
    client_id: impl Into<String>,
    client_secret: impl Into<SecretSource<ClientSecret>>,
    login_organization: impl Into<String>,
) -> TokenManagerBuilder {
    TwentyFourSevenOffice::new(client_id, client_secret, login_organization).builder()
}

/// The 24SevenOffice preset's input: what [`twenty_four_seven_office`] takes, plus the
/// options the vendor allows. The configuration file's `preset = "24sevenoffice"`
/// profiles are turned into this type.
///
/// ```
/// use grantkit::BodyFormat;
/// use grantkit::presets::TwentyFourSevenOffice;
///
/// let builder = TwentyFourSevenOffice::new("id", "secret", "123456")
///     .body(BodyFormat::Form)
///     .token_url("http://127.0.0.1:8080/oauth/token")
///     .builder();
/// # let _ = builder;
/// ```
#[derive(Clone)]
pub struct TwentyFourSevenOffice {
    client_id: String,
    client_secret: SecretSource<ClientSecret>,
    login_organization: String,
    body: BodyFormat,
    token_url: Option<String>,
}

impl TwentyFourSevenOffice {
    /// The preset for this client and organization.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource<ClientSecret>>,
        login_organization: impl Into<String>,
    ) -> Self {
        TwentyFourSevenOffice {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            login_organization: login_organization.into(),
            body: BodyFormat::Json,
            token_url: None,
        }
    }

    /// The body encoding: JSON (the integration guide's) by default; the API reference
    /// documents the same fields form-encoded, which [`BodyFormat::Form`] sends.
    #[must_use]
    pub fn body(mut self, body: BodyFormat) -> Self {
        self.body = body;
        self
    }

    /// Another token endpoint than [`TOKEN_URL`] (a test server).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The grant: client credentials in the body, the audience, the organization.
    pub fn grant(&self) -> ClientCredentials {
        let options = ClientOptions::new(&self.client_id)
            .client_secret(self.client_secret.clone())
            .body(self.body)
            .client_auth(ClientAuth::Body)
            .param("audience", AUDIENCE)
            .param("login_organization", &self.login_organization);
        ClientCredentials::new(self.token_url.as_deref().unwrap_or(TOKEN_URL), options)
    }

    /// The pre-filled builder: [`grant`](Self::grant), renewed [`REFRESH_BEFORE`] expiry.
    pub fn builder(&self) -> TokenManagerBuilder {
        builder_for(self.grant())
    }
}

fn builder_for(grant: ClientCredentials) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(grant)
        .refresh_before(REFRESH_BEFORE)
}

/// The profile keys a `preset = "24sevenoffice"` profile reads, besides the common ones.
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_secret_file",
    "login_organization",
    "body",
    "client_auth",
    "scope",
    "params",
];

/// A `preset = "24sevenoffice"` profile: `client_id`, `client_secret` and
/// `login_organization` make the preset; `body` and `token_url` are its options;
/// `client_auth`, `scope` and `params` then override what it set.
#[cfg(feature = "config")]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> grantkit_core::Result<TokenManagerBuilder> {
    use grantkit_grants::ClientGrant;

    use crate::config::{missing, need};

    let mut preset = TwentyFourSevenOffice::new(
        need(name, "client_id", &profile.client_id)?,
        profile
            .client_secret_source(name)?
            .ok_or_else(|| missing(name, "client_secret"))?,
        need(name, "login_organization", &profile.login_organization)?,
    );
    if let Some(body) = profile.body {
        preset = preset.body(body);
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    let grant = preset
        .grant()
        .map_client_options(|o| profile.override_options(o));
    Ok(builder_for(grant))
}

impl fmt::Debug for TwentyFourSevenOffice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwentyFourSevenOffice")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("login_organization", &self.login_organization)
            .field("body", &self.body)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
