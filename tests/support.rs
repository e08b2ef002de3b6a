//! Shared set-up for the integration tests: a test server and clients aimed at it.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

use std::sync::Arc;

use grantkit::time::ManualClock;
use grantkit_testkit::server::{ServerConfig, TestServer};

/// A test server reading `clock`.
pub async fn server_with_clock(clock: &ManualClock) -> TestServer {
    TestServer::start_with(ServerConfig::default(), Arc::new(clock.clone())).await
}

/// A `reqwest` client with the auth middleware for the test server's host and port.
pub fn authenticated_client(
    manager: grantkit::TokenManager,
    server: &TestServer,
) -> reqwest_middleware::ClientWithMiddleware {
    let host = server.url().trim_start_matches("http://").to_owned();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(grantkit::middleware::AuthMiddleware::new(manager, [host]))
        .build()
}

/// The README and every guide, compiled as doctests: each Rust block must build against
/// the facade (`no_run` where it would reach the network), so the docs cannot drift from
/// the API. Non-Rust blocks are tagged (`toml`, `sh`, `console`, `text`, …).
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../README.md")]
    pub struct Readme;
    #[doc = include_str!("../docs/concepts.md")]
    pub struct Concepts;
    #[doc = include_str!("../docs/grants.md")]
    pub struct Grants;
    #[doc = include_str!("../docs/stores.md")]
    pub struct Stores;
    #[doc = include_str!("../docs/presets.md")]
    pub struct Presets;
    #[doc = include_str!("../docs/configuration.md")]
    pub struct Configuration;
    #[doc = include_str!("../docs/cli.md")]
    pub struct Cli;
    #[doc = include_str!("../docs/security.md")]
    pub struct Security;
    #[doc = include_str!("../docs/reliability.md")]
    pub struct Reliability;
    #[doc = include_str!("../docs/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../docs/interop.md")]
    pub struct Interop;
}
