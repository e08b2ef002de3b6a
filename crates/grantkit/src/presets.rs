//! Pre-filled builders for known vendors and for the generic environment variables.
//!
//! Every preset returns a [`TokenManagerBuilder`], so the token URL (for a test server),
//! the store and the policy can still be changed:
//!
//! ```no_run
//! # fn run() -> grantkit::Result<()> {
//! use grantkit::{presets, FileStore};
//!
//! let manager = presets::twenty_four_seven_office("client-id", "client-secret", "123456")
//!     .store(FileStore::in_cache_dir()?)
//!     .build()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use grantkit_core::{ClientSecret, Error, Result, TokenManager, TokenManagerBuilder};
use grantkit_grants::{BodyFormat, ClientAuth, ClientCredentials};

/// 24SevenOffice's token endpoint.
pub const TWENTY_FOUR_SEVEN_OFFICE_TOKEN_URL: &str = "https://login.24sevenoffice.com/oauth/token";
/// The audience 24SevenOffice's API expects.
pub const TWENTY_FOUR_SEVEN_OFFICE_AUDIENCE: &str = "https://api.24sevenoffice.com";
/// Disruptive Technologies' token endpoint.
pub const DISRUPTIVE_TECHNOLOGIES_TOKEN_URL: &str =
    "https://identity.disruptive-technologies.com/oauth2/token";
/// The longest assertion lifetime Disruptive Technologies accepts (`exp - iat`).
pub const DISRUPTIVE_TECHNOLOGIES_MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// 24SevenOffice: JSON client credentials to its token endpoint, with its API's audience
/// and the organization to log in to; renewed 60 s before expiry; 401 **and 403** mean
/// "token rejected" (its API answers 403 to an expired token).
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
/// assert_eq!(manager.rejected_statuses(), &[401, 403]);
/// # Ok(()) }
/// # run().unwrap();
/// ```
pub fn twenty_four_seven_office(
    client_id: impl Into<String>,
    client_secret: impl Into<ClientSecret>,
    login_organization: impl Into<String>,
) -> TokenManagerBuilder {
    TwentyFourSevenOffice::new(client_id, client_secret, login_organization).builder()
}

/// The 24SevenOffice preset with its options; see [`twenty_four_seven_office`].
#[derive(Clone)]
pub struct TwentyFourSevenOffice {
    client_id: String,
    client_secret: ClientSecret,
    login_organization: String,
    body: BodyFormat,
    token_url: String,
}

impl TwentyFourSevenOffice {
    /// The preset for this client and organization.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
        login_organization: impl Into<String>,
    ) -> Self {
        TwentyFourSevenOffice {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            login_organization: login_organization.into(),
            body: BodyFormat::Json,
            token_url: TWENTY_FOUR_SEVEN_OFFICE_TOKEN_URL.to_owned(),
        }
    }

    /// The body encoding: JSON (the integration guide's) by default; the API reference
    /// documents the same fields form-encoded, which [`BodyFormat::Form`] sends.
    #[must_use]
    pub fn body(mut self, body: BodyFormat) -> Self {
        self.body = body;
        self
    }

    /// Another token endpoint (a test server).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The grant: client credentials in the body, the audience, the organization.
    pub fn grant(&self) -> ClientCredentials {
        ClientCredentials::new(
            self.body,
            &self.token_url,
            &self.client_id,
            self.client_secret.clone(),
        )
        .client_auth(ClientAuth::Body)
        .audience(TWENTY_FOUR_SEVEN_OFFICE_AUDIENCE)
        .param("login_organization", &self.login_organization)
    }

    /// The pre-filled builder.
    pub fn builder(&self) -> TokenManagerBuilder {
        TokenManager::builder()
            .grant(self.grant())
            .refresh_before(Duration::from_secs(60))
            .rejected_statuses([401, 403])
    }
}

impl fmt::Debug for TwentyFourSevenOffice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwentyFourSevenOffice")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("login_organization", &self.login_organization)
            .field("body", &self.body)
            .field("token_url", &grantkit_core::redact_url(&self.token_url))
            .finish()
    }
}

/// Disruptive Technologies: the HS256 JWT-bearer flow of a service account to its token
/// endpoint; the assertion carries `kid` = the key id, `iss` = the account's email, `aud`
/// = the token URL, `iat` = now, `exp` = now + 1 h; renewed 60 s before expiry.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// let manager = grantkit::presets::disruptive_technologies(
///     "key-id",
///     "svc@project.serviceaccount.d21s.com",
///     "secret",
/// )
/// .build()?;
/// # Ok(()) }
/// # run().unwrap();
/// ```
#[cfg(feature = "grant-jwt-bearer")]
pub fn disruptive_technologies(
    key_id: impl Into<String>,
    email: impl Into<String>,
    secret: impl Into<grantkit_core::SigningKey>,
) -> TokenManagerBuilder {
    let preset = DisruptiveTechnologies::new(key_id, email, secret);
    TokenManager::builder()
        .grant(preset.grant_unchecked())
        .refresh_before(Duration::from_secs(60))
}

/// The Disruptive Technologies preset from `DT_SERVICE_ACCOUNT_KEY_ID`,
/// `DT_SERVICE_ACCOUNT_EMAIL` and `DT_SERVICE_ACCOUNT_SECRET`.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing variable.
#[cfg(feature = "grant-jwt-bearer")]
pub fn disruptive_technologies_from_env() -> Result<TokenManagerBuilder> {
    DisruptiveTechnologies::from_env()?.builder()
}

