//! Configuration profiles: a TOML file plus environment overrides, read with `figment`.
//!
//! The schema (every key, with a complete example) is in `docs/configuration.md`. In short:
//!
//! ```toml
//! default_profile = "acme"
//!
//! [profiles.acme]
//! grant = "client_credentials"          # client_credentials | password | jwt_bearer
//! token_url = "https://auth.example.com/oauth/token"
//! client_id = "my-client"
//! client_secret = "s3cret"              # or GRANTKIT_PROFILES__ACME__CLIENT_SECRET
//! client_auth = "basic"                 # basic | body
//! body = "form"                         # form | json
//! scope = "read write"
//! params = { audience = "https://api.example.com" }
//! refresh = { before_expiry_secs = 60 }
//! store = { kind = "file" }             # the user's cache directory, e.g. ~/.cache/grantkit
//!
//! [profiles.tso]
//! preset = "24sevenoffice"
//! client_id = "id"
//! client_secret = "secret"
//! login_organization = "123"
//! ```
//!
//! Environment variables override the file: `GRANTKIT_PROFILES__<PROFILE>__<KEY>` (nested
//! keys continue with `__`, e.g. `GRANTKIT_PROFILES__SENSORS__JWT__SECRET`). Variable
//! names are lower-cased, so profiles overridden from the environment need lower-case
//! names. Values are text taken verbatim, and other `GRANTKIT_*` variables are ignored
//! (see [`ConfigEnv`]). Errors name the key and the type expected, never the value.
//!
//! ```
//! use grantkit::config::Config;
//!
//! let config = Config::from_toml(r#"
//!     [profiles.acme]
//!     grant = "client_credentials"
//!     token_url = "https://auth.example.com/token"
//!     client_id = "app"
//!     client_secret = "s3cret"
//! "#).unwrap();
//! let manager = config.manager(Some("acme")).unwrap();
//! # let _ = manager;
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder, redact_url};
use grantkit_grants::{BodyFormat, ClientAuth};
use serde::Deserialize;

use crate::presets;

pub(crate) mod build;
mod describe;
mod env;
mod permissions;
mod text;

pub use env::ConfigEnv;
use text::{lenient_map, lenient_string};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "GRANTKIT_CONFIG";
/// The file name looked for in the working directory and the user's config directory.
pub const CONFIG_FILE_NAME: &str = "grantkit.toml";

/// A parsed configuration file: named profiles and a default.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when none is named.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// The profiles, by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The grant of a spelled-out profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantKind {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 7523 §2.1, HS256.
    JwtBearer,
}

impl GrantKind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::Password => "password",
            GrantKind::JwtBearer => "jwt_bearer",
        }
    }
}

/// A vendor preset a profile may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum PresetName {
    /// [`presets::twenty_four_seven_office`].
    #[serde(rename = "24sevenoffice")]
    TwentyFourSevenOffice,
    /// [`presets::disruptive_technologies`].
    #[serde(rename = "disruptive-technologies")]
    DisruptiveTechnologies,
}

impl PresetName {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PresetName::TwentyFourSevenOffice => "24sevenoffice",
            PresetName::DisruptiveTechnologies => "disruptive-technologies",
        }
    }

    /// The grant the preset uses.
    pub fn grant_kind(self) -> GrantKind {
        match self {
            PresetName::TwentyFourSevenOffice => GrantKind::ClientCredentials,
            PresetName::DisruptiveTechnologies => GrantKind::JwtBearer,
        }
    }

    /// The preset's token endpoint (a profile's `token_url` overrides it).
    pub fn token_url(self) -> &'static str {
        match self {
            PresetName::TwentyFourSevenOffice => presets::twenty_four_seven_office::TOKEN_URL,
            PresetName::DisruptiveTechnologies => presets::disruptive_technologies::TOKEN_URL,
        }
    }

    /// The preset's builder for profile `name`: the vendor module turns the profile's
    /// fields into the preset's input type and builds it.
    fn builder(self, name: &str, profile: &Profile) -> Result<TokenManagerBuilder> {
        match self {
            PresetName::TwentyFourSevenOffice => {
                presets::twenty_four_seven_office::from_profile(name, profile)
            }
            PresetName::DisruptiveTechnologies => {
                presets::disruptive_technologies::from_profile(name, profile)
            }
        }
    }
}

/// Where a profile's tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreKind {
    /// This process only.
    #[default]
    Memory,
    /// One file per token under a directory.
    File,
    /// A Redis server shared by a fleet.
    Redis,
}

/// The `store` table of a profile.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `memory` (default), `file` or `redis`.
    #[serde(default)]
    pub kind: StoreKind,
    /// The directory of a file store (default: the user's cache directory).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The URL of a Redis store.
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    /// The key prefix of a Redis store (default `grantkit:`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub prefix: Option<String>,
    /// A base64 32-byte key to encrypt tokens at rest (file and Redis).
    #[serde(default, deserialize_with = "lenient_string")]
    pub encryption_key: Option<String>,
}

