//! The device authorization grant (RFC 8628): the exact requests, polling on a manual
//! clock (`authorization_pending`, `slow_down`, expiry, `access_denied`), the prompt, and
//! renewal through the refresh token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use grantkit_core::{ErrorKind, Grant, ManualClock, ManualSleeper, Token};
use grantkit_grants::{
    ClientGrant, ClientOptions, DeviceAuthorization, DeviceCodeGrant, device_prompt_fn,
};
use mockito::{Matcher, Mock, ServerGuard};

use crate::support::*;

const AUTHORIZE_PUBLIC: &str = "client_id=cli&scope=openid+offline_access";
const POLL_PUBLIC: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-secret-1&client_id=cli";

fn authorization_body(expires_in: u64, interval: Option<u64>) -> String {
    let interval = interval.map_or(String::new(), |i| format!(r#","interval":{i}"#));
    format!(
        r#"{{"device_code":"dc-secret-1","user_code":"WDJB-MJHT","verification_uri":"https://auth.example/device","verification_uri_complete":"https://auth.example/device?user_code=WDJB-MJHT","expires_in":{expires_in}{interval}}}"#
    )
}

fn grant(server: &ServerGuard, sleeper: &ManualSleeper) -> DeviceCodeGrant {
    DeviceCodeGrant::new(
        format!("{}/device", server.url()),
        format!("{}/token", server.url()),
        ClientOptions::new("cli").scope("openid offline_access"),
    )
    .sleeper(sleeper.clone())
}

async fn authorize_mock(server: &mut ServerGuard, body: String) -> Mock {
    server
        .mock("POST", "/device")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(AUTHORIZE_PUBLIC.into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
        .expect(1)
        .create_async()
        .await
}

async fn poll_mock(server: &mut ServerGuard, error: &str, hits: usize) -> Mock {
    server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_body(Matcher::Exact(POLL_PUBLIC.into()))
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(format!(r#"{{"error":"{error}"}}"#))
        .expect(hits)
        .create_async()
        .await
}

async fn approved_mock(server: &mut ServerGuard) -> Mock {
    server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(POLL_PUBLIC.into()))
        .with_status(200)
        .with_body(token_body("user-at-1", r#","refresh_token":"user-rt-1""#))
        .expect(1)
        .create_async()
        .await
}

/// A prompt that records what it was shown.
fn recording_prompt() -> (
    Arc<Mutex<Vec<String>>>,
    impl grantkit_grants::DevicePrompt + 'static,
) {
    let shown = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&shown);
    let prompt = device_prompt_fn(move |a: &DeviceAuthorization| {
        record.lock().unwrap().push(format!(
            "{} {} {}",
            a.verification_uri(),
            a.user_code(),
            a.verification_uri_complete().unwrap_or("-")
        ));
        Ok(())
    });
    (shown, prompt)
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().copied().map(Duration::from_secs).collect()
}

#[tokio::test]
async fn pending_polls_again_at_the_interval_until_the_user_approves() {
    let mut server = mockito::Server::new_async().await;
    let authorize = authorize_mock(&mut server, authorization_body(600, None)).await;
    let pending = poll_mock(&mut server, "authorization_pending", 2).await;
    let approved = approved_mock(&mut server).await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (shown, prompt) = recording_prompt();

    let token = grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap();

    assert_eq!(token.access_token().secret(), "user-at-1");
    assert_eq!(token.refresh_token().unwrap().secret(), "user-rt-1");
    // No interval in the answer: 5 s before each of the three polls.
    assert_eq!(sleeper.slept(), secs(&[5, 5, 5]));
    assert_eq!(
        *shown.lock().unwrap(),
        ["https://auth.example/device WDJB-MJHT https://auth.example/device?user_code=WDJB-MJHT"]
    );
    authorize.assert_async().await;
    pending.assert_async().await;
    approved.assert_async().await;
}

#[tokio::test]
async fn slow_down_adds_five_seconds_each_time() {
    let mut server = mockito::Server::new_async().await;
    let _authorize = authorize_mock(&mut server, authorization_body(600, Some(2))).await;
    let pending = poll_mock(&mut server, "authorization_pending", 1).await;
    let slow = poll_mock(&mut server, "slow_down", 2).await;
    let pending_again = poll_mock(&mut server, "authorization_pending", 1).await;
    let approved = approved_mock(&mut server).await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (_, prompt) = recording_prompt();

    grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap();

    assert_eq!(sleeper.slept(), secs(&[2, 2, 7, 12, 12]));
    assert_eq!(
        grantkit_core::Clock::now(&clock),
        t0() + Duration::from_secs(35)
    );
    for mock in [pending, slow, pending_again, approved] {
        mock.assert_async().await;
    }
}

#[tokio::test]
async fn the_device_code_expiring_on_the_clock_ends_the_login_without_another_request() {
    let mut server = mockito::Server::new_async().await;
    let _authorize = authorize_mock(&mut server, authorization_body(12, None)).await;
    // Polls at t0+5 and t0+10; at t0+15 the code (12 s) has expired.
    let pending = poll_mock(&mut server, "authorization_pending", 2).await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (_, prompt) = recording_prompt();

    let e = grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap_err();

    assert!(e.is_expired_token(), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "the device code expired before the user approved it; log in again: expired_token"
    );
    assert_eq!(sleeper.slept(), secs(&[5, 5, 5]));
    pending.assert_async().await;
    assert_no_secret(&error_texts(&e), &["dc-secret-1"]);
}

#[tokio::test]
async fn expired_token_from_the_server_ends_the_login() {
    let mut server = mockito::Server::new_async().await;
    let _authorize = authorize_mock(&mut server, authorization_body(600, None)).await;
    let expired = poll_mock(&mut server, "expired_token", 1).await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (_, prompt) = recording_prompt();

    let e = grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap_err();
    assert!(e.is_expired_token(), "{e:?}");
    assert_eq!(e.status(), Some(400));
    expired.assert_async().await;
}

#[tokio::test]
async fn access_denied_ends_the_login_at_once() {
    let mut server = mockito::Server::new_async().await;
    let _authorize = authorize_mock(&mut server, authorization_body(600, None)).await;
    let pending = poll_mock(&mut server, "authorization_pending", 1).await;
    let denied = poll_mock(&mut server, "access_denied", 1).await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (_, prompt) = recording_prompt();

    let e = grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap_err();

    assert!(e.is_access_denied(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the user denied the device authorization (HTTP 400): access_denied"
    );
    assert_eq!(sleeper.slept(), secs(&[5, 5]));
    pending.assert_async().await;
    denied.assert_async().await;
}

#[tokio::test]
async fn a_confidential_client_authenticates_both_requests_with_basic() {
    let mut server = mockito::Server::new_async().await;
    let authorize = server
        .mock("POST", "/device")
        .match_header("authorization", basic("cli:cl-sec-1").as_str())
        .match_body(Matcher::Exact("scope=read".into()))
        .with_status(200)
        .with_body(authorization_body(600, Some(1)))
        .create_async()
        .await;
    let poll = server
        .mock("POST", "/token")
        .match_header("authorization", basic("cli:cl-sec-1").as_str())
        .match_body(Matcher::Exact(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-secret-1".into(),
        ))
        .with_status(200)
        .with_body(token_body("user-at-2", ""))
        .create_async()
        .await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (_, prompt) = recording_prompt();
    let grant = DeviceCodeGrant::new(
        format!("{}/device", server.url()),
        format!("{}/token", server.url()),
        ClientOptions::form("cli", "cl-sec-1").scope("read"),
    )
    .sleeper(sleeper.clone());

    let token = grant.login(&cx(&clock), &prompt).await.unwrap();
    assert_eq!(token.access_token().secret(), "user-at-2");
    authorize.assert_async().await;
    poll.assert_async().await;
}

#[tokio::test]
async fn a_refused_device_authorization_is_an_oauth_error_naming_the_endpoint() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("POST", "/device")
        .with_status(400)
        .with_body(r#"{"error":"invalid_scope","error_description":"\u001b[2Jno such scope"}"#)
        .create_async()
        .await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let (shown, prompt) = recording_prompt();
    let e = grant(&server, &sleeper)
        .login(&cx(&clock), &prompt)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "device authorization endpoint: token endpoint refused the request (HTTP 400): invalid_scope: no such scope"
    );
    assert!(shown.lock().unwrap().is_empty());
    assert!(sleeper.slept().is_empty());
}

#[tokio::test]
async fn without_a_prompt_the_grant_asks_for_a_login_and_sends_nothing() {
    let server = mockito::Server::new_async().await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let e = grant(&server, &sleeper)
        .fetch_token(&cx(&clock))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert!(e.is_login_required());
}

#[tokio::test]
async fn renewal_goes_through_the_refresh_token_and_keeps_rotation() {
    let mut server = mockito::Server::new_async().await;
    let refresh = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=user-rt-1&client_id=cli".into(),
        ))
        .with_status(200)
        .with_body(token_body("user-at-2", r#","refresh_token":"user-rt-2""#))
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let previous = Token::new("user-at-1", t0() - Duration::from_secs(7200), t0())
        .with_refresh_token("user-rt-1");
    let grant = grant(&server, &sleeper).with_refresh();
    let token = grant
        .fetch_token(&cx(&clock).with_previous(Some(previous)))
        .await
        .unwrap();
    assert_eq!(token.access_token().secret(), "user-at-2");
    assert_eq!(token.refresh_token().unwrap().secret(), "user-rt-2");
    refresh.assert_async().await;
}

#[tokio::test]
async fn a_refused_refresh_token_means_logging_in_again() {
    let mut server = mockito::Server::new_async().await;
    let _refresh = server
        .mock("POST", "/token")
        .with_status(400)
        .with_body(r#"{"error":"invalid_grant"}"#)
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let previous = Token::new("user-at-1", t0() - Duration::from_secs(7200), t0())
        .with_refresh_token("user-rt-old");
    let e = grant(&server, &sleeper)
        .with_refresh()
        .fetch_token(&cx(&clock).with_previous(Some(previous)))
        .await
        .unwrap_err();
    assert!(e.is_login_required(), "{e:?}");
}

#[test]
fn identity_is_the_user_login_slot_and_debug_shows_no_secret() {
    let clock = ManualClock::at_fixed_epoch();
    let grant = DeviceCodeGrant::new(
        "https://a.example/device",
        "https://a.example/token",
        ClientOptions::form("cli", "cl-sec-1").scope("b a"),
    )
    .sleeper(ManualSleeper::new(clock))
    .account("me");
    let id = grant.identity();
    assert_eq!(id.kind(), "user_login");
    assert_eq!(id.client_id(), Some("cli"));
    assert_eq!(id.scope(), Some("a b"));
    assert_eq!(id.params()["account"], "me");
    assert_ne!(
        id.cache_key(),
        grant.clone().account("other").identity().cache_key()
    );
    assert_no_secret(&format!("{grant:?}"), &["cl-sec-1"]);
}
