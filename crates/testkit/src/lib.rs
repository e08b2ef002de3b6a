//! Test support for grantkit (not API-stable, `publish = false`).
//!
//! - [`server`]: an in-process OAuth2 authorization server for tests, examples and
//!   benchmarks, over plain HTTP or HTTPS with client certificates (mutual TLS).
//! - [`certs`]: the test-only CA and certificates of the HTTPS mode.
//! - [`redis_server`], [`redis_setups`]: real `redis-server` processes: one server, a
//!   Cluster, TLS, a unix socket, an ACL user, Sentinel with fail-over.
//! - [`conformance`]: the suite every `TokenStore` must pass (from `grantkit-stores`).

// Test support: when the environment cannot give a test what it needs (a port, a Redis),
// failing loudly is the intended behaviour.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub use grantkit_core::ManualClock;

/// The store conformance suite, now published as `grantkit_stores::conformance`.
pub use grantkit_stores::conformance;
pub mod certs;
pub mod redis_server;
pub mod redis_setups;
pub mod server;
