//! OAuth2 tokens that are always valid, fetched as rarely as possible, and shared safely
//! between tasks, processes and machines.
//!
//! This is the crate to depend on. Its root holds what a program that fetches tokens names:
//! the [`TokenManager`] and its builder, the [`Token`], the [`Error`], and the grants with
//! their options. What you need to extend grantkit — a grant or a store of your own, a
//! policy, an HTTP client, a clock — is in the modules [`grant`], [`store`], [`policy`],
//! [`transport`], [`time`], [`secret`], [`error`] and [`future`]. Vendor [`presets`],
//! configuration profiles (`config`), an HTTP middleware (`middleware`) and a tower layer
//! (`tower`) complete it.
//!
//! # Quick start
//! ```no_run
//! use std::time::Duration;
//! use grantkit::{ClientCredentials, ClientGrant, TokenManager};
//!
//! # async fn run() -> grantkit::Result<()> {
//! let manager = TokenManager::builder()
//!     .grant(
//!         ClientCredentials::json("https://login.example.com/oauth/token", "id", "secret")
//!             .param("audience", "https://api.example.com"),
//!     )
//!     .refresh_before(Duration::from_secs(60))
//!     .build()?;
//! let token = manager.token().await?; // valid, cached, shared by every task
//! # let _ = token; Ok(()) }
//! ```
//!
//! Share it between processes with a [`store`], pick a preset, or load a profile from a
//! configuration file:
//! ```no_run
//! # async fn run() -> grantkit::Result<()> {
//! # #[cfg(feature = "store-redis")]
//! let fleet = grantkit::presets::twenty_four_seven_office("id", "secret", "123456")
//!     .store(grantkit::store::RedisStore::from_url("redis://127.0.0.1:6379")?)
//!     .build()?;
//! # #[cfg(feature = "config")]
//! let acme = grantkit::config::Config::load("grantkit.toml")?.manager(Some("acme"))?;
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//! The defaults are small: a client-credentials or password user compiles neither Redis,
//! nor figment, nor jsonwebtoken unless asking for them.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | yes | the default HTTP client, reqwest with rustls ([`transport::ReqwestHttpClient`]) |
//! | `store-file` | yes | `store::FileStore`: atomic writes, `0600`, a cross-process lock |
//! | `store-redis` | no | `store::RedisStore`: fleet-wide single flight (the `redis` crate): `redis://`, `rediss://` (TLS, rustls), `redis+unix://`, `redis+sentinel://` |
//! | `store-redis-cluster` | no | Redis Cluster through the same `store::RedisStore` |
//! | `grant-authorization-code` | no | `login`: a user's login in a browser, the authorization code grant with PKCE and a loopback listener (hyper's server half) |
//! | `grant-jwt-bearer` | no | `JwtBearer` (HS256, `jsonwebtoken`) and the Disruptive Technologies preset |
//! | `config` | no | `config`: profiles from a TOML file and the environment (figment) |
//! | `middleware` | no | `middleware`: authenticated `reqwest` requests, one retry on a rejected token |
//! | `metrics` | no | `metrics`: the manager's (and the middleware's) counters, histograms and seconds-until-expiry gauge through the [`metrics`](https://docs.rs/metrics) facade, for any exporter (docs/observability.md) |
//! | `tower` | no | `tower`: a `tower::Layer` authenticating hyper, tonic or any `tower::Service` over `http::Request`, with the middleware's rules (`tower-layer`, `tower-service`, `http-body`) |
//! | `test-util` | no | `time::ManualClock`, a clock tests move by hand, and `time::ManualSleeper`, which advances it instead of waiting |
//! | `conformance` | no | `store::conformance`: the test suite every [`store::TokenStore`] passes (not API-stable) |
//!
//! # Security
//! - Secrets, passwords, assertions and tokens are secret types: `[redacted]` in every
//!   `Debug`, never in an error or a log line, compared in constant time.
//! - Token URLs must be `https` (or `http` to a loopback host) unless
//!   [`TokenManagerBuilder::danger_allow_http`] says otherwise; token requests never
//!   follow redirects.
//! - The middleware and the tower layer send tokens only to the hosts they were configured
//!   for, only over HTTPS (loopback excepted), with the header marked sensitive; a request
//!   for a configured host over plain HTTP to another host fails unsent.
//!
//! # Minimum supported Rust version
//! Rust 1.89. Raising it is a minor-version change.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[cfg(any(feature = "middleware", feature = "tower"))]
mod auth_rules;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use grantkit_core::metrics;
pub mod presets;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