/// The Disruptive Technologies preset with its options; see [`disruptive_technologies`].
#[cfg(feature = "grant-jwt-bearer")]
#[derive(Clone)]
pub struct DisruptiveTechnologies {
    key_id: String,
    email: String,
    secret: grantkit_core::SigningKey,
    lifetime: Duration,
    token_url: String,
}

#[cfg(feature = "grant-jwt-bearer")]
impl DisruptiveTechnologies {
    /// The preset for this service account.
    pub fn new(
        key_id: impl Into<String>,
        email: impl Into<String>,
        secret: impl Into<grantkit_core::SigningKey>,
    ) -> Self {
        DisruptiveTechnologies {
            key_id: key_id.into(),
            email: email.into(),
            secret: secret.into(),
            lifetime: DISRUPTIVE_TECHNOLOGIES_MAX_ASSERTION_LIFETIME,
            token_url: DISRUPTIVE_TECHNOLOGIES_TOKEN_URL.to_owned(),
        }
    }

    /// The service account from `DT_SERVICE_ACCOUNT_KEY_ID`, `DT_SERVICE_ACCOUNT_EMAIL` and
    /// `DT_SERVICE_ACCOUNT_SECRET`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let [key_id, email, secret] = required(
            &lookup,
            [
                "DT_SERVICE_ACCOUNT_KEY_ID",
                "DT_SERVICE_ACCOUNT_EMAIL",
                "DT_SERVICE_ACCOUNT_SECRET",
            ],
        )?;
        Ok(Self::new(key_id, email, secret))
    }

    /// The assertion lifetime (`exp - iat`); at most one hour, the vendor's limit.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Another token endpoint (a test server). The assertion's `aud` follows it.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    fn grant_unchecked(&self) -> grantkit_grants::JwtBearer {
        grantkit_grants::JwtBearer::hs256(
            &self.token_url,
            &self.key_id,
            &self.email,
            self.secret.clone(),
        )
        .lifetime(self.lifetime)
    }

    /// The grant.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the lifetime exceeds
    /// one hour, or is zero.
    pub fn grant(&self) -> Result<grantkit_grants::JwtBearer> {
        if self.lifetime > DISRUPTIVE_TECHNOLOGIES_MAX_ASSERTION_LIFETIME || self.lifetime.is_zero()
        {
            return Err(Error::config(format!(
                "Disruptive Technologies accepts assertions living at most 3600 s; lifetime is {} s",
                self.lifetime.as_secs()
            )));
        }
        Ok(self.grant_unchecked())
    }

    /// The pre-filled builder.
    ///
    /// # Errors
    /// As for [`grant`](Self::grant).
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        Ok(TokenManager::builder()
            .grant(self.grant()?)
            .refresh_before(Duration::from_secs(60)))
    }
}

#[cfg(feature = "grant-jwt-bearer")]
impl fmt::Debug for DisruptiveTechnologies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisruptiveTechnologies")
            .field("key_id", &self.key_id)
            .field("email", &self.email)
            .field("secret", &self.secret)
            .field("lifetime", &self.lifetime)
            .field("token_url", &grantkit_core::redact_url(&self.token_url))
            .finish()
    }
}

/// The generic client-credentials flow from the environment: `OAUTH_TOKEN_URL`,
/// `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET` (required) and `OAUTH_SCOPE` (optional).
///
/// The request is form-encoded with the credentials in the body,
/// `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`; set
/// `OAUTH_CLIENT_AUTH=basic` for HTTP Basic client authentication (RFC 6749 §2.3.1)
/// instead.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing or invalid
/// variable.
pub fn from_env() -> Result<TokenManagerBuilder> {
    from_lookup(env_var)
}

/// As [`from_env`], reading variables through `lookup` (for tests, or another source).
///
/// ```
/// use std::collections::HashMap;
///
/// let vars = HashMap::from([
///     ("OAUTH_TOKEN_URL", "https://auth.example.com/token"),
///     ("OAUTH_CLIENT_ID", "app"),
///     ("OAUTH_CLIENT_SECRET", "s3cret"),
/// ]);
/// let builder = grantkit::presets::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
/// let e = grantkit::presets::from_lookup(|_| None).unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "environment variables OAUTH_TOKEN_URL, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET are not set"
/// );
/// # let _ = builder;
/// ```
///
/// # Errors
/// As for [`from_env`].
pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<TokenManagerBuilder> {
    let [token_url, client_id, client_secret] = required(
        &lookup,
        ["OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"],
    )?;
    let auth = match lookup("OAUTH_CLIENT_AUTH").as_deref().map(str::trim) {
        None | Some("") | Some("body") => ClientAuth::Body,
        Some("basic") => ClientAuth::Basic,
        Some(other) => {
            return Err(Error::config(format!(
                "OAUTH_CLIENT_AUTH must be `basic` or `body`, not {other:?}"
            )));
        }
    };
    let mut grant = ClientCredentials::form(token_url, client_id, client_secret).client_auth(auth);
    if let Some(scope) = lookup("OAUTH_SCOPE").filter(|s| !s.trim().is_empty()) {
        grant = grant.scope(scope);
    }
    Ok(TokenManager::builder().grant(grant))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The values of `names`, or an error naming every one that is missing or empty.
fn required<const N: usize>(
    lookup: &impl Fn(&str) -> Option<String>,
    names: [&str; N],
) -> Result<[String; N]> {
    let values = names.map(|name| lookup(name).filter(|v| !v.trim().is_empty()));
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.as_slice() {
        [] => Ok(values.map(Option::unwrap_or_default)),
        [one] => Err(Error::config(format!(
            "environment variable {one} is not set"
        ))),
        many => Err(Error::config(format!(
            "environment variables {} are not set",
            many.join(", ")
        ))),
    }
}
