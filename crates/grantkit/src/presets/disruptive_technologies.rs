//! Disruptive Technologies: the HS256 JWT-bearer flow of a service account to its token
//! endpoint. The assertion carries `kid` = the key id, `iss` = the account's email,
//! `aud` = the token URL, `iat` = now, `exp` = now + 1 h (the vendor's limit); the token
//! is renewed 60 s before expiry.

#[cfg(feature = "grant-jwt-bearer")]
use std::fmt;
use std::time::Duration;

#[cfg(feature = "grant-jwt-bearer")]
use grantkit_core::{Result, SecretSource, SigningKey, TokenManager, TokenManagerBuilder};
#[cfg(feature = "grant-jwt-bearer")]
use grantkit_grants::JwtBearer;

#[cfg(feature = "grant-jwt-bearer")]
use super::{env_var, required};

/// Disruptive Technologies' token endpoint.
pub const TOKEN_URL: &str = "https://identity.disruptive-technologies.com/oauth2/token";
/// The longest assertion lifetime Disruptive Technologies accepts (`exp - iat`).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The environment variables [`DisruptiveTechnologies::from_env`] reads: key id, email,
/// secret.
pub const ENV_VARS: [&str; 3] = [
    "DT_SERVICE_ACCOUNT_KEY_ID",
    "DT_SERVICE_ACCOUNT_EMAIL",
    "DT_SERVICE_ACCOUNT_SECRET",
];

/// The Disruptive Technologies preset for this service account; see the
/// [module](self) docs.
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
    secret: impl Into<SecretSource<SigningKey>>,
) -> TokenManagerBuilder {
    // The defaults pass `validate`; the grant enforces the vendor's limit itself anyway.
    DisruptiveTechnologies::new(key_id, email, secret).prefilled()
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

/// The Disruptive Technologies preset's input: what [`disruptive_technologies`] takes,
/// plus the options the vendor allows. The configuration file's
/// `preset = "disruptive-technologies"` profiles are turned into this type.
///
/// ```
/// use std::time::Duration;
/// use grantkit::presets::DisruptiveTechnologies;
///
/// let preset = DisruptiveTechnologies::new("kid", "svc@example.com", "secret");
/// assert!(preset.clone().lifetime(Duration::from_secs(7200)).builder().is_err());
/// let builder = preset.token_url("http://127.0.0.1:8080/oauth2/token").builder()?;
/// # let _ = builder; Ok::<(), grantkit::Error>(())
/// ```
#[cfg(feature = "grant-jwt-bearer")]
#[derive(Clone)]
pub struct DisruptiveTechnologies {
    key_id: String,
    email: String,
    secret: SecretSource<SigningKey>,
    lifetime: Duration,
    token_url: Option<String>,
}

#[cfg(feature = "grant-jwt-bearer")]
impl DisruptiveTechnologies {
    /// The preset for this service account.
    pub fn new(
        key_id: impl Into<String>,
        email: impl Into<String>,
        secret: impl Into<SecretSource<SigningKey>>,
    ) -> Self {
        DisruptiveTechnologies {
            key_id: key_id.into(),
            email: email.into(),
            secret: secret.into(),
            lifetime: MAX_ASSERTION_LIFETIME,
            token_url: None,
        }
    }

    /// The service account from [`ENV_VARS`].
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
        let [key_id, email, secret] = required(&lookup, ENV_VARS)?;
        Ok(Self::new(key_id, email, secret))
    }

    /// The assertion lifetime (`exp - iat`); at most [`MAX_ASSERTION_LIFETIME`], the
    /// vendor's limit, which the grant enforces.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Another token endpoint than [`TOKEN_URL`] (a test server). The assertion's `aud`
    /// is the endpoint used.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The grant, carrying the vendor's lifetime limit
    /// ([`JwtBearer::max_lifetime`]): a longer assertion is refused before any request,
    /// however the grant is used.
    pub fn grant(&self) -> JwtBearer {
        JwtBearer::hs256(
            self.token_url.as_deref().unwrap_or(TOKEN_URL),
            &self.key_id,
            &self.email,
            self.secret.clone(),
        )
        .max_lifetime(MAX_ASSERTION_LIFETIME)
        .lifetime(self.lifetime)
    }

    /// The pre-filled builder, after checking the grant ([`JwtBearer::validate`]).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the lifetime exceeds
    /// one hour or is under one second, or a field is empty.
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        self.grant().validate()?;
        Ok(self.prefilled())
    }

    fn prefilled(&self) -> TokenManagerBuilder {
        builder_for(self.grant())
    }
}

#[cfg(feature = "grant-jwt-bearer")]
fn builder_for(grant: JwtBearer) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(grant)
        .refresh_before(REFRESH_BEFORE)
}

/// The profile keys a `preset = "disruptive-technologies"` profile reads, besides the
/// common ones.
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &[
    "key_id",
    "email",
    "secret",
    "secret_file",
    "jwt.key_id",
    "jwt.issuer",
    "jwt.secret",
    "jwt.secret_file",
    "jwt.lifetime_secs",
    "jwt.audience",
    "jwt.subject",
    "scope",
    "params",
];

/// A `preset = "disruptive-technologies"` profile: `key_id`, `email` and `secret` (or
/// their `jwt.key_id`, `jwt.issuer`, `jwt.secret` spellings) make the preset;
/// `token_url` is its option; `jwt.lifetime_secs`, `jwt.audience`, `jwt.subject`,
/// `scope` and `params` then override what it set, within the vendor's limits.
#[cfg(all(feature = "config", feature = "grant-jwt-bearer"))]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::{missing, override_jwt};

    let jwt = profile.jwt.as_ref();
    fn pick<T: Clone>(
        name: &str,
        nested: Option<&Option<T>>,
        flat: &Option<T>,
        key: &str,
    ) -> Result<T> {
        nested
            .and_then(Option::clone)
            .or_else(|| flat.clone())
            .ok_or_else(|| missing(name, key))
    }
    let key_id = pick(name, jwt.map(|j| &j.key_id), &profile.key_id, "key_id")?;
    let email = pick(name, jwt.map(|j| &j.issuer), &profile.email, "email")?;
    // `jwt.secret(_file)` before `secret(_file)`; each pair is one or the other.
    let nested = match jwt {
        Some(jwt) => jwt.secret_source(name)?,
        None => None,
    };
    let secret = match nested {
        Some(secret) => secret,
        None => profile
            .secret_source(name)?
            .ok_or_else(|| missing(name, "secret"))?,
    };
    let mut preset = DisruptiveTechnologies::new(key_id, email, secret);
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    Ok(builder_for(override_jwt(name, profile, preset.grant())?))
}

#[cfg(feature = "grant-jwt-bearer")]
impl fmt::Debug for DisruptiveTechnologies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisruptiveTechnologies")
            .field("key_id", &self.key_id)
            .field("email", &self.email)
            .field("secret", &self.secret)
            .field("lifetime", &self.lifetime)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
