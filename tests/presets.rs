//! Each preset end to end against the in-process authorization server.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use std::collections::HashMap;
use std::time::Duration;

use grantkit::middleware::AuthMiddleware;
use grantkit::presets::{self, DisruptiveTechnologies, TwentyFourSevenOffice};
use grantkit::{
    BodyFormat, ClientGrant, ClientOptions, ErrorKind, PasswordGrant, TokenManager,
    store::MemoryStore,
    time::{Clock, ManualClock},
};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::server::{JWT_BEARER, TestServer};

/// The 24SevenOffice preset aimed at the test server.
fn tso_preset(server: &TestServer, org: &str) -> TwentyFourSevenOffice {
    TwentyFourSevenOffice::new(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET, org)
        .token_url(server.token_url())
}

fn tso(server: &TestServer, org: &str) -> TokenManager {
    tso_preset(server, org).builder().build().unwrap()
}

#[tokio::test]
async fn twenty_four_seven_office_sends_the_documented_json_body() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let token = tso(&server, "123456").token().await.unwrap();
    assert_eq!(token.token_type(), "Bearer");
    let request = &server.requests()[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.authorization, None, "credentials go in the body");
    assert_eq!(
        request.body,
        r#"{"grant_type":"client_credentials","client_id":"test-client","client_secret":"test-client-secret","audience":"https://api.24sevenoffice.com","login_organization":"123456"}"#
    );
}

#[tokio::test]
async fn twenty_four_seven_office_form_body_switch() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    TwentyFourSevenOffice::new(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET, "42")
        .body(BodyFormat::Form)
        .token_url(server.token_url())
        .builder()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.body,
        "grant_type=client_credentials&client_id=test-client&client_secret=test-client-secret&audience=https%3A%2F%2Fapi.24sevenoffice.com&login_organization=42"
    );
}

/// The API's clock runs an hour ahead of the client's, so it calls the client's still
/// "fresh" token expired and answers 403, as 24SevenOffice does. The middleware must
/// invalidate, fetch exactly one new token and retry once.
#[tokio::test]
async fn twenty_four_seven_office_403_means_renew_and_retry_once() {
    let client_clock = ManualClock::at_fixed_epoch();
    let server_clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&server_clock).await;
    server.configure(|c| c.api_reject_status = 403);
    let manager = tso_preset(&server, "7")
        .builder()
        .clock(client_clock.clone())
        .build()
        .unwrap();
    let host = server.url().trim_start_matches("http://").to_owned();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            AuthMiddleware::new(manager.clone(), [host])
                .rejected_statuses(presets::twenty_four_seven_office::REJECTED_STATUSES),
        )
        .build();

    let ok = client.get(server.api_url()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(server.token_requests(), 1);

    server_clock.advance(Duration::from_secs(3600)); // the server now calls that token expired
    let first = manager.token().await.unwrap();
    let retried = client.get(server.api_url()).send().await.unwrap();
    assert_eq!(retried.status(), 200, "one retry with a new token succeeds");
    assert_eq!(server.token_requests(), 2, "exactly one new token request");
    assert_eq!(server.api_requests(), 3, "the request was sent twice");
    assert!(!manager.token().await.unwrap().same_access_token(&first));
}

#[tokio::test]
async fn twenty_four_seven_office_tokens_are_per_organization() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let store = MemoryStore::new();
    let manager = |org: &str| {
        tso_preset(&server, org)
            .builder()
            .store(store.clone())
            .build()
            .unwrap()
    };
    let (a, b, a_again) = (manager("1"), manager("2"), manager("1"));
    assert_ne!(a.cache_key(), b.cache_key());
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert!(!ta.same_access_token(&tb));
    assert!(
        a_again.token().await.unwrap().same_access_token(&ta),
        "same organization, shared token"
    );
    assert_eq!(server.token_requests(), 2);
}

