//! Secrets read at each use (`SecretSource`): a file rotated between two renewals is sent
//! with its new contents, byte for byte; a missing file fails the renewal with a `Config`
//! error naming the field and the path while the still valid token keeps being served;
//! nothing read ever shows in `Debug` or an error. Assertions made elsewhere are in
//! `external_assertions.rs`, with these helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use grantkit_core::{ErrorKind, Grant, ManualClock, SecretSource, TokenManager};
use grantkit_grants::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, JwtBearer, JwtSigningKey,
    PasswordGrant,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mockito::Matcher;
use serde_json::Value;

use crate::support::*;

pub(crate) const ASSERTION_TYPE: &str =
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
pub(crate) const JWT_BEARER: &str =
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// Two made-up projected service-account tokens, as the kubelet would rotate them.
pub(crate) const SA_TOKEN_1: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6MSJ9.c2lnLW9uZQ";
pub(crate) const SA_TOKEN_2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6MiJ9.c2lnLXR3bw";

/// A file holding `contents` in a fresh directory (kept alive by the returned guard).
pub(crate) fn secret_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

pub(crate) fn manager(grant: impl Grant + 'static, clock: &ManualClock) -> TokenManager {
    TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// A mock answering `body` (exactly) with the access token `access`, once.
pub(crate) async fn exact_mock(
    server: &mut mockito::Server,
    authorization: Matcher,
    body: &str,
    access: &str,
) -> mockito::Mock {
    server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", authorization)
        .match_body(Matcher::Exact(body.to_owned()))
        .with_status(200)
        .with_body(token_body(access, ""))
        .expect(1)
        .create_async()
        .await
}

/// Calls `manager.token()` until a background renewal has failed once more (it runs on
/// another task; nothing here waits for time to pass).
async fn until_a_renewal_failed(manager: &TokenManager, before: u64) {
    for _ in 0..100_000 {
        if manager.stats().renewal_failures > before {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("no renewal failed: {:?}", manager.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_file_rotated_between_two_renewals_sends_the_new_secret() {
    let mut server = mockito::Server::new_async().await;
    let first = exact_mock(
        &mut server,
        Matcher::Exact(basic("app:secret-1")),
        "grant_type=client_credentials&scope=read",
        "at-1",
    )
    .await;
    let second = exact_mock(
        &mut server,
        Matcher::Exact(basic("app:secret-%2B2")),
        "grant_type=client_credentials&scope=read",
        "at-2",
    )
    .await;
    let (_dir, path) = secret_file("secret-1\n");
    let clock = clock();
    let grant = ClientCredentials::new(
        format!("{}/token", server.url()),
        ClientOptions::new("app").client_secret_file(&path),
    )
    .scope("read");
    let manager = manager(grant, &clock);

    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-1"
    );
    // The platform rewrites the file (with a Windows line ending this time).
    std::fs::write(&path, "secret-+2\r\n").unwrap();
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-1",
        "cached: the file is read at renewals only"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    first.assert_async().await;
    second.assert_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_file_fails_the_renewal_and_the_valid_token_keeps_being_served() {
    let mut server = mockito::Server::new_async().await;
    let first = exact_mock(
        &mut server,
        Matcher::Missing,
        "grant_type=client_credentials&client_id=app&client_secret=cs-File-1",
        "at-1",
    )
    .await;
    let (_dir, path) = secret_file("cs-File-1\n");
    let clock = clock();
    let grant = ClientCredentials::new(
        format!("{}/token", server.url()),
        ClientOptions::new("app")
            .client_secret_file(&path)
            .client_auth(ClientAuth::Body),
    );
    let manager = manager(grant, &clock);
    let token = manager.token().await.unwrap();
    first.assert_async().await;

    // The secret disappears; inside the refresh window the renewal fails in the
    // background and the current token keeps being served.
    std::fs::remove_file(&path).unwrap();
    clock.set(token.expires_at() - Duration::from_secs(44));
    let failures = manager.stats().renewal_failures;
    let served = manager.token().await.unwrap();
    assert!(served.same_access_token(&token));
    until_a_renewal_failed(&manager, failures).await;
    let served = manager.token().await.unwrap();
    assert!(served.same_access_token(&token));
    assert_eq!(
        manager.stats().token_requests,
        1,
        "nothing sent without a secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_file_is_a_config_error_naming_field_and_path_once_the_token_expired() {
    let mut server = mockito::Server::new_async().await;
    let first = exact_mock(
        &mut server,
        Matcher::Missing,
        "grant_type=client_credentials&client_id=app&client_secret=cs-File-1",
        "at-1",
    )
    .await;
    let (_dir, path) = secret_file("cs-File-1\n");
    let clock = clock();
    let grant = ClientCredentials::new(
        format!("{}/token", server.url()),
        ClientOptions::new("app")
            .client_secret_file(&path)
            .client_auth(ClientAuth::Body),
    );
    let manager = manager(grant, &clock);
    let token = manager.token().await.unwrap();
    first.assert_async().await;

    // Once the token has expired, the caller gets the error: Config, not retried,
    // naming the field and the path, never the contents.
    std::fs::remove_file(&path).unwrap();
    clock.set(token.expires_at() + Duration::from_secs(1));
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{}", error.report());
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        format!("cannot read the client secret from file {}", path.display())
    );
    assert!(std::error::Error::source(&error).is_some(), "the I/O error");
    assert_no_secret(&error_texts(&error), &["cs-File-1"]);

    // The file comes back: after the failure cool-down the next call renews with it.
    std::fs::write(&path, "cs-File-2").unwrap();
    let second = exact_mock(
        &mut server,
        Matcher::Missing,
        "grant_type=client_credentials&client_id=app&client_secret=cs-File-2",
        "at-2",
    )
    .await;
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    second.assert_async().await;
}

#[tokio::test]
async fn an_empty_secret_file_is_a_config_error_and_nothing_is_sent() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let (_dir, path) = secret_file("\n");
    let grant = ClientCredentials::new(
        format!("{}/token", server.url()),
        ClientOptions::new("app").client_secret_file(&path),
    );
    assert!(
        grant.validate().is_ok(),
        "the file is read at use, not before"
    );
    let error = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(
        error.to_string(),
        format!("the client secret file {} is empty", path.display())
    );
    mock.assert_async().await;
}

#[tokio::test]
async fn the_password_is_read_at_each_login() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for (password, access) in [("pw-1", "at-1"), ("pw-2", "at-2")] {
        mocks.push(
            server
                .mock("POST", "/token")
                .match_header("content-type", JSON)
                .match_body(Matcher::Exact(format!(
                    r#"{{"username":"me","password":"{password}","client_secret":"cs-Json-9","client_id":"id","grant_type":"password"}}"#
                )))
                .with_status(200)
                .with_body(token_body(access, ""))
                .expect(1)
                .create_async()
                .await,
        );
    }
    let (_dir, path) = secret_file("pw-1\n");
    let grant = PasswordGrant::new(
        format!("{}/token", server.url()),
        ClientOptions::json("id", "cs-Json-9"),
        "me",
        SecretSource::file(&path),
    );
    let cx = cx(&clock());
    assert_eq!(
        grant.fetch_token(&cx).await.unwrap().authorization_header(),
        "Bearer at-1"
    );
    std::fs::write(&path, "pw-2\n").unwrap();
    assert_eq!(
        grant.fetch_token(&cx).await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    for mock in mocks {
        mock.assert_async().await;
    }
    std::fs::remove_file(&path).unwrap();
    let error = grant.fetch_token(&cx).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("cannot read the password from file {}", path.display())
    );
    assert_no_secret(&format!("{grant:?}"), &["pw-1", "pw-2", "cs-Json-9"]);
    assert!(format!("{grant:?}").contains("Password(file "));
}

/// Verifies an HS256 assertion with `secret`, as the server would.
fn verify_hs256(body: &str, secret: &str) -> Value {
    let jwt = body
        .strip_prefix("assertion=")
        .and_then(|rest| rest.split('&').next())
        .unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["https://aud.example"]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn the_hs256_secret_of_the_jwt_bearer_grant_is_read_at_each_signing() {
    let (_dir, path) = secret_file("hs-Secret-1\n");
    let grant = JwtBearer::new(
        "https://aud.example/token",
        "svc@example.com",
        JwtSigningKey::hs256(SecretSource::file(&path)),
    )
    .audience("https://aud.example");
    let now = t0();
    let first = grant.assertion(now).unwrap();
    let claims = verify_hs256(&format!("assertion={}", first.secret()), "hs-Secret-1");
    assert_eq!(claims["iss"], "svc@example.com");
    std::fs::write(&path, "hs-Secret-2").unwrap();
    let second = grant.assertion(now).unwrap();
    verify_hs256(&format!("assertion={}", second.secret()), "hs-Secret-2");
    std::fs::remove_file(&path).unwrap();
    let error = grant.assertion(now).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(
        error.to_string(),
        format!("cannot read the signing key from file {}", path.display())
    );
    assert_no_secret(
        &format!("{}{grant:?}", error_texts(&error)),
        &["hs-Secret-1", "hs-Secret-2"],
    );
}

#[test]
fn debug_shows_where_a_secret_comes_from_never_what_it_is() {
    let (_dir, path) = secret_file("cs-Never-Shown\n");
    let options = ClientOptions::new("app").client_secret_file(&path);
    let shown = format!("{options:?}");
    assert!(
        shown.contains(&format!(
            "ClientSecret(file {:?})",
            path.display().to_string()
        )),
        "{shown}"
    );
    let f = ClientOptions::new("app").client_secret_fn(|| Ok("cs-Never-Shown"));
    assert!(format!("{f:#?}").contains("ClientSecret(fn)"));
    assert_no_secret(&format!("{options:#?} {f:#?}"), &["cs-Never-Shown"]);
    assert!(Path::new(&path).exists());
}
