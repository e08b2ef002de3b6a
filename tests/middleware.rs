//! The reqwest middleware: where it attaches tokens, and what it does when it cannot.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use grantkit::middleware::AuthMiddleware;
use grantkit::{ClientCredentials, TokenManager, time::ManualClock};
use grantkit_integration_tests::{authenticated_client, server_with_clock};
use grantkit_testkit::server::{Fault, TestServer};

fn manager(server: &TestServer) -> TokenManager {
    TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .retry(grantkit::policy::RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn authenticates_configured_hosts_only() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    let other = server_with_clock(&clock).await; // same host, another port
    let client = authenticated_client(manager(&api), &api);

    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        200
    );
    let elsewhere = client.get(other.api_url()).send().await.unwrap();
    assert_eq!(
        elsewhere.status(),
        401,
        "no token sent to a host:port not configured"
    );
    assert_eq!(api.token_requests(), 1);
}

#[tokio::test]
async fn leaves_an_existing_authorization_header_alone() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    let client = authenticated_client(manager(&api), &api);
    let response = client
        .get(api.api_url())
        .header("Authorization", "Bearer caller-chose-this")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "the caller's header was sent as is");
    assert_eq!(api.token_requests(), 0, "no token fetched for it");
}

#[tokio::test]
async fn without_a_token_the_request_fails_and_is_never_sent() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    api.push_fault(Fault::Body(
        401,
        "application/json",
        r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#.into(),
    ));
    let client = authenticated_client(manager(&api), &api);
    let error = client.get(api.api_url()).send().await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("invalid_client"), "{text}");
    assert_eq!(api.api_requests(), 0, "never sent unauthenticated");
}

#[tokio::test]
async fn a_rejection_of_a_revoked_token_is_retried_once() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    let client = authenticated_client(manager(&api), &api);
    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        200
    );
    api.revoke_all();
    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        200
    );
    assert_eq!(api.token_requests(), 2);
    assert_eq!(api.api_requests(), 3);
}

#[tokio::test]
async fn statuses_that_are_not_rejections_are_returned_as_they_are() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    api.configure(|c| c.api_reject_status = 403);
    // This manager counts only 401 as a rejection (the default).
    let client = authenticated_client(manager(&api), &api);
    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        200
    );
    api.revoke_all();
    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        403
    );
    assert_eq!(api.token_requests(), 1, "no renewal");
    assert_eq!(api.api_requests(), 2, "no retry");

    let strict = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            AuthMiddleware::new(
                manager(&api),
                [api.url().trim_start_matches("http://").to_owned()],
            )
            .rejected_statuses([403]),
        )
        .build();
    api.revoke_all();
    assert_eq!(
        strict.get(api.api_url()).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn when_the_renewal_after_a_rejection_fails_its_error_is_returned() {
    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    let client = authenticated_client(manager(&api), &api);
    assert_eq!(
        client.get(api.api_url()).send().await.unwrap().status(),
        200
    );
    api.revoke_all();
    api.configure(|c| c.clients.clear()); // the client is no longer registered
    let error = client.get(api.api_url()).send().await.unwrap_err();
    assert!(format!("{error:#}").contains("invalid_client"), "{error:#}");
    assert_eq!(api.api_requests(), 2, "not sent again without a token");
    assert_eq!(api.token_requests(), 2);
}

#[test]
fn applies_only_over_https_or_loopback() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::at_fixed_epoch();
    let server = rt.block_on(server_with_clock(&clock));
    let m = AuthMiddleware::new(
        manager(&server),
        [
            "api.example.com",
            "localhost",
            "127.0.0.1:8080",
            "[::1]:9000",
            "bad.example:port",
        ],
    );
    let yes = [
        "https://api.example.com/x",
        "https://API.example.com:443/x",
        "http://localhost/x",
        "http://127.0.0.1:8080/x",
        "http://[::1]:9000/x",
    ];
    let no = [
        "http://api.example.com/x",
        "https://evil.example.com/x",
        "https://api.example.com.evil.com/x",
        "http://127.0.0.1:9090/x",
        "http://[::1]:9001/x",
        "https://bad.example/x",
    ];
    for u in yes {
        assert!(m.applies_to(&u.parse().unwrap()), "{u}");
    }
    for u in no {
        assert!(!m.applies_to(&u.parse().unwrap()), "{u}");
    }
}