/// The `jwt` table of a `jwt_bearer` profile.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The `kid` header.
    #[serde(default, deserialize_with = "lenient_string")]
    pub key_id: Option<String>,
    /// The `iss` claim (the service account).
    #[serde(default, deserialize_with = "lenient_string")]
    pub issuer: Option<String>,
    /// The HS256 secret.
    #[serde(default, deserialize_with = "lenient_string")]
    pub secret: Option<String>,
    /// `exp - iat` in seconds (default 3600).
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
    /// The `aud` claim (default: the token URL).
    #[serde(default, deserialize_with = "lenient_string")]
    pub audience: Option<String>,
    /// The `sub` claim.
    #[serde(default, deserialize_with = "lenient_string")]
    pub subject: Option<String>,
}

/// The `refresh` table of a profile.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RefreshConfig {
    /// Renew this many seconds before expiry (capped at half the lifetime).
    #[serde(default)]
    pub before_expiry_secs: Option<u64>,
}

/// One profile: a preset with its fields, or a grant spelled out; plus the store and the
/// refresh window. Any key may override what a preset sets.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Profile {
    /// Start from a vendor preset.
    #[serde(default)]
    pub preset: Option<PresetName>,
    /// The grant (required unless a preset is named).
    #[serde(default)]
    pub grant: Option<GrantKind>,
    /// The token endpoint.
    #[serde(default, deserialize_with = "lenient_string")]
    pub token_url: Option<String>,
    /// The client id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_id: Option<String>,
    /// The client secret.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_secret: Option<String>,
    /// `basic` or `body`.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// `form` or `json`.
    #[serde(default)]
    pub body: Option<BodyFormat>,
    /// The requested scope, space-separated.
    #[serde(default, deserialize_with = "lenient_string")]
    pub scope: Option<String>,
    /// Extra body parameters (sent in key order).
    #[serde(default, deserialize_with = "lenient_map")]
    pub params: BTreeMap<String, String>,
    /// The resource owner (password grant).
    #[serde(default, deserialize_with = "lenient_string")]
    pub username: Option<String>,
    /// The resource owner's password (password grant).
    #[serde(default, deserialize_with = "lenient_string")]
    pub password: Option<String>,
    /// The assertion (jwt_bearer grant).
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// The refresh window.
    #[serde(default)]
    pub refresh: Option<RefreshConfig>,
    /// The store.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// The statuses with which the API rejects a token, for the HTTP middleware (default
    /// `[401]`; the 24SevenOffice preset's `[401, 403]`); see
    /// `Profile::rejected_statuses_or_default` (feature `middleware`).
    #[serde(default)]
    pub rejected_statuses: Option<Vec<u16>>,
    /// Allow plain `http://` token URLs to non-loopback hosts.
    #[serde(default)]
    pub danger_allow_http: bool,
    /// The longest one HTTP attempt may take, in seconds (default 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The longest one renewal may take, retries included, in seconds (default 30).
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// The proxy for `https` token requests to non-loopback hosts (default: the
    /// environment's `HTTPS_PROXY`/`ALL_PROXY`); never used for loopback or plain `http`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub proxy: Option<String>,
    /// 24SevenOffice preset: the organization to log in to.
    #[serde(default, deserialize_with = "lenient_string")]
    pub login_organization: Option<String>,
    /// Disruptive Technologies preset: the service account's key id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub key_id: Option<String>,
    /// Disruptive Technologies preset: the service account's email.
    #[serde(default, deserialize_with = "lenient_string")]
    pub email: Option<String>,
    /// Disruptive Technologies preset: the service account's secret.
    #[serde(default, deserialize_with = "lenient_string")]
    pub secret: Option<String>,
}

