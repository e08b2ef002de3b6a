//! OAuth2 tokens that are always valid, fetched as rarely as possible, and shared safely
//! between tasks, processes and machines.
//!
//! This is the crate to depend on: it re-exports the core ([`TokenManager`], [`Token`],
//! the traits, [`Error`]), the grants, the stores, and adds vendor [`presets`],
//! configuration profiles ([`config`]) and an HTTP [`middleware`].
//!
//! # Quick start
//! ```no_run
//! use std::time::Duration;
//! use grantkit::{ClientCredentials, ClientGrant, RedisStore, TokenManager};
//!
//! # async fn run() -> grantkit::Result<()> {
//! let manager = TokenManager::builder()
//!     .grant(
//!         ClientCredentials::json("https://login.example.com/oauth/token", "id", "secret")
//!             .param("audience", "https://api.example.com"),
//!     )
//!     .store(RedisStore::connect("redis://127.0.0.1:6379")?)
//!     .refresh_before(Duration::from_secs(60))
//!     .build()?;
//! let token = manager.token().await?; // valid, cached, shared by the whole fleet
//! # let _ = token; Ok(()) }
//! ```
//!
//! Or pick a preset, or a profile from a configuration file:
//! ```no_run
//! # async fn run() -> grantkit::Result<()> {
//! let tso = grantkit::presets::twenty_four_seven_office("id", "secret", "123456").build()?;
//! # #[cfg(feature = "config")]
//! let acme = grantkit::config::Config::load("grantkit.toml")?.manager(Some("acme"))?;
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | yes | the default HTTP client, reqwest with rustls |
//! | `store-file` | yes | [`FileStore`]: atomic writes, `0600`, a cross-process lock |
//! | `store-redis` | yes | [`RedisStore`]: fleet-wide single flight |
//! | `store-redis-cluster` | no | Redis Cluster through the same [`RedisStore`] |
//! | `grant-jwt-bearer` | yes | [`JwtBearer`] (HS256) and the Disruptive Technologies preset |
//! | `config` | yes | [`config`]: profiles from a TOML file and the environment |
//! | `middleware` | yes | [`middleware`]: authenticated `reqwest` requests, one retry on a rejected token |
//!
//! # Security
//! - Secrets, passwords, assertions and tokens are secret types: `[redacted]` in every
//!   `Debug`, never in an error or a log line, compared in constant time.
//! - Token URLs must be `https` (or `http` to a loopback host) unless
//!   [`TokenManagerBuilder::danger_allow_http`] says otherwise; token requests never
//!   follow redirects.
//! - The middleware sends tokens only to the hosts it was configured for, only over HTTPS
//!   (loopback excepted), with the header marked sensitive.
//!
//! # Minimum supported Rust version
//! Rust 1.89. Raising it is a minor-version change.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "middleware")]
pub mod middleware;
pub mod presets;

/// A clock that moves only when told to, for tests (the `test-util` feature).
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use grantkit_core::ManualClock;
#[cfg(feature = "rustls")]
pub use grantkit_core::ReqwestHttpClient;
pub use grantkit_core::{
    AccessToken, Assertion, ClientSecret, Clock, DynTokenStore, Error, ErrorKind, FailureRecord,
    Freshness, Grant, GrantContext, GrantFn, GrantIdentity, HttpClient, HttpRequest, HttpResponse,
    LockAttempt, LockRelease, MemoryStore, OAuthError, Password, RefreshBeforeExpiry,
    RefreshPolicy, RefreshToken, Report, Result, RetryPolicy, SharedTokenStore, SigningKey, Stats,
    StoreLock, SystemClock, Token, TokenFuture, TokenManager, TokenManagerBuilder, TokenRequest,
    TokenStore, async_trait, grant_fn, redact_url,
};
pub use grantkit_grants::{
    BodyFormat, ClientAuth, ClientCredentials, ClientGrant, ClientOptions, PasswordGrant,
    RefreshTokenGrant, WithRefresh,
};
#[cfg(feature = "grant-jwt-bearer")]
pub use grantkit_grants::{JwtBearer, JwtSigningKey};
#[cfg(any(feature = "store-file", feature = "store-redis"))]
pub use grantkit_stores::EncryptionKey;
#[cfg(feature = "store-file")]
pub use grantkit_stores::FileStore;
#[cfg(feature = "store-redis")]
pub use grantkit_stores::RedisStore;

/// The core crate, for what is not re-exported at the top.
pub use grantkit_core as core;
/// The grants crate.
pub use grantkit_grants as grants;
/// The stores crate.
pub use grantkit_stores as stores;
/// The `http` crate whose types [`HttpRequest`] and [`HttpResponse`] are, for custom
/// [`HttpClient`]s.
pub use http;