#[tokio::test]
async fn disruptive_technologies_signs_a_verified_assertion() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let manager = DisruptiveTechnologies::new(
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET,
    )
    .token_url(server.token_url())
    .builder()
    .unwrap()
    .clock(clock.clone())
    .build()
    .unwrap();
    let token = manager.token().await.unwrap();
    // A second early: `expires_in` counts whole seconds.
    assert_eq!(token.expires_at(), clock.now() + Duration::from_secs(3599));
    assert_eq!(
        server.requests_for(JWT_BEARER),
        1,
        "the server verified kid, iss, aud and signature"
    );
    let body = &server.requests()[0].body;
    assert!(body.starts_with("assertion=ey"), "{body}");
    assert!(
        body.ends_with("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
        "{body}"
    );

    // The plain function builds the same grant, aimed at the vendor.
    let plain = presets::disruptive_technologies(
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET,
    )
    .build()
    .unwrap();
    assert_eq!(
        plain.identity().token_url(),
        presets::disruptive_technologies::TOKEN_URL
    );
    DisruptiveTechnologies::new(
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET,
    )
    .token_url(server.token_url())
    .builder()
    .unwrap()
    .clock(clock.clone())
    .build()
    .unwrap()
    .token()
    .await
    .unwrap();
    assert_eq!(server.requests_for(JWT_BEARER), 2);
}

#[test]
fn disruptive_technologies_refuses_assertions_longer_than_an_hour() {
    let e = DisruptiveTechnologies::new("kid", "svc@example.com", "s")
        .lifetime(Duration::from_secs(3601))
        .builder()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("at most 3600 s"), "{e}");
    let e = DisruptiveTechnologies::from_lookup(|k| {
        (k != "DT_SERVICE_ACCOUNT_EMAIL").then(|| "x".to_owned())
    })
    .unwrap_err();
    assert!(e.to_string().contains("DT_SERVICE_ACCOUNT_EMAIL"), "{e}");
}

#[tokio::test]
async fn from_env_sends_the_generic_form_body() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let vars = HashMap::from([
        ("OAUTH_TOKEN_URL", server.token_url()),
        ("OAUTH_CLIENT_ID", TestServer::CLIENT_ID.to_owned()),
        ("OAUTH_CLIENT_SECRET", TestServer::CLIENT_SECRET.to_owned()),
        ("OAUTH_SCOPE", "read write".to_owned()),
    ]);
    let manager = presets::from_lookup(|k| vars.get(k).cloned())
        .unwrap()
        .build()
        .unwrap();
    manager.token().await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        request.body,
        "grant_type=client_credentials&client_id=test-client&client_secret=test-client-secret&scope=read+write"
    );
    assert_eq!(request.authorization, None);

    let mut basic = vars.clone();
    basic.insert("OAUTH_CLIENT_AUTH", "basic".to_owned());
    presets::from_lookup(|k| basic.get(k).cloned())
        .unwrap()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let request = &server.requests()[1];
    assert!(
        request
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        request.body,
        "grant_type=client_credentials&scope=read+write"
    );

    let mut bad = vars.clone();
    bad.insert("OAUTH_CLIENT_AUTH", "digest".to_owned());
    assert!(presets::from_lookup(|k| bad.get(k).cloned()).is_err());
}

#[tokio::test]
async fn password_grant_renews_with_its_refresh_token() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    server.set_lifetime(Duration::from_secs(31_536_000));
    let grant = PasswordGrant::new(
        server.token_url(),
        ClientOptions::json(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET),
        TestServer::USERNAME,
        TestServer::PASSWORD,
    )
    .with_refresh();
    let manager = TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    assert_eq!(first.lifetime(), Duration::from_secs(31_535_999));
    assert!(first.refresh_token().is_some());
    assert_eq!(
        server.requests()[0].body,
        r#"{"username":"alice","password":"alice-password","client_secret":"test-client-secret","client_id":"test-client","grant_type":"password"}"#
    );

    clock.advance(Duration::from_secs(31_536_000)); // expired
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first));
    assert_eq!(server.requests_for("password"), 1);
    assert_eq!(
        server.requests_for("refresh_token"),
        1,
        "renewed without logging in again"
    );
}

