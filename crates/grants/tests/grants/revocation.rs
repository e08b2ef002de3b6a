//! Revocation (RFC 7009) through `TokenManager::revoke`: the exact requests (refresh token
//! first, then the access token, each with its `token_type_hint` and the client's
//! authentication), the token forgotten afterwards, the server's errors typed and the
//! tokens kept when it refuses, `unsupported_token_type`, and no revoker configured.

use std::time::Duration;

use grantkit_core::{ErrorKind, Grant, ManualClock, MemoryStore, TokenManager, TokenStore};
use grantkit_grants::{ClientAuth, ClientGrant, ClientOptions, PasswordGrant, Revocation};
use mockito::Matcher;

use crate::support::*;

fn login_mock_body(n: u32) -> String {
    format!(
        r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}"}}"#
    )
}

async fn login_mock(server: &mut mockito::Server, hits: usize) -> mockito::Mock {
    server
        .mock("POST", "/token")
        .match_body(Matcher::Regex(
            "^grant_type=password&username=me&password=pw-s3cret".to_owned(),
        ))
        .with_header("content-type", JSON)
        .with_body(login_mock_body(1))
        .expect(hits)
        .create_async()
        .await
}

async fn revoke_mock(
    server: &mut mockito::Server,
    authorization: Matcher,
    body: &str,
    status: usize,
    response: &str,
) -> mockito::Mock {
    server
        .mock("POST", "/revoke")
        .match_header("content-type", FORM)
        .match_header("authorization", authorization)
        .match_body(Matcher::Exact(body.to_owned()))
        .with_status(status)
        .with_header("content-type", JSON)
        .with_body(response)
        .expect(1)
        .create_async()
        .await
}

fn password(url: &str, options: ClientOptions) -> PasswordGrant {
    PasswordGrant::new(format!("{url}/token"), options, "me", "pw-s3cret")
}