// The root: what a program that fetches tokens names.
pub use grantkit_core::{
    ClientSecret, Error, ErrorKind, Result, Stats, Token, TokenManager, TokenManagerBuilder,
};
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use grantkit_grants::JwtBearer;
pub use grantkit_grants::{
    BodyFormat, ClientAuth, ClientCredentials, ClientGrant, ClientOptions, DeviceCodeGrant,
    PasswordGrant, RefreshTokenGrant, SubjectToken, TokenExchange, WithRefresh,
};

/// Writing a grant of your own: the [`Grant`](grant::Grant) trait, the context it runs in,
/// the request builder, and the closure adapter [`grant_fn`](grant::grant_fn).
///
/// The ready-made grants are at the crate root ([`ClientCredentials`], [`PasswordGrant`],
/// [`RefreshTokenGrant`], …); docs/grants.md has a walk-through.
pub mod grant {
    pub use grantkit_core::{
        Grant, GrantContext, GrantFn, GrantIdentity, TokenRequest, async_trait, grant_fn,
    };
    /// A client certificate chain and its `x5t#S256` (`private_key_jwt` header).
    pub use grantkit_grants::Certificate;
    #[cfg(feature = "grant-jwt-bearer")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
    pub use grantkit_grants::{DEFAULT_ASSERTION_LIFETIME, JWT_BEARER_GRANT_TYPE, JwtSigningKey};
    /// The device authorization grant's parts (RFC 8628): what the server answered, how
    /// it is shown, and the identity user logins share.
    pub use grantkit_grants::{
        DEFAULT_INTERVAL, DEVICE_CODE_GRANT_TYPE, DeviceAuthorization, DevicePrompt,
        DevicePromptFn, SLOW_DOWN_STEP, device_prompt_fn, user_identity,
    };
    /// RFC 8693's token type URIs and grant type.
    pub use grantkit_grants::{NOT_APPLICABLE_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT_TYPE, token_types};
}

/// Revoking tokens (RFC 7009): [`Revocation`](revocation::Revocation) for a revocation
/// endpoint, the [`Revoker`](revocation::Revoker) trait to implement another, and the
/// [`RevocableToken`](revocation::RevocableToken) it receives. Give one to
/// [`TokenManagerBuilder::revoker`] and call [`TokenManager::revoke`].
pub mod revocation {
    pub use grantkit_core::{RevocableToken, Revoker};
    pub use grantkit_grants::Revocation;
}

/// Authorization server discovery (RFC 8414, OpenID Connect Discovery): an issuer in place
/// of a token URL. Every grant takes a [`TokenEndpoint`](discovery::TokenEndpoint); a
/// [`Discovery`](discovery::Discovery) fetches and caches the issuer's
/// [`ServerMetadata`](discovery::ServerMetadata) (see `docs/grants.md`, "Discovery").
///
/// ```no_run
/// # async fn run() -> grantkit::Result<()> {
/// use grantkit::{ClientCredentials, ClientOptions, TokenManager};
///
/// let grant = ClientCredentials::discover(
///     "https://auth.example.com",
///     ClientOptions::form("my-client", std::env::var("CLIENT_SECRET").unwrap_or_default()),
/// );
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let token = manager.token().await?; // the metadata is fetched once, then cached
/// # let _ = token; Ok(()) }
/// ```
pub mod discovery {
    pub use grantkit_core::{
        Discovery, MAX_METADATA_BYTES, ResolvedEndpoint, ServerMetadata, TokenEndpoint,
    };
}

/// Sender-constrained tokens (DPoP, RFC 9449): [`Dpop`](dpop::Dpop) for
/// [`TokenManagerBuilder::dpop`], the [`DpopKey`](dpop::DpopKey) a token is bound to, and
/// the servers' [`DpopNonces`](dpop::DpopNonces). The middleware sends the proofs of API
/// requests; docs/security.md says what DPoP protects against.
#[cfg(feature = "dpop")]
#[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
pub mod dpop {
    pub use grantkit_core::{Dpop, DpopAlgorithm, DpopKey, DpopNonces};
}

/// Where tokens are kept: the [`TokenStore`](store::TokenStore) trait with its lock and
/// failure-sharing types, and the stores grantkit ships.
///
/// [`MemoryStore`](store::MemoryStore) is always built; [`FileStore`](store::FileStore)
/// needs the `store-file` feature, [`RedisStore`](store::RedisStore) `store-redis`.
pub mod store {
    pub use grantkit_core::{
        DynTokenStore, FAILURE_TEXT_CHARS, FailureRecord, LockAttempt, LockRelease,
        MAX_FAILURE_RECORD_BYTES, MemoryStore, SharedTokenStore, StoreLock, StoreWatch, TokenStore,
        WatchChanges, async_trait,
    };
    #[cfg(any(feature = "store-file", feature = "store-redis"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "store-file", feature = "store-redis"))))]
    pub use grantkit_stores::EncryptionKey;
    #[cfg(feature = "store-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store-file")))]
    pub use grantkit_stores::FileStore;
    #[cfg(feature = "conformance")]
    #[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
    pub use grantkit_stores::conformance;
    #[cfg(feature = "store-redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store-redis")))]
    pub use grantkit_stores::{RedisOptions, RedisStore};
}

