//! The device authorization grant (RFC 8628) against a real authorization server:
//! `oidc-provider` (interop/oidc-provider/serve.mjs, its "device authorization grant"
//! block) with `features.deviceFlow` and its development login and consent pages.
//!
//! The user's side is driven over HTTP, as a browser would: the page at
//! `verification_uri_complete` (a self-submitting form with the user code), the
//! confirmation form, the development login (any account, any password) and the consent
//! form. grantkit's side goes through the public API: a `DeviceCodeGrant` logs in, a
//! `TokenManager` keeps the user's tokens in a file store, a second manager (another
//! process, in effect) reads them, and renews them through the refresh token.
//!
//! Set-up and skipping as in `interop_oidc.rs`: `bash interop/oidc-provider/prepare.sh`;
//! with `CI=true` a missing server fails instead of skipping.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // tests

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grantkit::grant::{DeviceAuthorization, Grant, device_prompt_fn};
use grantkit::store::FileStore;
use grantkit::time::{Clock, ManualClock, Sleeper, SystemClock};
use grantkit::{ClientGrant, ClientOptions, DeviceCodeGrant, Token, TokenManager};
use grantkit_integration_tests::oidc_provider::{Browser, Op, op};

/// The device client of serve.mjs.
const CLIENT_ID: &str = "grantkit-device";
const SCOPE: &str = "openid offline_access";

/// The device grant of serve.mjs's device client.
fn device_grant(op: &Op) -> DeviceCodeGrant {
    DeviceCodeGrant::new(
        format!("{}/device/auth", op.issuer),
        format!("{}/token", op.issuer),
        ClientOptions::new(CLIENT_ID).scope(SCOPE),
    )
    .account("me")
    // oidc-provider names no interval (so 5 s); poll every 50 ms of real time.
    .sleeper(Quick)
}

/// Sleeps a hundredth of what is asked: the server does not enforce its interval.
#[derive(Debug)]
struct Quick;

#[grantkit::grant::async_trait]
impl Sleeper for Quick {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration / 100).await;
    }
}

/// Logs in with the device flow, the user approving (or aborting, with `abort`) in a
/// "browser" as soon as the prompt shows the code.
async fn device_login(
    grant: DeviceCodeGrant,
    cx: &grantkit::grant::GrantContext,
    abort: bool,
) -> grantkit::Result<Token> {
    let shown: Arc<Mutex<Option<DeviceAuthorization>>> = Arc::default();
    let slot = Arc::clone(&shown);
    let prompt = device_prompt_fn(move |a: &DeviceAuthorization| {
        *slot.lock().unwrap() = Some(a.clone());
        Ok(())
    });
    let authorization = grant.authorize(cx).await?;
    grantkit::grant::DevicePrompt::show(&prompt, &authorization)?;
    let shown = shown.lock().unwrap().clone().unwrap();
    let complete = shown.verification_uri_complete().unwrap().to_owned();
    assert_eq!(
        complete,
        format!(
            "{}?user_code={}",
            shown.verification_uri(),
            shown.user_code()
        )
    );
    let user = tokio::spawn(async move {
        let extra: &[(&str, &str, &str)] = if abort {
            &[("confirm", "abort", "yes")]
        } else {
            &[]
        };
        Browser::new().approve(&complete, extra).await
    });
    let token = grant.poll(cx, &authorization).await;
    let last_page = user.await.unwrap();
    if !abort {
        assert!(
            last_page.contains("<h1>Sign-in Success</h1>"),
            "{last_page}"
        );
    }
    token
}

fn manager(store: &Path, clock: Option<ManualClock>) -> TokenManager {
    let op = op().unwrap();
    let mut builder = TokenManager::builder()
        .grant(device_grant(op).with_refresh())
        .store(FileStore::new(store));
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_refresh_and_a_second_manager_reading_the_store() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();

    // Log in and keep the user's tokens.
    let first = manager(dir.path(), None);
    let token = match device_login(device_grant(op), &first.grant_context(), false).await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    assert_eq!(token.token_type(), "Bearer");
    let refresh_1 = token
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    first.set_token(token.clone()).await.unwrap();
    assert_eq!(
        first.token().await.unwrap().access_token().secret(),
        token.access_token().secret()
    );

    // Another manager (another process, in effect) finds them in the store.
    let second = manager(dir.path(), None);
    let served = second.token().await.unwrap();
    assert_eq!(
        served.access_token().secret(),
        token.access_token().secret()
    );
    assert_eq!(second.stats().token_requests, 0);

    // Two hours on, a third manager renews through the stored refresh token, without the
    // user; oidc-provider rotates a public client's refresh token.
    let later = ManualClock::new(SystemClock::new().now() + Duration::from_secs(7200));
    let third = manager(dir.path(), Some(later));
    let renewed = match third.token().await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
    assert_eq!(third.stats().token_requests, 1);
    let refresh_2 = renewed.refresh_token().unwrap();
    assert!(!refresh_2.secret().is_empty());
    assert_ne!(refresh_2.secret(), refresh_1.secret(), "rotated");

    // The store now holds the rotated refresh token: a fourth manager, later still, renews
    // with it (the first one is spent, and oidc-provider would refuse it).
    let stored = FileStore::new(dir.path());
    let key = third.cache_key().to_owned();
    let kept = grantkit::store::TokenStore::load(&stored, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.refresh_token().unwrap().secret(), refresh_2.secret());
    let fourth = manager(
        dir.path(),
        Some(ManualClock::new(
            SystemClock::new().now() + Duration::from_secs(4 * 3600),
        )),
    );
    fourth.token().await.unwrap();
    assert_eq!(fourth.stats().token_requests, 1);

    // The first refresh token is spent: refused, which for a user-login grant means
    // logging in again. (Last: oidc-provider revokes the grant on such a reuse.)
    let spent = device_grant(op)
        .with_refresh()
        .fetch_token(
            &first
                .grant_context()
                .with_previous(Some(token.clone().with_refresh_token(refresh_1.secret()))),
        )
        .await
        .unwrap_err();
    assert!(spent.is_login_required(), "{}", spent.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_aborting_is_access_denied() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();
    let manager = manager(dir.path(), None);
    let e = device_login(device_grant(op), &manager.grant_context(), true)
        .await
        .unwrap_err();
    assert!(e.is_access_denied(), "{}\n{}", e.report(), op.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_through_the_issuer_discovers_both_endpoints_and_renews() {
    let Some(op) = op() else { return };
    let grant = DeviceCodeGrant::discover(&op.issuer, ClientOptions::new(CLIENT_ID).scope(SCOPE))
        .sleeper(Quick);
    let cx = grantkit::grant::GrantContext::new(
        Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        Arc::new(grantkit::time::SystemClock::new()),
    );
    let token = match device_login(grant.clone(), &cx, false).await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    let refresh = token.refresh_token().expect("offline_access").clone();
    let renewed = grant
        .with_refresh()
        .refresh_grant()
        .refresh(&cx, &refresh)
        .await
        .unwrap_or_else(|e| panic!("{}\nserver log:\n{}", e.report(), op.log()));
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
}
