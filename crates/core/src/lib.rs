//! The core of grantkit: the [`Token`], the [`Grant`], [`TokenStore`] and
//! [`RefreshPolicy`] traits, the [`Error`], the HTTP exchange, and the [`TokenManager`]
//! that ties them together.
//!
//! Most programs depend on the `grantkit` facade instead, which adds the concrete grants,
//! the file and Redis stores, vendor presets and configuration profiles. Depend on this
//! crate directly to implement a grant or a store without pulling in the rest.
//!
//! # Quick start
//! ```no_run
//! use std::time::Duration;
//! use grantkit_core::{ClientSecret, Grant, GrantContext, GrantIdentity, Result, Token, TokenManager, TokenRequest};
//!
//! #[derive(Debug)]
//! struct ClientCredentials { url: String, id: String, secret: ClientSecret }
//!
//! #[async_trait::async_trait]
//! impl Grant for ClientCredentials {
//!     async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
//!         let req = TokenRequest::post(&self.url)
//!             .basic_auth(&self.id, &self.secret)
//!             .form([("grant_type", "client_credentials")])
//!             .build()?;
//!         cx.exchange(req).await
//!     }
//!     fn identity(&self) -> GrantIdentity {
//!         GrantIdentity::new("client_credentials", &self.url).with_client_id(&self.id)
//!     }
//! }
//!
//! # async fn run() -> Result<()> {
//! let manager = TokenManager::builder()
//!     .grant(ClientCredentials {
//!         url: "https://auth.example.com/oauth/token".into(),
//!         id: "my-client".into(),
//!         secret: ClientSecret::new(std::env::var("CLIENT_SECRET").unwrap_or_default()),
//!     })
//!     .refresh_before(Duration::from_secs(60))
//!     .build()?;
//! let token = manager.token().await?; // cached, renewed ahead of expiry, shared
//! # let _ = token; Ok(()) }
//! ```
//!
//! # Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | the manager's counters, histograms and gauge through the [`metrics`](https://docs.rs/metrics) facade, and `TokenManager::flush_metrics`; see the `metrics` module |
//! | `default-http-client` | yes | [`ReqwestHttpClient`], the default HTTP client (rustls), with [`ClientCertificate`] (mutual TLS) and [`RootCertificates`] (an internal CA) |
//! | `dpop` | no | sender-constrained tokens (RFC 9449): [`TokenManagerBuilder::dpop`], [`DpopKey`], proofs on token and API requests |
//!
//! # Security
//! - Secrets ([`ClientSecret`], [`AccessToken`], [`RefreshToken`], [`Password`],
//!   [`SigningKey`], [`Assertion`]) print as `[redacted]`, compare in constant time and are
//!   zeroed when dropped. Errors never carry them.
//! - Token requests to plain `http://` URLs are refused unless the host is loopback or
//!   [`TokenManagerBuilder::danger_allow_http`] is set; redirects are never followed.
//!
//! # Minimum supported Rust version
//! Rust 1.89 (edition 2024; `std::fs::File::try_lock`). Raising it is a minor-version change.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod clock;
mod discovery;
#[cfg(feature = "dpop")]
pub mod dpop;
mod error;
mod failure;
mod grant;
mod http;
mod manager;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod policy;
mod redact;
mod revoke;
mod secret;
mod sleep;
mod store;
mod token;

#[cfg(any(test, feature = "test-util"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use discovery::{
    Discovery, MAX_METADATA_BYTES, ResolvedEndpoint, ServerMetadata, TokenEndpoint,
};
#[cfg(feature = "dpop")]
pub use dpop::{Dpop, DpopAlgorithm, DpopKey, DpopNonces};
pub use error::{
    EXCERPT_CHARS, Error, ErrorKind, OAuthError, Report, Result, SERVER_TEXT_CHARS,
    sanitize_server_text,
};
pub use failure::{FAILURE_TEXT_CHARS, FailureRecord, MAX_FAILURE_RECORD_BYTES};
pub use grant::{Grant, GrantContext, GrantFn, GrantIdentity, grant_fn};
#[cfg(feature = "default-http-client")]
pub use http::{ClientCertificate, ReqwestHttpClient, RootCertificates};
pub use http::{DEFAULT_MAX_RESPONSE_BYTES, HttpClient, HttpRequest, HttpResponse, TokenRequest};
pub use manager::{OwnedTokenFuture, Stats, TokenFuture, TokenManager, TokenManagerBuilder};
pub use policy::{Freshness, RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
pub use redact::redact_url;
pub use revoke::{RevocableToken, Revoker};
pub use secret::{
    AccessToken, Assertion, AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode, Password,
    RefreshToken, SecretSource, SecretValue, SigningKey,
};
#[cfg(any(test, feature = "test-util"))]
pub use sleep::ManualSleeper;
pub use sleep::{Sleeper, TokioSleeper};
pub use store::{
    DynTokenStore, LockAttempt, LockRelease, MemoryStore, SharedTokenStore, StoreLock, StoreWatch,
    TokenStore, WatchChanges,
};
pub use token::Token;

/// Re-exported so that implementors of the traits use the same version.
pub use async_trait::async_trait;
