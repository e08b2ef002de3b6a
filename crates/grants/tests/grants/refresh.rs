//! Refresh tokens: rotation, no rotation, fallback on `invalid_grant`, retryable errors,
//! the standalone grant and the `WithRefresh` wrapper.

use std::time::Duration;

use grantkit_core::{ErrorKind, Grant, Token};
use grantkit_grants::{
    ClientCredentials, ClientGrant, ClientOptions, PasswordGrant, RefreshTokenGrant, WithRefresh,
};
use mockito::Matcher;

use crate::support::*;

const LOGIN_BODY: &str = r#"{"username":"me","password":"pw-77","client_secret":"cl-sec-9","client_id":"id","grant_type":"password"}"#;
const REFRESH_BODY: &str = r#"{"grant_type":"refresh_token","refresh_token":"rt-1","client_id":"id","client_secret":"cl-sec-9"}"#;

fn previous(refresh_token: &str) -> Token {
    Token::new(
        "old-at",
        t0() - Duration::from_secs(7200),
        t0() - Duration::from_secs(3600),
    )
    .with_refresh_token(refresh_token)
}

fn login_grant(server: &mockito::Server) -> PasswordGrant {
    PasswordGrant::new(
        format!("{}/oauth/token", server.url()),
        ClientOptions::json("id", "cl-sec-9"),
        "me",
        "pw-77",
    )
}

/// The password grant renewed through refresh tokens, as the configuration builds it.
fn password_grant(server: &mockito::Server) -> WithRefresh<PasswordGrant> {
    login_grant(server).with_refresh()
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", JSON)
        .match_body(Matcher::Exact(REFRESH_BODY.into()))
        .with_status(200)
        .with_body(token_body("at-2", r#","refresh_token":"rt-2""#))
        .expect(1)
        .create_async()
        .await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(LOGIN_BODY.into()))
        .expect(0)
        .create_async()
        .await;

    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    let token = password_grant(&server).fetch_token(&cx).await.unwrap();

    refresh.assert_async().await;
    login.assert_async().await;
    assert_eq!(token.access_token().secret(), "at-2");
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-2"));
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(token.expires_at(), t0() + Duration::from_secs(3599));
}

#[tokio::test]
async fn an_unrotated_refresh_token_is_kept() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(REFRESH_BODY.into()))
        .with_status(200)
        .with_body(token_body("at-2", ""))
        .expect(1)
        .create_async()
        .await;

    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    let token = password_grant(&server).fetch_token(&cx).await.unwrap();

    refresh.assert_async().await;
    assert_eq!(token.access_token().secret(), "at-2");
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-1"));
}

#[tokio::test]
async fn invalid_grant_falls_back_to_the_primary_grant() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(REFRESH_BODY.into()))
        .with_status(400)
        .with_body(r#"{"error":"invalid_grant","error_description":"refresh token expired"}"#)
        .expect(1)
        .create_async()
        .await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(LOGIN_BODY.into()))
        .with_status(200)
        .with_body(r#"{"token_type":"Bearer","expires_in":31536000,"access_token":"at-new","refresh_token":"rt-new"}"#)
        .expect(1)
        .create_async()
        .await;

    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    let token = password_grant(&server).fetch_token(&cx).await.unwrap();

    refresh.assert_async().await;
    login.assert_async().await;
    assert_eq!(token.access_token().secret(), "at-new");
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-new"));
}

#[tokio::test]
async fn other_refresh_failures_are_returned_for_the_manager_to_retry() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(REFRESH_BODY.into()))
        .with_status(503)
        .with_body("<html><body>maintenance</body></html>")
        .expect(1)
        .create_async()
        .await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(LOGIN_BODY.into()))
        .expect(0)
        .create_async()
        .await;

    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    let e = password_grant(&server).fetch_token(&cx).await.unwrap_err();

    refresh.assert_async().await;
    login.assert_async().await;
    assert_eq!(e.kind(), ErrorKind::Status);
    assert_eq!(e.status(), Some(503));
    assert!(e.is_retryable());
    assert_no_secret(&error_texts(&e), &["rt-1", "cl-sec-9", "pw-77"]);
}

#[tokio::test]
async fn without_a_previous_refresh_token_the_password_grant_logs_in() {
    let mut server = mockito::Server::new_async().await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(LOGIN_BODY.into()))
        .with_status(200)
        .with_body(token_body("at", ""))
        .expect(1)
        .create_async()
        .await;
    let previous_without_rt = Token::new("old", t0(), t0());
    let cx = cx(&clock()).with_previous(Some(previous_without_rt));
    password_grant(&server).fetch_token(&cx).await.unwrap();
    login.assert_async().await;
}

