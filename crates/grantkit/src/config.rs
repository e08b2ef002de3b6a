//! Configuration profiles: a TOML file plus environment overrides, read with `figment`.
//!
//! The schema (every key, with a complete example) is in `docs/configuration.md`. In short:
//!
//! ```toml
//! default_profile = "acme"
//!
//! [profiles.acme]
//! grant = "client_credentials"          # client_credentials | password | jwt_bearer | device_code
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

mod build;
mod client_auth;
mod describe;
mod dpop;
mod env;
mod exchange;
mod load;
mod login;
mod permissions;
mod preset;
mod schema;
mod signing;
mod sources;
mod store_redis;
mod summary;
mod text;
mod tls;

pub(crate) use build::missing;
pub(crate) use build::need;
#[cfg(feature = "grant-jwt-bearer")]
pub(crate) use build::override_jwt;
pub use env::ConfigEnv;
pub(crate) use exchange::single_audience;
pub use login::USER_TOKEN_EXTRA_TTL;
pub use preset::PresetName;
pub use schema::{
    Config, ConfigUrl, DpopConfig, GrantKind, JwtConfig, Profile, RefreshConfig, StoreConfig,
    StoreKind,
};
pub use summary::ProfileSummary;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "GRANTKIT_CONFIG";
/// The most configuration text read from a pipe, a device or stdin, in bytes (1 MiB): a
/// source that never ends (`-c /dev/zero`) is an error, not a process that fills memory.
/// Regular files are not limited.
pub const MAX_CONFIG_TEXT_BYTES: u64 = 1 << 20;
/// The file name looked for in the working directory and the user's config directory.
pub const CONFIG_FILE_NAME: &str = "grantkit.toml";
