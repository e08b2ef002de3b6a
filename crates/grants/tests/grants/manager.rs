//! Grants driven end to end by a `TokenManager`: caching, renewal through the refresh
//! token, re-aiming with `token_url`.

use std::time::Duration;

use grantkit_core::{ManualClock, TokenManager};
use grantkit_grants::{ClientCredentials, ClientGrant, ClientOptions, PasswordGrant};
use mockito::Matcher;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_grant_logs_in_once_then_renews_with_its_refresh_token() {
    let mut server = mockito::Server::new_async().await;
    let login = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", JSON)
        .match_body(Matcher::Exact(
            r#"{"username":"me","password":"pw-5","client_secret":"sec-5","client_id":"id","grant_type":"password"}"#.into(),
        ))
        .with_status(200)
        .with_body(r#"{"token_type":"Bearer","expires_in":31536000,"access_token":"at-1","refresh_token":"rt-1"}"#)
        .expect(1)
        .create_async()
        .await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", JSON)
        .match_body(Matcher::Exact(
            r#"{"grant_type":"refresh_token","refresh_token":"rt-1","client_id":"id","client_secret":"sec-5"}"#.into(),
        ))
        .with_status(200)
        .with_body(r#"{"token_type":"Bearer","expires_in":31536000,"access_token":"at-2"}"#)
        .expect(1)
        .create_async()
        .await;

    let clock = ManualClock::at_fixed_epoch();
    let manager = TokenManager::builder()
        .grant(
            PasswordGrant::new(
                format!("{}/oauth/token", server.url()),
                ClientOptions::json("id", "sec-5"),
                "me",
                "pw-5",
            )
            .with_refresh(),
        )
        .clock(clock.clone())
        .build()
        .unwrap();

    let first = manager.token().await.unwrap();
    assert_eq!(first.authorization_header(), "Bearer at-1");
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(first.expires_at(), t0() + Duration::from_secs(31_535_999));
    // Cached: no second request.
    let again = manager.token().await.unwrap();
    assert!(again.same_access_token(&first));
    login.assert_async().await;

    // A year later the token has expired: the refresh token renews it.
    clock.advance(Duration::from_secs(31_536_000));
    let renewed = manager.token().await.unwrap();
    assert_eq!(renewed.authorization_header(), "Bearer at-2");
    assert_eq!(renewed.refresh_token().map(|r| r.secret()), Some("rt-1"));
    refresh.assert_async().await;

    let stats = manager.stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.tokens_fetched, 2);
    assert_no_secret(
        &format!("{manager:?}"),
        &["pw-5", "sec-5", "at-1", "at-2", "rt-1"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_client_credentials_grant_through_a_manager() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/local/token")
        .match_header("content-type", JSON)
        .match_body(Matcher::Exact(
            r#"{"grant_type":"client_credentials","client_id":"tso-id","client_secret":"tso-sec","audience":"https://api.24sevenoffice.com","login_organization":"42"}"#.into(),
        ))
        .with_status(200)
        .with_body(r#"{"access_token":"tso-at","expires_in":3600,"token_type":"bearer"}"#)
        .expect(1)
        .create_async()
        .await;

    let manager = TokenManager::builder()
        .grant(
            ClientCredentials::json(format!("{}/local/token", server.url()), "tso-id", "tso-sec")
                .param("audience", "https://api.24sevenoffice.com")
                .param("login_organization", "42"),
        )
        .clock(ManualClock::at_fixed_epoch())
        .build()
        .unwrap();
    assert!(
        manager
            .cache_key()
            .starts_with("client_credentials:tso-id:")
    );
    for _ in 0..3 {
        let token = manager.token().await.unwrap();
        assert_eq!(token.authorization_header(), "Bearer tso-at");
    }
    mock.assert_async().await;
}

#[cfg(feature = "jwt-bearer")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_through_a_manager() {
    use grantkit_grants::JwtBearer;

    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/oauth2/token")
        .match_header("content-type", FORM)
        .match_body(Matcher::Regex(
            "^assertion=[A-Za-z0-9_.-]+&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer$".into(),
        ))
        .with_status(200)
        .with_body(r#"{"access_token":"dt-at","expires_in":3600,"token_type":"bearer"}"#)
        .expect(2)
        .create_async()
        .await;
    let clock = ManualClock::at_fixed_epoch();
    let manager = TokenManager::builder()
        .grant(JwtBearer::hs256(
            format!("{}/oauth2/token", server.url()),
            "kid",
            "svc@example.com",
            "dt-sec",
        ))
        .clock(clock.clone())
        .build()
        .unwrap();
    manager.token().await.unwrap();
    manager.token().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    manager.token().await.unwrap();
    mock.assert_async().await;
}
