//! Where a token exchange's subject comes from, read at each renewal: a file rotated in
//! place, a function, and another `TokenManager` — which renews its own token when it
//! expires, and is told to drop a subject token the exchange refused (`invalid_grant`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grantkit_core::{Error, ErrorKind, Grant, ManualClock, TokenManager};
use grantkit_grants::{ClientCredentials, ClientOptions, SubjectToken, TokenExchange, token_types};
use mockito::Matcher;

use crate::support::*;
use crate::token_exchange::{ACCESS_TOKEN_TYPE, EXCHANGE, JWT_TYPE, exchange_mock};

fn manager(grant: impl Grant + 'static, clock: &ManualClock) -> TokenManager {
    TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn exchange(url: &str, subject: SubjectToken) -> TokenExchange {
    TokenExchange::new(
        format!("{url}/token"),
        ClientOptions::form("gw", "gw-s3cret"),
        subject,
    )
    .audience("orders")
}

fn body(subject: &str, subject_type: &str) -> String {
    format!("{EXCHANGE}&subject_token={subject}&subject_token_type={subject_type}&audience=orders")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_token_file_is_read_again_at_each_renewal() {
    let mut server = mockito::Server::new_async().await;
    let auth = || Matcher::Exact(basic("gw:gw-s3cret"));
    let first = exchange_mock(
        &mut server,
        auth(),
        &body("sa.one", JWT_TYPE),
        &token_body("d1", ""),
    )
    .await;
    let second = exchange_mock(
        &mut server,
        auth(),
        &body("sa.two", JWT_TYPE),
        &token_body("d2", ""),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "sa.one\n").unwrap();
    let clock = clock();
    let manager = manager(
        exchange(&server.url(), SubjectToken::file(&path, token_types::JWT)),
        &clock,
    );

    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer d1"
    );
    std::fs::write(&path, "sa.two\n").unwrap(); // the kubelet rotates it
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer d1"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer d2"
    );
    first.assert_async().await;
    second.assert_async().await;

    std::fs::remove_file(&path).unwrap();
    clock.advance(Duration::from_secs(3600));
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(
        e.to_string(),
        format!("cannot read the subject token from file {}", path.display())
    );
}

#[tokio::test]
async fn a_subject_function_is_called_at_each_request_and_its_error_named() {
    let mut server = mockito::Server::new_async().await;
    let auth = || Matcher::Exact(basic("gw:gw-s3cret"));
    let first = exchange_mock(
        &mut server,
        auth(),
        &body("fn-1", ACCESS_TOKEN_TYPE),
        &token_body("d1", ""),
    )
    .await;
    let second = exchange_mock(
        &mut server,
        auth(),
        &body("fn-2", ACCESS_TOKEN_TYPE),
        &token_body("d2", ""),
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let grant = exchange(
        &server.url(),
        SubjectToken::from_fn(
            move || match counter.fetch_add(1, Ordering::SeqCst) {
                0 => Ok("fn-1".to_owned()),
                1 => Ok("fn-2".to_owned()),
                _ => Err(Error::retryable("vault is sealed")),
            },
            token_types::ACCESS_TOKEN,
        ),
    );
    let cx = cx(&clock());
    assert_eq!(
        grant
            .fetch_token(&cx)
            .await
            .unwrap()
            .access_token()
            .secret(),
        "d1"
    );
    assert_eq!(
        grant
            .fetch_token(&cx)
            .await
            .unwrap()
            .access_token()
            .secret(),
        "d2"
    );
    let e = grant.fetch_token(&cx).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "reading the subject token: vault is sealed");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    first.assert_async().await;
    second.assert_async().await;
}

