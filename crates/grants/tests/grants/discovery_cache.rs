//! The discovery cache: the metadata fetched once for many renewals, again after the token
//! endpoint answered 404 or could not be reached, and shared with `with_refresh()`.

use std::time::Duration;

use grantkit_core::{ErrorKind, Grant, ManualClock, TokenEndpoint, TokenManager};
use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant};
use mockito::{Matcher, Server};

use crate::discovery::{OIDC, grant, metadata, metadata_mock, token_mock};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_fetched_once_for_many_renewals_and_again_after_a_404() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("{issuer}/t1"), ""),
        1,
    )
    .await;
    let t1 = token_mock(&mut server, "/t1", "at-1", 3).await;

    let clock = ManualClock::at_fixed_epoch();
    let manager = TokenManager::builder()
        .grant(grant(&issuer))
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            manager.token().await.unwrap().authorization_header(),
            "Bearer at-1"
        );
        // Many callers while fresh: no request at all.
        for _ in 0..5 {
            manager.token().await.unwrap();
        }
        clock.advance(Duration::from_secs(121));
    }
    meta.assert_async().await;
    t1.assert_async().await;
    meta.remove_async().await;
    t1.remove_async().await;

    // The server moved its token endpoint: the old one answers 404, the metadata says
    // where it went.
    let gone = server
        .mock("POST", "/t1")
        .with_status(404)
        .expect(1)
        .create_async()
        .await;
    let moved = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("{issuer}/t2"), ""),
        1,
    )
    .await;
    let t2 = token_mock(&mut server, "/t2", "at-2", 1).await;
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    clock.advance(Duration::from_secs(2)); // past the manager's failure cooldown
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    gone.assert_async().await;
    moved.assert_async().await;
    t2.assert_async().await;
}

#[tokio::test]
async fn an_unreachable_token_endpoint_makes_the_next_attempt_discover_again() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    // A loopback port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let first = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("http://{closed}/t"), ""),
        1,
    )
    .await;
    let grant = grant(&issuer);
    let cx = cx(&clock());
    let e = grant.fetch_token(&cx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    first.assert_async().await;
    first.remove_async().await;

    let second = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("{issuer}/t"), ""),
        1,
    )
    .await;
    let token = token_mock(&mut server, "/t", "at-1", 2).await;
    grant.fetch_token(&cx).await.unwrap();
    // Cached again: the second token request needs no metadata request.
    grant.fetch_token(&cx).await.unwrap();
    second.assert_async().await;
    token.assert_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_refresh_shares_the_discovered_metadata() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("{issuer}/t"), ""),
        1,
    )
    .await;
    let login = server
        .mock("POST", "/t")
        .match_body(Matcher::Regex("^grant_type=password&".into()))
        .with_status(200)
        .with_body(token_body("at-1", r#","refresh_token":"rt-1""#).replace("3600", "120"))
        .expect(1)
        .create_async()
        .await;
    let refresh = server
        .mock("POST", "/t")
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-1".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-2", ""))
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::at_fixed_epoch();
    let grant = PasswordGrant::new(
        TokenEndpoint::issuer(&issuer),
        ClientOptions::form("app", "s3cret"),
        "me",
        "pw",
    )
    .with_refresh();
    let manager = TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-1"
    );
    clock.advance(Duration::from_secs(121));
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    meta.assert_async().await;
    login.assert_async().await;
    refresh.assert_async().await;
}
