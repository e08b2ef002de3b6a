//! Resource-owner password credentials: JSON and form bodies.

use std::time::Duration;

use grantkit_core::Grant;
use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant};
use mockito::Matcher;

use crate::support::*;

#[tokio::test]
async fn json_body_is_the_seed_format_and_keeps_the_refresh_token() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", JSON)
        .match_header("accept", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            r#"{"username":"me@example.com","password":"pw-123","client_secret":"cl-secret","client_id":"cl-id","grant_type":"password"}"#
                .into(),
        ))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(
            r#"{"token_type":"Bearer","expires_in":31536000,"access_token":"legacy-at","refresh_token":"legacy-rt"}"#,
        )
        .expect(1)
        .create_async()
        .await;

    let grant = PasswordGrant::new(
        format!("{}/oauth/token", server.url()),
        ClientOptions::json("cl-id", "cl-secret"),
        "me@example.com",
        "pw-123",
    );
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();

    mock.assert_async().await;
    assert_eq!(token.authorization_header(), "Bearer legacy-at");
    assert_eq!(token.token_type(), "Bearer");
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(token.expires_at(), t0() + Duration::from_secs(31_535_999));
    assert_eq!(token.lifetime(), Duration::from_secs(31_535_999));
    assert_eq!(
        token.stated_lifetime(),
        Some(Duration::from_secs(31_536_000))
    );
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("legacy-rt"));

    let identity = grant.identity();
    assert_eq!(identity.kind(), "password");
    assert_eq!(
        identity.params().get("username").map(String::as_str),
        Some("me@example.com")
    );
    assert_no_secret(
        &format!("{grant:?} {identity:?} {}", identity.cache_key()),
        &["pw-123", "cl-secret"],
    );
}

#[tokio::test]
async fn form_body_with_basic_auth() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", basic("cl-id:cl-secret").as_str())
        .match_body(Matcher::Exact(
            "grant_type=password&username=me%40example.com&password=p%26w+d&scope=openid+offline_access"
                .into(),
        ))
        .with_status(200)
        .with_body(token_body("at", r#","refresh_token":"rt""#))
        .expect(1)
        .create_async()
        .await;

    let grant = PasswordGrant::new(
        format!("{}/token", server.url()),
        ClientOptions::form("cl-id", "cl-secret"),
        "me@example.com",
        "p&w d",
    )
    .scope("openid offline_access");
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt"));
}
