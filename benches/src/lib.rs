//! Shared set-up of the benchmarks: a runtime, a test server, managers aimed at it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up: a failure stops the run

use std::time::Duration;

use grantkit::{ClientCredentials, TokenManager, TokenManagerBuilder, policy::RetryPolicy};
use grantkit_testkit::server::TestServer;

/// A multi-threaded runtime on every core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A builder for the test server's registered client.
pub fn builder(server: &TestServer) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .retry(RetryPolicy::default().with_initial_backoff(Duration::from_millis(20)))
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
