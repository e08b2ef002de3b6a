//! Test support for grantkit (not API-stable, `publish = false`).
//!
//! - [`server`]: an in-process OAuth2 authorization server for tests, examples and
//!   benchmarks.
//! - [`conformance`]: the suite every `TokenStore` must pass.

pub use grantkit_core::ManualClock;

pub mod conformance;
pub mod server;