#[tokio::test]
async fn the_password_grant_alone_always_logs_in() {
    let mut server = mockito::Server::new_async().await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(LOGIN_BODY.into()))
        .with_status(200)
        .with_body(token_body("at", ""))
        .expect(1)
        .create_async()
        .await;
    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    login_grant(&server).fetch_token(&cx).await.unwrap();
    login.assert_async().await;
}

#[tokio::test]
async fn client_credentials_with_refresh_uses_its_own_client_auth() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", basic("app:s3cret").as_str())
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-1".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-r", ""))
        .expect(1)
        .create_async()
        .await;
    let grant =
        ClientCredentials::form(format!("{}/token", server.url()), "app", "s3cret").scope("read");
    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));

    // Off by default: a client-credentials grant simply asks again.
    let primary = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&scope=read".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-p", ""))
        .expect(1)
        .create_async()
        .await;
    let token = grant.fetch_token(&cx).await.unwrap();
    assert_eq!(token.access_token().secret(), "at-p");
    primary.assert_async().await;

    let token = grant.clone().with_refresh().fetch_token(&cx).await.unwrap();
    assert_eq!(token.access_token().secret(), "at-r");
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-1"));
    refresh.assert_async().await;
}

#[tokio::test]
async fn standalone_refresh_grant_for_a_public_client() {
    let mut server = mockito::Server::new_async().await;
    let first = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-0&client_id=cli".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-1", r#","refresh_token":"rt-1""#))
        .expect(1)
        .create_async()
        .await;
    let second = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-1&client_id=cli".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-2", ""))
        .expect(1)
        .create_async()
        .await;

    let clock = clock();
    let grant =
        RefreshTokenGrant::new(format!("{}/token", server.url()), ClientOptions::new("cli"))
            .refresh_token("rt-0");
    let token = grant.fetch_token(&cx(&clock)).await.unwrap();
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-1"));
    // The rotated refresh token of the previous token wins over the configured one.
    let token = grant
        .fetch_token(&cx(&clock).with_previous(Some(token)))
        .await
        .unwrap();
    assert_eq!(token.access_token().secret(), "at-2");
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-1"));
    first.assert_async().await;
    second.assert_async().await;

    assert_no_secret(&format!("{grant:?} {:?}", grant.identity()), &["rt-0"]);
}

#[tokio::test]
async fn standalone_refresh_grant_json_with_a_secret_and_scope() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            r#"{"grant_type":"refresh_token","refresh_token":"rt-0","client_id":"cli","client_secret":"sec","scope":"read","resource":"r"}"#.into(),
        ))
        .with_status(200)
        .with_body(token_body("at", ""))
        .expect(1)
        .create_async()
        .await;
    let grant = RefreshTokenGrant::new(
        format!("{}/token", server.url()),
        ClientOptions::json("cli", "sec"),
    )
    .refresh_token("rt-0")
    .scope("read")
    .param("resource", "r");
    grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn standalone_refresh_grant_without_any_refresh_token_is_a_config_error() {
    let grant = RefreshTokenGrant::new("http://127.0.0.1:1/token", ClientOptions::new("cli"));
    let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("no refresh token"), "{e}");
}

#[cfg(feature = "jwt-bearer")]
#[tokio::test]
async fn with_refresh_wraps_any_grant() {
    use grantkit_grants::JwtBearer;

    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/token")
        .match_header("authorization", basic("svc:sec").as_str())
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-1".into(),
        ))
        .with_status(400)
        .with_body(r#"{"error":"invalid_grant"}"#)
        .expect(1)
        .create_async()
        .await;
    let jwt = server
        .mock("POST", "/token")
        .match_body(Matcher::Regex(
            "^assertion=[^&]+&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer$"
                .into(),
        ))
        .with_status(200)
        .with_body(token_body("at-jwt", r#","refresh_token":"rt-2""#))
        .expect(1)
        .create_async()
        .await;

    let url = format!("{}/token", server.url());
    let grant = WithRefresh::new(
        JwtBearer::hs256(&url, "kid", "svc", "hs-secret"),
        RefreshTokenGrant::new(&url, ClientOptions::form("svc", "sec")),
    );
    assert_eq!(grant.identity(), grant.grant().identity());
    let cx = cx(&clock()).with_previous(Some(previous("rt-1")));
    let token = grant.fetch_token(&cx).await.unwrap();
    refresh.assert_async().await;
    jwt.assert_async().await;
    assert_eq!(token.refresh_token().map(|r| r.secret()), Some("rt-2"));
    assert_no_secret(&format!("{grant:?}"), &["hs-secret", "\"sec\""]);
}