/// When a cached token is renewed and how a failed fetch is retried.
pub mod policy {
    pub use grantkit_core::{Freshness, RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
}

pub mod transport;

/// A user's login: the authorization code grant with PKCE and its one-shot loopback
/// listener ([`AuthorizationCodeLogin`](login::AuthorizationCodeLogin); docs/grants.md,
/// "Authorization code with PKCE"). The token a login returns is renewed through its
/// refresh token with [`AuthorizationCodeLogin::refresh_grant`](login::AuthorizationCodeLogin::refresh_grant).
#[cfg(feature = "grant-authorization-code")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-authorization-code")))]
pub mod login {
    pub use grantkit_grants::{AuthorizationCodeLogin, DEFAULT_LOGIN_TIMEOUT, PendingLogin, Pkce};
}

/// Time, injected: the [`Clock`](time::Clock) trait, the system clock, the [`Sleeper`](time::Sleeper) that waits, and (with the
/// `test-util` feature) a manual clock for tests.
pub mod time {
    pub use grantkit_core::{Clock, Sleeper, SystemClock, TokioSleeper};
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub use grantkit_core::{ManualClock, ManualSleeper};
}

/// Secret types: redacted in `Debug`, no `Display`, compared in constant time, zeroed on
/// drop; [`SecretSource`](secret::SecretSource), a secret read from a file or a function at
/// each use; and [`redact_url`](secret::redact_url), the one way grantkit shows a URL.
pub mod secret {
    pub use grantkit_core::{
        AccessToken, Assertion, AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode,
        Password, RefreshToken, SecretSource, SecretValue, SigningKey, redact_url,
    };
}

/// Errors: [`Error`] and [`ErrorKind`] (also at the root), the parsed RFC 6749 §5.2 error
/// body, and [`Report`](error::Report), which prints the whole cause chain.
pub mod error {
    pub use grantkit_core::{
        EXCERPT_CHARS, Error, ErrorKind, OAuthError, Report, Result, SERVER_TEXT_CHARS,
        sanitize_server_text,
    };
}

/// Named futures.
pub mod future {
    pub use grantkit_core::{OwnedTokenFuture, TokenFuture};
}

/// The facade's root stays narrow: the core's internals are not re-exported, nor are the
/// crates underneath or the `http` crate (it is `transport::http`). Each block must fail
/// to compile.
///
/// ```compile_fail,E0432
/// use grantkit::check_token_url;
/// ```
/// ```compile_fail,E0432
/// use grantkit::is_loopback;
/// ```
/// ```compile_fail,E0432
/// use grantkit::jwt_expiry;
/// ```
/// ```compile_fail,E0432
/// use grantkit::COARSE_CLOCK_SLACK;
/// ```
/// ```compile_fail,E0432
/// use grantkit::DEFAULT_LIFETIME;
/// ```
/// ```compile_fail,E0432
/// use grantkit::core::TokenManager;
/// ```
/// ```compile_fail,E0432
/// use grantkit::http::Request;
/// ```
/// ```compile_fail,E0432
/// use grantkit::store::check_token_url;
/// ```
/// ```compile_fail,E0599
/// // reqwest types are the facade's business (`grantkit::transport`), not the core's: the
/// // builder has no inherent method taking one.
/// let _ = grantkit::TokenManager::builder().reqwest_client(reqwest::Client::new());
/// ```
///
/// And what moved is where docs/concepts.md says:
///
/// ```
/// # #![allow(unused_imports)]
/// use grantkit::error::{OAuthError, Report};
/// use grantkit::future::{OwnedTokenFuture, TokenFuture};
/// use grantkit::grant::{Grant, GrantContext, GrantIdentity, TokenRequest, grant_fn};
/// use grantkit::policy::{RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
/// use grantkit::secret::{AccessToken, RefreshToken, redact_url};
/// use grantkit::store::{LockAttempt, MemoryStore, SharedTokenStore, TokenStore};
/// use grantkit::time::{Clock, SystemClock};
/// use grantkit::transport::{HttpClient, HttpRequest, HttpResponse, http};
/// ```
#[cfg(doctest)]
pub struct NarrowRoot;
