//! Client credentials: form and JSON bodies, Basic and body client authentication.

use std::time::Duration;

use grantkit_core::Grant;
use grantkit_grants::{ClientAuth, ClientCredentials, ClientGrant};
use mockito::Matcher;

use crate::support::*;

#[tokio::test]
async fn form_with_basic_auth_is_the_default() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", FORM)
        .match_header("accept", JSON)
        .match_header("authorization", basic("app:s3cret").as_str())
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&scope=read+write".into(),
        ))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(token_body("at-1", r#","scope":"read write","vendor":7"#))
        .expect(1)
        .create_async()
        .await;

    let clock = clock();
    let grant = ClientCredentials::form(format!("{}/oauth/token", server.url()), "app", "s3cret")
        .scope("read write");
    let token = grant.fetch_token(&cx(&clock)).await.unwrap();

    mock.assert_async().await;
    assert_eq!(token.authorization_header(), "Bearer at-1");
    assert_eq!(token.access_token().secret(), "at-1");
    assert_eq!(token.issued_at(), t0());
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(token.expires_at(), t0() + Duration::from_secs(3599));
    assert_eq!(token.scope(), Some("read write"));
    assert!(token.refresh_token().is_none());
    assert_eq!(token.extra().get("vendor"), Some(&serde_json::json!(7)));
}

#[tokio::test]
async fn form_with_credentials_in_the_body() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=read+write"
                .into(),
        ))
        .with_status(200)
        .with_body(token_body("at-2", ""))
        .expect(1)
        .create_async()
        .await;

    let grant = ClientCredentials::form(format!("{}/token", server.url()), "app", "s3cret")
        .client_auth(ClientAuth::Body)
        .scopes(["read", "write"]);
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();

    mock.assert_async().await;
    assert_eq!(token.access_token().secret(), "at-2");
}

#[tokio::test]
async fn basic_auth_form_encodes_id_and_secret_before_base64() {
    let mut server = mockito::Server::new_async().await;
    // RFC 6749 §2.3.1: urlencode(id) ":" urlencode(secret), then base64.
    let mock = server
        .mock("POST", "/token")
        .match_header(
            "authorization",
            basic("my+client%3A1:p%40ss%2Fw%C3%B6rd%2B").as_str(),
        )
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-3", ""))
        .expect(1)
        .create_async()
        .await;

    let grant = ClientCredentials::form(
        format!("{}/token", server.url()),
        "my client:1",
        "p@ss/wörd+",
    )
    .param("resource", "https://api.example.com");
    grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn json_body_is_the_24sevenoffice_format_byte_for_byte() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", JSON)
        .match_header("accept", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            r#"{"grant_type":"client_credentials","client_id":"tso-id","client_secret":"tso-secret","audience":"https://api.24sevenoffice.com","login_organization":"123456"}"#
                .into(),
        ))
        .with_status(200)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(r#"{"access_token":"eyJ.tso","expires_in":"86400","token_type":"Bearer"}"#)
        .expect(1)
        .create_async()
        .await;

    let grant = ClientCredentials::json(
        format!("{}/oauth/token", server.url()),
        "tso-id",
        "tso-secret",
    )
    .param("audience", "https://api.24sevenoffice.com")
    .param("login_organization", "123456");
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();

    mock.assert_async().await;
    assert_eq!(token.authorization_header(), "Bearer eyJ.tso");
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(token.expires_at(), t0() + Duration::from_secs(86_399));

    let identity = grant.identity();
    assert_eq!(identity.kind(), "client_credentials");
    assert_eq!(identity.client_id(), Some("tso-id"));
    assert_eq!(identity.audience(), Some("https://api.24sevenoffice.com"));
    assert_eq!(
        identity
            .params()
            .get("login_organization")
            .map(String::as_str),
        Some("123456")
    );
    assert_no_secret(
        &format!("{identity:?} {} {grant:?}", identity.cache_key()),
        &["tso-secret"],
    );
}

#[tokio::test]
async fn json_body_with_basic_auth() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", JSON)
        .match_header("authorization", basic("app:s3cret").as_str())
        .match_body(Matcher::Exact(
            r#"{"grant_type":"client_credentials","scope":"a b","audience":"x"}"#.into(),
        ))
        .with_status(200)
        .with_body(token_body("at-4", ""))
        .expect(1)
        .create_async()
        .await;

    let grant = ClientCredentials::json(format!("{}/token", server.url()), "app", "s3cret")
        .client_auth(ClientAuth::Basic)
        .scope("a b")
        .param("audience", "x");
    grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
}
