//! A fleet of processes sharing one DPoP-bound token (RFC 9449) through a real Redis: each
//! process (`grantkit-fleet-member`, this package's binary) builds its manager from the
//! same profile — DPoP, an encrypted Redis store — and makes API calls through the reqwest
//! middleware to the in-process resource server, which checks every proof (signature,
//! `htm`/`htu`, `ath`, replay, the token's key binding) and demands its own nonces, while
//! the token endpoint demands nonces too. Every call succeeds, every process uses the one
//! token, and the fleet asked the token endpoint for one token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

use std::sync::Arc;

use grantkit::time::SystemClock;
use grantkit_integration_tests::fleet;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{DpopMode, ServerConfig, TestServer};

const PROCESSES: usize = 6;
const CALLS: usize = 4;

#[test]
fn processes_sharing_a_redis_store_use_one_dpop_bound_token_for_every_api_call() {
    let redis = RedisServer::start();
    let mut server_config = ServerConfig::default();
    server_config.dpop = DpopMode::RequireNonce;
    server_config.api_dpop_nonce = true;
    let server = TestServer::start_in_background(server_config, Arc::new(SystemClock::new()));
    let dir = tempfile::tempdir().unwrap();
    let config = fleet::write_profile(
        dir.path(),
        &fleet::Client {
            token_url: &server.token_url(),
            id: TestServer::CLIENT_ID,
            secret: TestServer::CLIENT_SECRET,
            dpop_alg: "ES256",
        },
        redis.url(),
        &unique_prefix("dpop_fleet"),
    );

    let api = format!("{}?fleet=1", server.resource_url());
    let mut fingerprints = fleet::run(
        env!("CARGO_BIN_EXE_grantkit-fleet-member"),
        &config,
        "fleet",
        &api,
        PROCESSES,
        CALLS,
        &String::new,
    );
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 1, "one token for the whole fleet");
    assert_eq!(
        server.tokens_issued(),
        1,
        "one token request answered with a token"
    );
    assert_eq!(server.dpop_api_accepted(), PROCESSES * CALLS);
    // Every refusal was a nonce asked for, never a bad proof or binding: one at the token
    // endpoint (the one renewal's first request), and one per process at the API (each
    // process's first call; the middleware retries it with the nonce and remembers it).
    let refusals = server.dpop_refusals();
    assert!(refusals.iter().all(|r| r.contains("nonce")), "{refusals:?}");
    let at = |side: &str| refusals.iter().filter(|r| r.starts_with(side)).count();
    assert_eq!(at("token:"), 1, "{refusals:?}");
    assert_eq!(at("api:"), PROCESSES, "{refusals:?}");
    assert_eq!(server.dpop_api_refused(), PROCESSES);
}
