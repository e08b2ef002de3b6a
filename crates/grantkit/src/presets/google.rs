//! Google service accounts: the RS256 JWT-bearer flow of the JSON key file Google issues
//! (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>).
//!
//! The key file's `client_email`, `private_key_id`, `private_key` and `token_uri` make an
//! assertion with header `{"alg":"RS256","kid":private_key_id}` and claims `iss` =
//! `client_email`, `aud` = `token_uri`, `iat` = now, `exp` = now + 1 h (Google's limit),
//! `scope` (space-separated) and, for domain-wide delegation, `sub`; it is posted as
//! `assertion={jwt}&grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` to `token_uri`.
//! The token is renewed 60 s before expiry.

#[cfg(feature = "grant-jwt-bearer")]
use std::fmt;
#[cfg(feature = "grant-jwt-bearer")]
use std::path::Path;
use std::time::Duration;

#[cfg(feature = "grant-jwt-bearer")]
use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};
#[cfg(feature = "grant-jwt-bearer")]
use grantkit_grants::{JwtBearer, JwtSigningKey};

#[cfg(feature = "grant-jwt-bearer")]
use super::env_var;

/// Google's token endpoint, the `token_uri` of the key files it issues (used when a key
/// file has none).
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The longest assertion lifetime Google accepts (`exp - iat`).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The environment variable naming the key file when none is given.
pub const ENV_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// The Google service account preset for the key file at `key_file`, asking for `scope`
/// (space-separated); see the [module](self) docs.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the file and the field
/// that is missing or wrong; never the key.
#[cfg(feature = "grant-jwt-bearer")]
pub fn google_service_account(
    key_file: impl AsRef<Path>,
    scope: impl Into<String>,
) -> Result<TokenManagerBuilder> {
    GoogleServiceAccount::from_file(key_file)?
        .scope(scope)
        .builder()
}

/// The Google service account preset for the key file named by
/// `GOOGLE_APPLICATION_CREDENTIALS`, asking for `scope`.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the variable is not set,
/// or as for [`google_service_account`].
#[cfg(feature = "grant-jwt-bearer")]
pub fn google_service_account_from_env(scope: impl Into<String>) -> Result<TokenManagerBuilder> {
    GoogleServiceAccount::from_env()?.scope(scope).builder()
}

/// The fields of Google's key file this preset reads.
#[cfg(feature = "grant-jwt-bearer")]
#[derive(serde::Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
}

/// The Google service account preset's input: a key file, the scope, an optional
/// subject (domain-wide delegation), the lifetime and a token URL override. The
/// configuration file's `preset = "google-service-account"` profiles are turned into
/// this type.
#[cfg(feature = "grant-jwt-bearer")]
#[derive(Clone)]
pub struct GoogleServiceAccount {
    client_email: String,
    private_key_id: String,
    key: JwtSigningKey,
    token_uri: String,
    scope: Option<String>,
    subject: Option<String>,
    lifetime: Duration,
    token_url: Option<String>,
}

