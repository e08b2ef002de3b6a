//! Request-level tests of every grant against a mockito token endpoint: the exact method,
//! path, headers and body of each wire format, the tokens the answers become, the
//! errors, refresh-token handling, and grants driven by a `TokenManager`; the mutual-TLS
//! methods against the test server's HTTPS mode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[cfg(feature = "authorization-code")]
mod authorization_code;
#[cfg(feature = "jwt-bearer")]
mod client_assertion;
mod client_credentials;
mod device;
#[cfg(feature = "jwt-bearer")]
mod discovery;
#[cfg(feature = "jwt-bearer")]
mod discovery_cache;
#[cfg(feature = "jwt-bearer")]
mod discovery_device;
#[cfg(feature = "jwt-bearer")]
mod discovery_exchange;
#[cfg(all(feature = "jwt-bearer", feature = "authorization-code"))]
mod discovery_login;
#[cfg(feature = "jwt-bearer")]
mod discovery_revocation;
mod errors;
#[cfg(feature = "jwt-bearer")]
mod external_assertions;
#[cfg(feature = "jwt-bearer")]
mod jwt_bearer;
#[cfg(feature = "jwt-bearer")]
mod keys;
mod manager;
mod password;
mod refresh;
mod revocation;
#[cfg(feature = "jwt-bearer")]
mod sources;
mod tls_client_auth;
mod token_exchange;
mod token_exchange_sources;
