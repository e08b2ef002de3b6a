//! Shared set-up for the integration tests: a test server and clients aimed at it.

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