#[cfg(feature = "grant-jwt-bearer")]
impl GoogleServiceAccount {
    /// The service account of the key file at `path`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the path and, for a
    /// bad file, the field; never the file's contents.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read the Google service account key file {shown}"
            ))
            .with_source(e)
        })?;
        Self::parse(&text, &format!("key file {shown}"))
    }

    /// The service account of a key file's JSON text.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing or bad
    /// field; never the key.
    pub fn from_json(json: &str) -> Result<Self> {
        Self::parse(json, "key file")
    }

    /// The service account of the key file named by `GOOGLE_APPLICATION_CREDENTIALS`.
    ///
    /// # Errors
    /// As for [`from_file`](Self::from_file), or when the variable is not set.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading the variable through `lookup`.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let [path] = super::required(&lookup, [ENV_VAR])?;
        Self::from_file(path)
    }

    fn parse(json: &str, what: &str) -> Result<Self> {
        let bad = |field: &str, why: &str| {
            Error::config(format!(
                "Google service account {what}: field `{field}` {why}"
            ))
        };
        // serde_json's error names a line and column, never the text.
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "Google service account {what}: not a JSON key file (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(kind) = &file.kind
            && kind != "service_account"
        {
            return Err(bad("type", "is not \"service_account\""));
        }
        let field = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| bad(name, "is missing"))
        };
        let client_email = field(file.client_email, "client_email")?;
        let private_key_id = field(file.private_key_id, "private_key_id")?;
        let pem = field(file.private_key, "private_key")?;
        let key = JwtSigningKey::from_pem("RS256", pem)
            .map_err(|_| bad("private_key", "is not a PEM RSA private key"))?;
        let token_uri = file
            .token_uri
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| TOKEN_URL.to_owned());
        Ok(GoogleServiceAccount {
            client_email,
            private_key_id,
            key,
            token_uri,
            scope: None,
            subject: None,
            lifetime: MAX_ASSERTION_LIFETIME,
            token_url: None,
        })
    }

    /// The scopes to ask for, space-separated (the assertion's `scope` claim).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The user to impersonate (domain-wide delegation): the `sub` claim.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The assertion lifetime (`exp - iat`); at most [`MAX_ASSERTION_LIFETIME`], which the
    /// grant enforces.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Another token endpoint than the key file's `token_uri` (a test server). The
    /// assertion's `aud` is the endpoint used.
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The service account's email (the `iss` claim).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The grant, carrying Google's lifetime limit ([`JwtBearer::max_lifetime`]).
    pub fn grant(&self) -> JwtBearer {
        let url = self.token_url.as_deref().unwrap_or(&self.token_uri);
        let mut grant = JwtBearer::new(url, &self.client_email, self.key.clone())
            .key_id(&self.private_key_id)
            .max_lifetime(MAX_ASSERTION_LIFETIME)
            .lifetime(self.lifetime);
        if let Some(scope) = &self.scope {
            grant = grant.claim("scope", scope.as_str());
        }
        if let Some(sub) = &self.subject {
            grant = grant.subject(sub);
        }
        grant
    }

    /// The pre-filled builder, after checking the grant ([`JwtBearer::validate`]).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when no scope is set, or
    /// the lifetime exceeds one hour or is under one second.
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        if self.scope.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(Error::config(
                "Google service account: missing field `scope` (the scopes to ask for)",
            ));
        }
        let grant = self.grant();
        grant.validate()?;
        Ok(builder_for(grant))
    }
}

#[cfg(feature = "grant-jwt-bearer")]
fn builder_for(grant: JwtBearer) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(grant)
        .refresh_before(REFRESH_BEFORE)
}

/// The profile keys a `preset = "google-service-account"` profile reads, besides the
/// common ones.
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &["key_file", "scope", "jwt.subject", "jwt.lifetime_secs"];

/// A `preset = "google-service-account"` profile: `key_file` (or
/// `GOOGLE_APPLICATION_CREDENTIALS`), `scope`, and `token_url`, `jwt.subject`,
/// `jwt.lifetime_secs` as options.
#[cfg(all(feature = "config", feature = "grant-jwt-bearer"))]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    let context = |e: Error| e.with_context(format!("profile `{name}`: field `key_file`"));
    let mut preset = match &profile.key_file {
        Some(path) => GoogleServiceAccount::from_file(path).map_err(context)?,
        None => GoogleServiceAccount::from_env().map_err(context)?,
    };
    let scope = profile
        .scope
        .clone()
        .ok_or_else(|| crate::config::missing(name, "scope"))?;
    preset = preset.scope(scope);
    let jwt = profile.jwt.clone().unwrap_or_default();
    if let Some(sub) = jwt.subject {
        preset = preset.subject(sub);
    }
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    if let Some(secs) = jwt.lifetime_secs {
        preset = preset.lifetime(Duration::from_secs(secs));
        preset
            .grant()
            .validate()
            .map_err(|e| e.with_context(format!("profile `{name}`: field `jwt.lifetime_secs`")))?;
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

#[cfg(feature = "grant-jwt-bearer")]
impl fmt::Debug for GoogleServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("key", &self.key)
            .field("token_uri", &grantkit_core::redact_url(&self.token_uri))
            .field("scope", &self.scope)
            .field("subject", &self.subject)
            .field("lifetime", &self.lifetime)
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
