//! The OAuth2 grants of grantkit: client credentials (form or JSON body, Basic or body
//! client authentication), password, JWT bearer (HS256), refresh token and token exchange
//! (RFC 8693), and token revocation (RFC 7009).
//!
//! Each grant implements [`grantkit_core::Grant`]: hand it to a
//! [`TokenManager`](grantkit_core::TokenManager) and get caching, single flight,
//! refresh-ahead and retries. Every wire format is configuration, not a fork: one
//! [`ClientOptions`] type, embedded in every grant, holds the client id and secret, the
//! client authentication ([`ClientAuth`]), the body encoding ([`BodyFormat`]), the scope
//! and any extra body parameter; the [`ClientGrant`] trait gives every grant its setters.
//! Renewing through refresh tokens is [`WithRefresh`]'s job alone
//! ([`ClientGrant::with_refresh`]).
//!
//! | grant | type | RFC |
//! |---|---|---|
//! | client credentials | [`ClientCredentials`] | 6749 §4.4 |
//! | resource-owner password | [`PasswordGrant`] | 6749 §4.3 |
//! | JWT bearer (HS256, or a PEM or JWK key) | `JwtBearer` with a `JwtSigningKey` (feature `jwt-bearer`) | 7523 §2.1 |
//! | refresh token | [`RefreshTokenGrant`]; [`WithRefresh`] puts it in front of any grant | 6749 §6 |
//! | device authorization (a user's login) | [`DeviceCodeGrant`], renewed with [`ClientGrant::with_refresh`] | 8628 |
//! | authorization code with PKCE, loopback redirect (a user's login in a browser) | `AuthorizationCodeLogin` (feature `authorization-code`) | 6749 §4.1, 7636, 8252 |
//! | revocation of a manager's tokens (not a grant: a `Revoker`) | [`Revocation`] | 7009 |
//! | token exchange (subject from a value, a file, a function or another manager) | [`TokenExchange`] with a [`SubjectToken`] | 8693 |
//!
//! # Quick start
//! ```no_run
//! # async fn run() -> grantkit_core::Result<()> {
//! use grantkit_core::TokenManager;
//! use grantkit_grants::{ClientCredentials, ClientGrant};
//!
//! let grant = ClientCredentials::form(
//!     "https://auth.example.com/oauth/token",
//!     "my-client",
//!     std::env::var("OAUTH_CLIENT_SECRET").unwrap_or_default(),
//! )
//! .scope("read write");
//! let manager = TokenManager::builder().grant(grant).build()?;
//! let token = manager.token().await?;
//! println!("Authorization: {}", token.authorization_header());
//! # Ok(()) }
//! ```
//!
//! Calling a grant directly, outside a manager, takes a
//! [`GrantContext`](grantkit_core::GrantContext):
//! ```no_run
//! # async fn run() -> grantkit_core::Result<()> {
//! use std::sync::Arc;
//! use grantkit_core::{Grant, GrantContext, ReqwestHttpClient, SystemClock};
//! use grantkit_grants::ClientCredentials;
//!
//! let cx = GrantContext::new(Arc::new(ReqwestHttpClient::new()?), Arc::new(SystemClock::new()));
//! let token = ClientCredentials::form("https://auth.example.com/token", "app", "s3cret")
//!     .fetch_token(&cx)
//!     .await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! # Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `authorization-code` | yes | `AuthorizationCodeLogin`, `PendingLogin`, `Pkce`: a user's login in a browser with a one-shot listener on `127.0.0.1` (hyper, already built by reqwest; the OS random generator through `aws-lc-rs`) |
//! | `jwt-bearer` | yes | `JwtBearer`, `JwtSigningKey` (HS256, or RS/PS/ES/EdDSA from PEM or a JWK, `kid` by RFC 7638 thumbprint), the `x5t#S256` header of a `Certificate`, and the client assertion methods `ClientAuth::ClientSecretJwt` / `ClientAuth::PrivateKeyJwt` (signs with `jsonwebtoken` on the `aws-lc-rs` backend, the one reqwest's rustls already builds) |
//! | `dpop` | no | with `authorization-code`: a login made with a DPoP context (`GrantContext::with_dpop`) asks for a code bound to its key (`dpop_jkt`, RFC 9449 §10); the proofs themselves are `grantkit-core`'s |
//!
//! # Security
//! - Client secrets, passwords, signing keys, assertions and refresh tokens are held in
//!   `grantkit_core`'s secret types: every `Debug` here prints them as `[redacted]`, and
//!   no error or log line contains them. The HTTP Basic header is marked sensitive.
//! - A client secret, password, HS256 secret or assertion may come from a
//!   [`SecretSource`](grantkit_core::SecretSource): a file read afresh at every token
//!   request (trailing line endings removed) or a function, so a secret rotated in place
//!   is used without a restart ([`ClientOptions::client_secret_file`],
//!   `ClientOptions::client_assertion_file`, `JwtBearer::assertion_file`). A file that
//!   cannot be read is a `Config` error naming the field and the path, never the
//!   contents.
//! - [`Grant::identity`](grantkit_core::Grant::identity) never contains a secret; a
//!   configured refresh token appears only as a short SHA-256 fingerprint.
//! - Token URLs must be `https`, or `http` to a loopback host, unless the manager allows
//!   plain `http` explicitly; redirects are never followed (both enforced by
//!   `grantkit_core`).
//! - Time comes from the injected [`Clock`](grantkit_core::Clock), never the system clock
//!   directly, so JWT `iat`/`exp` are testable.
//!
//! # Minimum supported Rust version
//! Rust 1.89, like the rest of the workspace. Raising it is a minor-version change.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