/// An upstream client-credentials endpoint at `/upstream` issuing `up-1`, `up-2`, … each
/// living `lifetime` seconds.
async fn upstream_mock(server: &mut mockito::Server, lifetime: u64, hits: usize) -> mockito::Mock {
    let issued = Arc::new(AtomicUsize::new(0));
    server
        .mock("POST", "/upstream")
        .match_header("authorization", Matcher::Exact(basic("up:up-s3cret")))
        .match_body(Matcher::Exact("grant_type=client_credentials".to_owned()))
        .with_header("content-type", JSON)
        .with_body_from_request(move |_| {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            format!(r#"{{"access_token":"up-{n}","token_type":"Bearer","expires_in":{lifetime}}}"#)
                .into_bytes()
        })
        .expect(hits)
        .create_async()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_managers_token_is_exchanged_and_renewed_by_that_manager() {
    let mut server = mockito::Server::new_async().await;
    let upstream_calls = upstream_mock(&mut server, 600, 2).await;
    let auth = || Matcher::Exact(basic("gw:gw-s3cret"));
    let first = exchange_mock(
        &mut server,
        auth(),
        &body("up-1", ACCESS_TOKEN_TYPE),
        &token_body("d1", ""),
    )
    .await;
    let second = exchange_mock(
        &mut server,
        auth(),
        &body("up-2", ACCESS_TOKEN_TYPE),
        &token_body("d2", ""),
    )
    .await;
    let clock = clock();
    let upstream = manager(
        ClientCredentials::form(format!("{}/upstream", server.url()), "up", "up-s3cret"),
        &clock,
    );
    let downstream = manager(
        exchange(&server.url(), SubjectToken::manager(upstream.clone())),
        &clock,
    );

    assert_eq!(
        downstream.token().await.unwrap().authorization_header(),
        "Bearer d1"
    );
    // The downstream token (1 h) outlives the upstream one (10 min): when it is renewed,
    // the upstream manager has renewed its own first.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        downstream.token().await.unwrap().authorization_header(),
        "Bearer d2"
    );
    assert_eq!(upstream.cached().unwrap().access_token().secret(), "up-2");
    upstream_calls.assert_async().await;
    first.assert_async().await;
    second.assert_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_refused_with_invalid_grant_is_invalidated_in_its_manager() {
    let mut server = mockito::Server::new_async().await;
    let upstream_calls = upstream_mock(&mut server, 3600, 2).await;
    let refused = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(body("up-1", ACCESS_TOKEN_TYPE)))
        .with_status(400)
        .with_header("content-type", JSON)
        .with_body(r#"{"error":"invalid_grant","error_description":"subject token revoked"}"#)
        .expect(1)
        .create_async()
        .await;
    let accepted = exchange_mock(
        &mut server,
        Matcher::Exact(basic("gw:gw-s3cret")),
        &body("up-2", ACCESS_TOKEN_TYPE),
        &token_body("d2", ""),
    )
    .await;
    let clock = clock();
    let upstream = manager(
        ClientCredentials::form(format!("{}/upstream", server.url()), "up", "up-s3cret"),
        &clock,
    );
    let grant = exchange(&server.url(), SubjectToken::manager(upstream.clone()));
    let cx = cx(&clock);

    let e = grant.fetch_token(&cx).await.unwrap_err();
    assert!(e.is_invalid_grant());
    assert_no_secret(&error_texts(&e), &["up-1", "gw-s3cret"]);
    assert!(
        upstream.cached().is_none(),
        "the refused subject token was dropped"
    );
    assert_eq!(
        grant
            .fetch_token(&cx)
            .await
            .unwrap()
            .access_token()
            .secret(),
        "d2"
    );
    upstream_calls.assert_async().await;
    refused.assert_async().await;
    accepted.assert_async().await;
}

#[tokio::test]
async fn a_subject_manager_that_fails_names_the_subject_token() {
    let mut server = mockito::Server::new_async().await;
    let upstream = server
        .mock("POST", "/upstream")
        .with_status(401)
        .with_body(r#"{"error":"invalid_client"}"#)
        .create_async()
        .await;
    let clock = clock();
    let upstream_manager = manager(
        ClientCredentials::form(format!("{}/upstream", server.url()), "up", "up-s3cret"),
        &clock,
    );
    let e = exchange(&server.url(), SubjectToken::manager(upstream_manager))
        .fetch_token(&cx(&clock))
        .await
        .unwrap_err();
    assert!(e.is_invalid_client());
    assert!(
        e.to_string().starts_with(
            "obtaining the subject token: token endpoint refused the request (HTTP 401)"
        ),
        "{e}"
    );
    upstream.assert_async().await;
}

#[test]
fn the_identity_tells_subject_sources_apart() {
    let clock = clock();
    let upstream = manager(
        ClientCredentials::form("https://up.example.com/token", "up", "s"),
        &clock,
    );
    let grants = [
        exchange("https://sts", SubjectToken::new("a", token_types::JWT)),
        exchange("https://sts", SubjectToken::new("b", token_types::JWT)),
        exchange(
            "https://sts",
            SubjectToken::new("a", token_types::ACCESS_TOKEN),
        ),
        exchange(
            "https://sts",
            SubjectToken::file("/run/a", token_types::JWT),
        ),
        exchange(
            "https://sts",
            SubjectToken::file("/run/b", token_types::JWT),
        ),
        exchange(
            "https://sts",
            SubjectToken::from_fn(|| Ok("x".to_owned()), token_types::JWT),
        ),
        exchange("https://sts", SubjectToken::manager(upstream.clone())),
        exchange("https://sts", SubjectToken::new("a", token_types::JWT)).audience("more"),
        exchange("https://sts", SubjectToken::new("a", token_types::JWT)).resource("https://r"),
    ];
    let keys: std::collections::HashSet<_> =
        grants.iter().map(|g| g.identity().cache_key()).collect();
    assert_eq!(keys.len(), grants.len());
    assert_eq!(
        grants[6].identity().params()["subject_token_manager"],
        upstream.cache_key()
    );
    assert_eq!(
        grants[3].identity().params()["subject_token_file"],
        "/run/a"
    );
}