fn manager(
    grant: PasswordGrant,
    store: MemoryStore,
    clock: &ManualClock,
    url: &str,
) -> TokenManager {
    let revocation = grant.revocation(format!("{url}/revoke"));
    TokenManager::builder()
        .grant(grant)
        .store(store)
        .revoker(revocation)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_sends_the_refresh_then_the_access_token_and_forgets_them() {
    let mut server = mockito::Server::new_async().await;
    let login = login_mock(&mut server, 2).await;
    let auth = || Matcher::Exact(basic("app:app-s3cret"));
    let refresh = revoke_mock(
        &mut server,
        auth(),
        "token=rt-1&token_type_hint=refresh_token",
        200,
        "",
    )
    .await;
    let access = revoke_mock(
        &mut server,
        auth(),
        "token=at-1&token_type_hint=access_token",
        200,
        "{}",
    )
    .await;
    let clock = clock();
    let store = MemoryStore::new();
    let manager = manager(
        password(&server.url(), ClientOptions::form("app", "app-s3cret")),
        store.clone(),
        &clock,
        &server.url(),
    );
    manager.token().await.unwrap();
    assert!(store.load(manager.cache_key()).await.unwrap().is_some());

    manager.revoke().await.unwrap();
    refresh.assert_async().await;
    access.assert_async().await;
    assert!(manager.cached().is_none());
    assert!(store.load(manager.cache_key()).await.unwrap().is_none());
    // The next token() logs in anew.
    assert_eq!(
        manager.token().await.unwrap().access_token().secret(),
        "at-1"
    );
    login.assert_async().await;
}

#[tokio::test]
async fn client_credentials_in_the_body_and_no_token_means_nothing_to_revoke() {
    let mut server = mockito::Server::new_async().await;
    let login = login_mock(&mut server, 1).await;
    let refresh = revoke_mock(
        &mut server,
        Matcher::Missing,
        "token=rt-1&token_type_hint=refresh_token&client_id=app&client_secret=app-s3cret",
        200,
        "",
    )
    .await;
    let access = revoke_mock(
        &mut server,
        Matcher::Missing,
        "token=at-1&token_type_hint=access_token&client_id=app&client_secret=app-s3cret",
        200,
        "",
    )
    .await;
    let clock = clock();
    let manager = manager(
        password(
            &server.url(),
            ClientOptions::form("app", "app-s3cret")
                .client_auth(ClientAuth::Body)
                .scope("x"),
        ),
        MemoryStore::new(),
        &clock,
        &server.url(),
    );
    manager.revoke().await.unwrap(); // no token yet: no request
    manager.token().await.unwrap();
    manager.revoke().await.unwrap();
    manager.revoke().await.unwrap(); // forgotten: no request
    login.assert_async().await;
    refresh.assert_async().await;
    access.assert_async().await;
}

#[tokio::test]
async fn a_refusal_is_typed_and_the_tokens_are_kept() {
    let mut server = mockito::Server::new_async().await;
    let _login = login_mock(&mut server, 1).await;
    let refused = revoke_mock(
        &mut server,
        Matcher::Any,
        "token=rt-1&token_type_hint=refresh_token",
        401,
        r#"{"error":"invalid_client","error_description":"wrong secret"}"#,
    )
    .await;
    let clock = clock();
    let manager = manager(
        password(&server.url(), ClientOptions::form("app", "app-s3cret")),
        MemoryStore::new(),
        &clock,
        &server.url(),
    );
    manager.token().await.unwrap();
    let e = manager.revoke().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert!(e.is_invalid_client());
    assert_eq!(
        e.to_string(),
        "revoking the refresh token: revocation endpoint refused the request (HTTP 401): \
         invalid_client: wrong secret"
    );
    assert_no_secret(&error_texts(&e), &["rt-1", "at-1", "app-s3cret"]);
    assert_eq!(manager.cached().unwrap().access_token().secret(), "at-1");
    refused.assert_async().await;
}

#[tokio::test]
async fn unsupported_token_type_for_the_access_token_is_tolerated_after_the_refresh_token() {
    let mut server = mockito::Server::new_async().await;
    let _login = login_mock(&mut server, 1).await;
    let unsupported = r#"{"error":"unsupported_token_type"}"#;
    let refresh = revoke_mock(
        &mut server,
        Matcher::Any,
        "token=rt-1&token_type_hint=refresh_token",
        200,
        "",
    )
    .await;
    let access = revoke_mock(
        &mut server,
        Matcher::Any,
        "token=at-1&token_type_hint=access_token",
        400,
        unsupported,
    )
    .await;
    let clock = clock();
    let manager = manager(
        password(&server.url(), ClientOptions::form("app", "app-s3cret")),
        MemoryStore::new(),
        &clock,
        &server.url(),
    );
    manager.token().await.unwrap();
    manager.revoke().await.unwrap();
    assert!(manager.cached().is_none());
    refresh.assert_async().await;
    access.assert_async().await;
}

#[tokio::test]
async fn without_a_refresh_token_unsupported_token_type_is_an_error_and_503_is_retryable() {
    let mut server = mockito::Server::new_async().await;
    let _login = server
        .mock("POST", "/token")
        .with_body(token_body("at-1", ""))
        .create_async()
        .await;
    let access = revoke_mock(
        &mut server,
        Matcher::Any,
        "token=at-1&token_type_hint=access_token",
        400,
        r#"{"error":"unsupported_token_type"}"#,
    )
    .await;
    let clock = clock();
    let manager = manager(
        password(&server.url(), ClientOptions::form("app", "app-s3cret")),
        MemoryStore::new(),
        &clock,
        &server.url(),
    );
    manager.token().await.unwrap();
    let e = manager.revoke().await.unwrap_err();
    assert_eq!(e.oauth_error().unwrap().error, "unsupported_token_type");
    assert!(manager.cached().is_some());
    access.assert_async().await;

    let busy = server
        .mock("POST", "/revoke")
        .with_status(503)
        .with_header("retry-after", "7")
        .with_body("down for maintenance")
        .create_async()
        .await;
    let e = manager.revoke().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status);
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        e.to_string().starts_with(
            "revoking the access token: revocation endpoint answered an error (HTTP 503)"
        ),
        "{e}"
    );
    busy.assert_async().await;
}

