//! The authorization code grant with PKCE against oidc-provider: `AuthorizationCodeLogin`
//! binds its loopback listener, the test plays the browser over HTTP (a cookie jar of its
//! own; the development login form with any account, then the consent form, following
//! each redirect by hand), the redirect reaches grantkit's listener, the code is redeemed
//! with the verifier, and the refresh token renews the token (rotated by the server).
//!
//! The client is `grantkit-native` in `serve.mjs`: public (`none`), `application_type:
//! native` with the redirect URI `http://127.0.0.1/callback` (any port, RFC 8252 §7.3),
//! PKCE required.

use std::sync::Arc;

use grantkit::grant::GrantContext;
use grantkit::login::AuthorizationCodeLogin;
use grantkit::time::SystemClock;
use grantkit::transport::ReqwestHttpClient;
use grantkit::{ClientOptions, ErrorKind, TokenManager};

use grantkit_integration_tests::oidc_provider::LoginBrowser;

use super::op;

const CLIENT: &str = "grantkit-native";

fn cx() -> GrantContext {
    GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(SystemClock::new()),
    )
}

fn log() -> String {
    op().map(super::Op::log).unwrap_or_default()
}

fn login(issuer: &str, scope: &str) -> AuthorizationCodeLogin {
    AuthorizationCodeLogin::new(
        format!("{issuer}/auth"),
        format!("{issuer}/token"),
        ClientOptions::new(CLIENT).scope(scope),
    )
}

/// Log in, redeem the code, renew with the refresh token (rotated), through a
/// `TokenManager` too; the rotated-away refresh token is then refused.
#[tokio::test]
async fn a_browser_login_yields_a_token_that_the_refresh_token_renews() {
    let Some(op) = op() else { return };
    let cx = cx();
    // offline_access (a refresh token) needs prompt=consent (OIDC Core 11).
    let login = login(&op.issuer, "openid offline_access api:read")
        .authorization_param("prompt", "consent");
    let pending = login.start(&cx).await.unwrap();
    let url = pending.authorization_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let (token, (status, page)) = tokio::join!(
        pending.finish(&cx),
        LoginBrowser::new().log_in(url, &redirect_uri, log)
    );
    let token = token.unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Login complete"), "{page}");
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(token.access_token().secret().len(), 43);
    assert!(token.extra().contains_key("id_token"), "openid was granted");
    let first_rt = token
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();

    // Renewed without the browser; oidc-provider rotates a public client's refresh token.
    let renewed = login.refresh_grant().refresh(&cx, &first_rt).await.unwrap();
    assert_ne!(renewed.access_token(), token.access_token());
    let second_rt = renewed.refresh_token().unwrap().clone();
    assert_ne!(second_rt, first_rt, "rotated");

    // The same through a TokenManager, as a login's stored token is renewed.
    let manager = TokenManager::builder()
        .grant(login.refresh_grant().refresh_token(second_rt))
        .build()
        .unwrap();
    let managed = manager
        .token()
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert_ne!(managed.access_token(), renewed.access_token());

    // The first refresh token was rotated away: refused.
    let e = login
        .refresh_grant()
        .refresh(&cx, &first_rt)
        .await
        .unwrap_err();
    assert!(e.is_invalid_grant(), "{}", e.report());
}

/// `prompt=none` without a session: oidc-provider redirects `error=login_required` (with
/// the state) to the listener, and the login ends with that OAuth error.
#[tokio::test]
async fn the_servers_error_redirect_ends_the_login_with_its_error() {
    let Some(op) = op() else { return };
    let cx = cx();
    let login = login(&op.issuer, "openid").authorization_param("prompt", "none");
    let pending = login.start(&cx).await.unwrap();
    let url = pending.authorization_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let (result, (status, page)) = tokio::join!(
        pending.finish(&cx),
        LoginBrowser::new().log_in(url, &redirect_uri, log)
    );
    let e = result.unwrap_err();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Login failed"), "{page}");
    assert_eq!(e.kind(), ErrorKind::OAuth, "{}", e.report());
    assert_eq!(
        e.oauth_error().unwrap().error,
        "login_required",
        "{}",
        e.report()
    );
}

/// The same login with only the issuer: the authorization and token endpoints come from
/// oidc-provider's metadata (which lists `authorization_code`, `none` and `S256`).
#[tokio::test]
async fn a_browser_login_through_the_issuer_discovers_both_endpoints() {
    let Some(op) = op() else { return };
    let cx = cx();
    let login = AuthorizationCodeLogin::discover(
        &op.issuer,
        ClientOptions::new(CLIENT).scope("openid offline_access"),
    )
    .authorization_param("prompt", "consent");
    let pending = login
        .start(&cx)
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    let url = pending.authorization_url().to_owned();
    assert!(url.starts_with(&format!("{}/auth?", op.issuer)), "{url}");
    let redirect_uri = pending.redirect_uri().to_owned();
    let (token, (status, page)) = tokio::join!(
        pending.finish(&cx),
        LoginBrowser::new().log_in(url, &redirect_uri, log)
    );
    let token = token.unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert_eq!(status, 200, "{page}");
    let refresh = token.refresh_token().expect("offline_access").clone();
    let renewed = login
        .refresh_grant()
        .refresh(&cx, &refresh)
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert_ne!(renewed.access_token(), token.access_token());
}
