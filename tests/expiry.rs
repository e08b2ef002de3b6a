//! Whole-second expiry, end to end: a token endpoint that ends its tokens at the current
//! whole second plus the lifetime (as many do, and as a JWT `exp` must), a protected API
//! that rejects a token from that instant on, and a manager renewing 2-second tokens.
//!
//! Before grantkit took a token to expire a second before `issued_at + expires_in`, about
//! one run in five of a real-time loop was handed a token the server had already expired.
//! Both sides read one manual clock here, moved in uneven steps, so every fraction of a
//! second is visited and no test sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use grantkit::{ClientCredentials, TokenManager, time::ManualClock};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::server::{ExpiresIn, TestServer};

/// Calls the protected API `steps` times with the manager's token, moving the clock
/// 31–263 ms between calls; returns (rejected calls, tokens issued).
async fn run(expires_in: ExpiresIn, steps: usize) -> (usize, usize) {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    server.configure(|c| {
        c.lifetime = Duration::from_secs(2);
        c.expires_in = expires_in;
        c.whole_second_expiry = true;
    });
    let manager = TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .clock(clock.clone())
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut rejected = 0;
    for _ in 0..steps {
        clock.advance(Duration::from_millis(rng.u64(31..=263)));
        let token = manager.token().await.unwrap();
        let status = http
            .get(server.api_url())
            .header("authorization", token.authorization_header())
            .send()
            .await
            .unwrap()
            .status();
        if status != reqwest::StatusCode::OK {
            rejected += 1;
        }
    }
    (rejected, server.tokens_issued())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_ending_at_a_whole_second_are_never_served_expired() {
    let (rejected, issued) = run(ExpiresIn::Number, 2000).await;
    assert_eq!(rejected, 0, "calls rejected with an expired token");
    // ~290 s of clock: a renewal every half second or so.
    assert!(issued > 300, "only {issued} renewals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_whose_exp_is_a_whole_second_are_never_served_expired() {
    let (rejected, issued) = run(ExpiresIn::JwtOnly, 2000).await;
    assert_eq!(rejected, 0, "calls rejected with an expired token");
    assert!(issued > 150, "only {issued} renewals");
}