/// Implements [`ClientGrant`] for a grant whose fields are `token_url` (a `String` or a
/// [`TokenEndpoint`](grantkit_core::TokenEndpoint)) and
/// `options: ClientOptions`, as every grant of this crate's is.
macro_rules! impl_client_grant {
    ($grant:ty) => {
        impl $crate::ClientGrant for $grant {
            fn token_url(&self) -> &str {
                ::std::convert::AsRef::<str>::as_ref(&self.token_url)
            }

            fn token_endpoint(&self) -> ::grantkit_core::TokenEndpoint {
                ::grantkit_core::TokenEndpoint::from(&self.token_url)
            }

            fn client_options(&self) -> &$crate::ClientOptions {
                &self.options
            }

            fn client_options_mut(&mut self) -> &mut $crate::ClientOptions {
                &mut self.options
            }
        }
    };
}

#[cfg(feature = "authorization-code")]
mod authorization_code;
mod certificate;
mod client;
mod client_credentials;
mod device;
mod discovered;
mod error;
#[cfg(feature = "jwt-bearer")]
mod jwt_bearer;
mod options;
mod password;
mod refresh;
mod revocation;
mod token_exchange;

#[cfg(feature = "authorization-code")]
#[cfg_attr(docsrs, doc(cfg(feature = "authorization-code")))]
pub use authorization_code::{
    AuthorizationCodeLogin, DEFAULT_LOGIN_TIMEOUT, PendingLogin, pkce::Pkce,
};
pub use certificate::Certificate;
pub use client::{BodyFormat, ClientAuth};
pub use client_credentials::ClientCredentials;
pub use device::{
    DEFAULT_INTERVAL, DEVICE_CODE_GRANT_TYPE, DeviceAuthorization, DeviceCodeGrant, DevicePrompt,
    DevicePromptFn, SLOW_DOWN_STEP, device_prompt_fn, user_identity,
};
#[cfg(feature = "jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt-bearer")))]
pub use jwt_bearer::{
    DEFAULT_ASSERTION_LIFETIME, JWT_BEARER_GRANT_TYPE, JwtBearer, JwtSigningKey, PemKey,
};
#[cfg(feature = "jwt-bearer")]
pub use options::{CLIENT_ASSERTION_LIFETIME, CLIENT_ASSERTION_TYPE};
pub use options::{ClientGrant, ClientOptions};
pub use password::PasswordGrant;
pub use refresh::{RefreshTokenGrant, WithRefresh};
pub use revocation::Revocation;
pub use token_exchange::{
    NOT_APPLICABLE_TOKEN_TYPE, SubjectToken, TOKEN_EXCHANGE_GRANT_TYPE, TokenExchange, token_types,
};