/// The repository's test-only key files.
fn test_key(name: &str) -> String {
    format!(
        "{}/../crates/grants/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

const GOOGLE_EMAIL: &str = "test-only@test-only-project.iam.gserviceaccount.com";

/// The repository's fake Google key file with its `token_uri` aimed at `token_uri`.
fn google_key_file(dir: &tempfile::TempDir, token_uri: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(test_key("test-only-google-service-account.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["token_uri"] = token_uri.into();
    let path = dir.path().join("service-account.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

#[tokio::test]
async fn google_service_account_sends_the_documented_rs256_assertion() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let public = std::fs::read_to_string(test_key("test-only-rsa-public.pem")).unwrap();
    server.configure(|c| {
        c.service_account_keys.insert(
            "test-only-key-id".into(),
            (GOOGLE_EMAIL.into(), public.clone()),
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let key_file = google_key_file(&dir, &server.token_url());
    let scope = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/devstorage.read_only";
    let manager = presets::google_service_account(&key_file, scope)
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(manager.identity().token_url(), server.token_url());
    manager.token().await.unwrap();
    assert_eq!(
        server.requests_for(JWT_BEARER),
        1,
        "the server verified the RS256 signature"
    );

    let request = &server.requests()[0];
    assert_eq!(request.path, "/oauth/token");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.authorization, None);
    let jwt = request
        .body
        .strip_prefix("assertion=")
        .and_then(|rest| {
            rest.strip_suffix("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        })
        .unwrap_or_else(|| panic!("{}", request.body));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[server.token_url()]);
    validation.validate_exp = false; // the manual clock is in the past
    let data = jsonwebtoken::decode::<serde_json::Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(data.header.kid.as_deref(), Some("test-only-key-id"));
    assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    let now = clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        data.claims,
        serde_json::json!({
            "iss": GOOGLE_EMAIL,
            "aud": server.token_url(),
            "iat": now,
            "exp": now + 3600,
            "scope": scope,
        })
    );
}

#[tokio::test]
async fn google_service_account_delegation_and_the_environment() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let public = std::fs::read_to_string(test_key("test-only-rsa-public.pem")).unwrap();
    server.configure(|c| {
        c.service_account_keys
            .insert("test-only-key-id".into(), (GOOGLE_EMAIL.into(), public));
    });
    let dir = tempfile::tempdir().unwrap();
    let key_file = google_key_file(&dir, &server.token_url());
    let path = key_file.display().to_string();
    let preset = presets::GoogleServiceAccount::from_lookup(|name| {
        (name == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone())
    })
    .unwrap()
    .scope("https://www.googleapis.com/auth/admin.directory.user.readonly")
    .subject("admin@example.com");
    preset
        .builder()
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let body = &server.requests()[0].body;
    let jwt = body
        .strip_prefix("assertion=")
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let claims = jwt.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "admin@example.com");
    assert_eq!(
        presets::GoogleServiceAccount::from_lookup(|_| None)
            .unwrap_err()
            .to_string(),
        "environment variable GOOGLE_APPLICATION_CREDENTIALS is not set"
    );
}

#[test]
fn google_key_file_mistakes_name_the_field_and_path_never_the_key() {
    let text = std::fs::read_to_string(test_key("test-only-google-service-account.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pem = good["private_key"].as_str().unwrap().to_owned();
    let body_line = pem.lines().nth(1).unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sa.json");
    let shown = path.display().to_string();
    let with = |field: &str, value: serde_json::Value| {
        let mut json = good.clone();
        if value.is_null() {
            json.as_object_mut().unwrap().remove(field);
        } else {
            json[field] = value;
        }
        std::fs::write(&path, json.to_string()).unwrap();
        presets::GoogleServiceAccount::from_file(&path)
            .unwrap_err()
            .to_string()
    };
    for field in ["client_email", "private_key_id", "private_key"] {
        assert_eq!(
            with(field, serde_json::Value::Null),
            format!("Google service account key file {shown}: field `{field}` is missing")
        );
    }
    let bad_key = pem.replace(&body_line, "AAAA");
    let message = with("private_key", bad_key.into());
    assert_eq!(
        message,
        format!(
            "Google service account key file {shown}: field `private_key` is not a PEM RSA private key"
        )
    );
    assert_eq!(
        with("type", "authorized_user".into()),
        format!("Google service account key file {shown}: field `type` is not \"service_account\"")
    );
    std::fs::write(&path, format!("{{\"private_key\": \"{body_line}")).unwrap();
    let message = presets::GoogleServiceAccount::from_file(&path)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "Google service account key file {shown}: not a JSON key file (line 1, column "
        )),
        "{message}"
    );
    assert!(!message.contains(&body_line));
    let missing = dir.path().join("absent.json");
    assert_eq!(
        presets::GoogleServiceAccount::from_file(&missing)
            .unwrap_err()
            .to_string(),
        format!(
            "cannot read the Google service account key file {}",
            missing.display()
        )
    );
    // Debug shows the account, never the key.
    let preset =
        presets::GoogleServiceAccount::from_file(test_key("test-only-google-service-account.json"))
            .unwrap();
    let debug = format!("{preset:?}");
    assert!(
        debug.contains(GOOGLE_EMAIL) && !debug.contains(&body_line),
        "{debug}"
    );
    // No scope: refused before any request.
    assert_eq!(
        preset.builder().unwrap_err().to_string(),
        "Google service account: missing field `scope` (the scopes to ask for)"
    );
}