impl Config {
    /// The file at `path` with the environment's overrides.
    ///
    /// A file that holds a secret (a client secret, a password, a JWT secret, an encryption
    /// key, a URL with credentials) and that group or others may read is reported once
    /// per process with a `WARN` event (as ssh does for private keys); it is still read.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the file is missing or
    /// invalid; the message names the file, the key and what was wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::config(format!(
                "configuration file {} does not exist",
                path.display()
            )));
        }
        permissions::warn_if_readable(path);
        Self::from_figment(Self::figment(path))
    }

    /// The configuration file to use: `$GRANTKIT_CONFIG`, else `./grantkit.toml`, else
    /// `grantkit/grantkit.toml` in the user's configuration directory.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the places looked at.
    pub fn discover() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Ok(PathBuf::from(path));
        }
        let mut candidates = vec![PathBuf::from(CONFIG_FILE_NAME)];
        if let Some(dir) = dirs::config_dir() {
            candidates.push(dir.join("grantkit").join(CONFIG_FILE_NAME));
        }
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| {
                let places: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                Error::config(format!(
                    "no configuration file: set {CONFIG_ENV} or create one of {}",
                    places.join(", ")
                ))
            })
    }

    /// The figment this crate reads: the TOML file, then the configuration variables of
    /// the environment (see [`ConfigEnv`]: `GRANTKIT_DEFAULT_PROFILE` and
    /// `GRANTKIT_PROFILES__<PROFILE>__<KEY>`, values taken verbatim as text).
    pub fn figment(path: &Path) -> Figment {
        Figment::new()
            .merge(Toml::file_exact(path))
            .merge(ConfigEnv::new())
    }

    /// A configuration from TOML text alone (no environment).
    ///
    /// # Errors
    /// As for [`Config::load`].
    pub fn from_toml(text: &str) -> Result<Config> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    /// A configuration from any figment.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) with figment's description
    /// of the bad key.
    pub fn from_figment(figment: Figment) -> Result<Config> {
        figment.extract::<Config>().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(|e| describe::describe(&e)).collect();
            Error::config(format!("invalid configuration: {}", messages.join("; ")))
        })
    }

    /// The names of the profiles, sorted.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// The profile called `name`, or the default one: `default_profile`, else the only
    /// profile if there is exactly one.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing profile and
    /// the ones that exist.
    pub fn profile(&self, name: Option<&str>) -> Result<(&str, &Profile)> {
        let name = match name.or(self.default_profile.as_deref()) {
            Some(n) => n,
            None if self.profiles.len() == 1 => {
                self.profiles.keys().next().map_or("", String::as_str)
            }
            None => {
                return Err(Error::config(format!(
                    "no profile named and no default_profile set; profiles: {}",
                    self.names_list()
                )));
            }
        };
        self.profiles
            .get_key_value(name)
            .map(|(k, p)| (k.as_str(), p))
            .ok_or_else(|| {
                Error::config(format!(
                    "no profile `{name}` in the configuration; profiles: {}",
                    self.names_list()
                ))
            })
    }

    fn names_list(&self) -> String {
        if self.profiles.is_empty() {
            "(none)".to_owned()
        } else {
            self.profile_names().collect::<Vec<_>>().join(", ")
        }
    }

    /// The builder for a profile (see [`Config::profile`] for which).
    ///
    /// # Errors
    /// As for [`Profile::builder`].
    pub fn builder(&self, name: Option<&str>) -> Result<TokenManagerBuilder> {
        let (name, profile) = self.profile(name)?;
        profile.builder(name)
    }

    /// The manager for a profile.
    ///
    /// # Errors
    /// As for [`Profile::builder`], and [`TokenManagerBuilder::build`].
    pub fn manager(&self, name: Option<&str>) -> Result<TokenManager> {
        let (name, profile) = self.profile(name)?;
        profile
            .builder(name)?
            .build()
            .map_err(|e| e.with_context(format!("profile `{name}`")))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("default_profile", &self.default_profile)
            .field("profiles", &self.profiles)
            .finish()
    }
}

/// What a profile resolves to, without secrets; for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileSummary {
    /// The preset, if any.
    pub preset: Option<&'static str>,
    /// The grant kind.
    pub grant: Option<&'static str>,
    /// The token endpoint, credentials redacted ([`redact_url`]).
    pub token_url: Option<String>,
    /// The store: `memory`, `file (<dir>)` or `redis (<url>)`, credentials redacted.
    pub store: String,
    /// The store's kind.
    pub store_kind: StoreKind,
}

impl Profile {
    /// A secret-free description of what this profile does.
    pub fn summary(&self) -> ProfileSummary {
        let store = match &self.store {
            None => "memory".to_owned(),
            Some(s) => match s.kind {
                StoreKind::Memory => "memory".to_owned(),
                StoreKind::File => match &s.path {
                    Some(path) => format!("file ({})", path.display()),
                    None => "file (user cache directory)".to_owned(),
                },
                StoreKind::Redis => format!(
                    "redis ({})",
                    s.url
                        .as_deref()
                        .map_or_else(|| "no url".to_owned(), redact_url)
                ),
            },
        };
        let token_url = self
            .token_url
            .as_deref()
            .or(self.preset.map(PresetName::token_url));
        ProfileSummary {
            preset: self.preset.map(PresetName::as_str),
            grant: self
                .grant
                .or(self.preset.map(PresetName::grant_kind))
                .map(GrantKind::as_str),
            token_url: token_url.map(redact_url),
            store,
            store_kind: self.store.as_ref().map(|s| s.kind).unwrap_or_default(),
        }
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("Profile")
            .field("preset", &self.preset)
            .field("grant", &self.grant)
            .field("token_url", &self.token_url.as_deref().map(redact_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_auth", &self.client_auth)
            .field("body", &self.body)
            .field("scope", &self.scope)
            .field("params", &self.params)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("jwt", &self.jwt)
            .field("refresh", &self.refresh)
            .field("store", &self.store)
            .field("login_organization", &self.login_organization)
            .field("key_id", &self.key_id)
            .field("email", &self.email)
            .field("secret", &redacted(&self.secret))
            .field("timeout_secs", &self.timeout_secs)
            .field("deadline_secs", &self.deadline_secs)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("lifetime_secs", &self.lifetime_secs)
            .field("audience", &self.audience)
            .field("subject", &self.subject)
            .finish()
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("prefix", &self.prefix)
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}