#[tokio::test]
async fn an_expired_access_token_is_not_sent_and_no_revoker_is_a_config_error() {
    let mut server = mockito::Server::new_async().await;
    let _login = login_mock(&mut server, 1).await;
    let refresh = revoke_mock(
        &mut server,
        Matcher::Any,
        "token=rt-1&token_type_hint=refresh_token",
        200,
        "",
    )
    .await;
    let clock = clock();
    let manager = manager(
        password(&server.url(), ClientOptions::form("app", "app-s3cret")),
        MemoryStore::new(),
        &clock,
        &server.url(),
    );
    manager.token().await.unwrap();
    clock.advance(Duration::from_secs(7200));
    manager.revoke().await.unwrap();
    refresh.assert_async().await;

    let bare = TokenManager::builder()
        .grant(password(&server.url(), ClientOptions::form("app", "s")))
        .build()
        .unwrap();
    let e = bare.revoke().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(
        e.to_string(),
        "no revocation endpoint is configured: give one with TokenManagerBuilder::revoker \
         (revocation_url in a profile)"
    );
}

#[cfg(feature = "jwt-bearer")]
#[tokio::test]
async fn a_client_assertion_for_revocation_is_addressed_to_the_revocation_endpoint() {
    use grantkit_core::{GrantContext, RefreshToken, RevocableToken, Revoker};
    use jsonwebtoken::{Algorithm, DecodingKey};

    use crate::client_assertion::{ASSERTION_TYPE, JWT, form_assertion, verify};

    let mut server = mockito::Server::new_async().await;
    let url = format!("{}/revoke", server.url());
    let mock = server
        .mock("POST", "/revoke")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(format!(
            "^token=rt-9&token_type_hint=refresh_token&{ASSERTION_TYPE}&client_assertion={JWT}$"
        )))
        .with_status(200)
        .create_async()
        .await;
    let revocation = Revocation::new(
        &url,
        ClientOptions::form("app", "hmac-s3cret").client_auth(ClientAuth::ClientSecretJwt),
    );
    let cx: GrantContext = cx(&clock());
    revocation
        .revoke(&cx, &RevocableToken::Refresh(RefreshToken::new("rt-9")))
        .await
        .unwrap();
    mock.assert_async().await;

    // The assertion the request carries, built at a known time and verified claim by claim.
    let request = revocation
        .client_options()
        .client_request(
            &url,
            &[("token", "rt-9"), ("token_type_hint", "refresh_token")],
            t0(),
        )
        .unwrap();
    let text = std::str::from_utf8(request.body()).unwrap();
    let claims = verify(
        &form_assertion(text),
        Algorithm::HS256,
        &DecodingKey::from_secret(b"hmac-s3cret"),
        "app",
        &url,
    );
    assert_eq!(claims["iat"], T0);
    assert!(!text.contains("hmac-s3cret"));
    assert!(format!("{revocation:?}").contains("ClientSecret([redacted])"));
}

#[test]
fn revocation_validation_and_grant_revocation_drop_scope_and_params() {
    let grant = PasswordGrant::new(
        "https://a.example/token",
        ClientOptions::form("app", "s")
            .scope("read")
            .param("audience", "x"),
        "me",
        "pw",
    );
    let revocation = grant.revocation("https://a.example/revoke");
    assert_eq!(revocation.client_options().requested_scope(), None);
    assert_eq!(revocation.client_options().params().count(), 0);
    assert!(revocation.validate().is_ok());
    let e = Revocation::new("ftp://a.example/revoke", ClientOptions::new("app"))
        .validate()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let _ = grant.identity();
}
