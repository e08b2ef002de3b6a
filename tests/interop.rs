//! Interoperability: grantkit against a real, widely used open-source authorization server,
//! django-oauth-toolkit (DOT), installed from PyPI and started on loopback.
//!
//! The server's set-up lives in `interop/django-oauth-toolkit/` (see `docs/interop.md`):
//! `prepare.py` creates a virtualenv under `target/interop/venv` from the pinned
//! `requirements.txt` (once; later runs reuse it), `serve.py` starts DOT on a free port of
//! 127.0.0.1 with a fresh SQLite database and the test clients. One server serves all the
//! tests of this binary; it exits when this process does (it watches its stdin).
//!
//! These tests never skip: without a usable `python3` (3.10+, with `venv`) or without
//! access to PyPI on the first run, every test fails with the reason and what to install.
//! `GRANTKIT_INTEROP_PYTHON` picks another interpreter, `GRANTKIT_INTEROP_VENV` another
//! virtualenv directory.
//!
//! Every request goes through grantkit's public API; the server's view of a token (who
//! owns it, whether a refresh_token grant issued it) comes from the project's protected
//! resource `/api/me/`.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test
#![allow(clippy::panic, clippy::expect_used)] // the harness must fail loudly, never skip

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use grantkit_integration_tests::interop::{python_venv, spawn_listening, tail, workspace};

use grantkit::middleware::AuthMiddleware;
use grantkit::{
    BodyFormat, ClientAuth, ClientCredentials, ClientGrant, ClientOptions, Error, ErrorKind,
    JwtBearer, PasswordGrant, RefreshTokenGrant, Token, TokenManager, policy::RetryPolicy,
    time::ManualClock,
};
use serde_json::Value;

// The fixed test credentials that `seed_interop` creates.
const CC_ID: &str = "grantkit-cc";
const CC_SECRET: &str = "grantkit-cc-secret";
const SPECIAL_ID: &str = "grantkit cc:special";
const SPECIAL_SECRET: &str = "s3cret:with+plus/slash%percent&amp=eq ~space";
const PW_ID: &str = "grantkit-password";
const PW_SECRET: &str = "grantkit-password-secret";
const USERNAME: &str = "alice";
const PASSWORD: &str = "alice-password";
/// `ACCESS_TOKEN_EXPIRE_SECONDS` in the server's settings.
const LIFETIME: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

/// How long the server gets to print its address after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running DOT server of this test binary.
struct Dot {
    base: String,
    child: Mutex<Child>,
    /// Held open for the server's lifetime: it exits when this end closes.
    _stdin: ChildStdin,
    log: Arc<Mutex<String>>,
}

impl Drop for Dot {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server, started on first use. A set-up failure fails every test with its reason.
fn dot() -> &'static Dot {
    static SERVER: OnceLock<Result<Dot, String>> = OnceLock::new();
    match SERVER.get_or_init(|| python_venv().and_then(|python| start(&python))) {
        Ok(dot) => dot,
        Err(reason) => panic!(
            "\n\n*** The interop tests need django-oauth-toolkit and could not get it. ***\n\
             {reason}\n\n\
             They never skip. They need python3 (3.10+) with venv and, on the first run, \
             access to PyPI: on Debian/Ubuntu `apt-get install python3 python3-venv`. \
             `.ci/run` prepares this before the tests; by hand: \
             `python3 interop/django-oauth-toolkit/prepare.py`.\n"
        ),
    }
}

fn interop_dir() -> PathBuf {
    workspace().join("interop").join("django-oauth-toolkit")
}

/// Spawns `serve.py` and waits for the address it prints.
fn start(python: &Path) -> Result<Dot, String> {
    let started = Instant::now();
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("serve.py"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let server = spawn_listening(command, "serve.py", START_TIMEOUT)?;
    eprintln!(
        "interop: django-oauth-toolkit listening on {} after {:.1?}",
        server.url,
        started.elapsed()
    );
    Ok(Dot {
        base: server.url,
        child: Mutex::new(server.child),
        _stdin: server.stdin,
        log: server.log,
    })
}

impl Dot {
    /// DOT's standard token endpoint (form bodies).
    fn token_url(&self) -> String {
        format!("{}/o/token/", self.base)
    }

    /// DOT's token view with its JSON backend (`JSONOAuthLibCore`).
    fn json_token_url(&self) -> String {
        format!("{}/json/token/", self.base)
    }

    fn api_url(&self) -> String {
        format!("{}/api/me/", self.base)
    }

    /// The server's recent log, for failure messages.
    fn log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        tail(&log, 4096).to_owned()
    }

    /// What the server says about `token`: `(status, body)` of `GET /api/me/`.
    async fn me(&self, token: &Token) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(self.api_url())
            .header("authorization", token.authorization_header())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The server's view of a token it must accept.
    async fn accepted(&self, token: &Token) -> Value {
        let (status, body) = self.me(token).await;
        assert_eq!(
            status,
            200,
            "the server refused a token grantkit obtained: {body}\n{}",
            self.log()
        );
        body
    }

    /// Revokes `token` at DOT's RFC 7009 endpoint, as the client `client_id`.
    async fn revoke(&self, client_id: &str, secret: &str, token: &str, hint: &str) {
        // DOT's tokens are alphanumeric: no form-encoding needed.
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        let response = reqwest::Client::new()
            .post(format!("{}/o/revoke_token/", self.base))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&token_type_hint={hint}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "revocation failed\n{}", self.log());
    }
}

fn manager(grant: impl grantkit::grant::Grant + 'static, clock: &ManualClock) -> TokenManager {
    TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn password_grant(dot: &Dot) -> PasswordGrant {
    PasswordGrant::new(
        dot.token_url(),
        ClientOptions::form(PW_ID, PW_SECRET),
        USERNAME,
        PASSWORD,
    )
}

fn refresh_secret(token: &Token) -> String {
    token
        .refresh_token()
        .expect("the server issued a refresh token")
        .secret()
        .to_owned()
}

/// Asserts a refusal reached the caller as the server's RFC 6749 §5.2 error, unretried.
fn assert_oauth_error(
    error: &Error,
    status: u16,
    code: &str,
    description: Option<&str>,
    manager: &TokenManager,
) {
    assert_eq!(error.kind(), ErrorKind::OAuth, "{}", error.report());
    assert_eq!(error.status(), Some(status), "{}", error.report());
    let oauth = error
        .oauth_error()
        .expect("the server's error body is kept");
    assert_eq!(oauth.error, code);
    assert_eq!(oauth.error_description.as_deref(), description);
    assert!(!error.is_retryable(), "{code} must not be retried");
    assert_eq!(manager.stats().token_requests, 1, "{code} was retried");
}

/// A token as DOT issues it: `Bearer`, `expires_in` 3600 as a number, a string scope.
fn assert_dot_token(token: &Token, scope: &str) {
    assert_eq!(token.token_type(), "Bearer");
    assert!(token.authorization_header().starts_with("Bearer "));
    assert_eq!(
        token.stated_lifetime(),
        Some(LIFETIME),
        "expires_in was read"
    );
    // Taken a second short: `expires_in` counts whole seconds.
    assert_eq!(token.lifetime(), LIFETIME - Duration::from_secs(1));
    assert_eq!(token.scope(), Some(scope));
}

// ---------------------------------------------------------------------------------------
// Client credentials
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_with_http_basic_authentication() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let grant = ClientCredentials::form(dot.token_url(), CC_ID, CC_SECRET).scope("read");
    assert_eq!(
        grant.client_options().client_auth_method(),
        ClientAuth::Basic
    );
    let manager = manager(grant, &clock);

    let token = manager.token().await.unwrap();
    assert_dot_token(&token, "read");
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token for client credentials"
    );
    let me = dot.accepted(&token).await;
    assert_eq!(me["client_id"], CC_ID);
    assert_eq!(me["user"], Value::Null);
    assert_eq!(me["scope"], "read");

    // Cached: a second call sends nothing.
    let again = manager.token().await.unwrap();
    assert!(again.same_access_token(&token));
    assert_eq!(manager.stats().token_requests, 1);
}

#[tokio::test]
async fn client_credentials_with_credentials_in_the_form_body() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        ClientCredentials::form(dot.token_url(), CC_ID, CC_SECRET)
            .client_auth(ClientAuth::Body)
            .scope("read write"),
        &clock,
    );
    let token = manager.token().await.unwrap();
    assert_dot_token(&token, "read write");
    let me = dot.accepted(&token).await;
    assert_eq!(me["client_id"], CC_ID);
    assert_eq!(me["scope"], "read write");
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding. An id
/// with a space and a colon, a secret with `:+/%&= ~`: DOT decodes them as the RFC says.
#[tokio::test]
async fn client_credentials_with_special_characters_in_id_and_secret() {
    let dot = dot();
    for auth in [ClientAuth::Basic, ClientAuth::Body] {
        let clock = ManualClock::at_fixed_epoch();
        let manager = manager(
            ClientCredentials::form(dot.token_url(), SPECIAL_ID, SPECIAL_SECRET).client_auth(auth),
            &clock,
        );
        let token = manager
            .token()
            .await
            .unwrap_or_else(|e| panic!("{auth}: {}\n{}", e.report(), dot.log()));
        assert_eq!(
            dot.accepted(&token).await["client_id"],
            SPECIAL_ID,
            "{auth}"
        );
    }
}

/// Without a scope, DOT grants the client its `DEFAULT_SCOPES`.
#[tokio::test]
async fn client_credentials_without_scope_get_the_default_scopes() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        ClientCredentials::form(dot.token_url(), CC_ID, CC_SECRET),
        &clock,
    );
    let token = manager.token().await.unwrap();
    assert_dot_token(&token, "read write");
}

/// The 24SevenOffice wire format (JSON body, credentials in it) against DOT's JSON backend.
#[tokio::test]
async fn client_credentials_with_a_json_body() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let grant = ClientCredentials::json(dot.json_token_url(), CC_ID, CC_SECRET).scope("read");
    assert_eq!(grant.client_options().body_format(), BodyFormat::Json);
    let manager = manager(grant, &clock);
    let token = manager.token().await.unwrap();
    assert_dot_token(&token, "read");
    assert_eq!(dot.accepted(&token).await["client_id"], CC_ID);
}

/// DOT's standard endpoint reads only form bodies (RFC 6749): a JSON body reaches it with
/// no `grant_type` and is refused as `unsupported_grant_type` (documented in
/// docs/interop.md; use `BodyFormat::Form` with such servers).
#[tokio::test]
async fn a_json_body_at_the_standard_endpoint_is_refused_with_the_servers_error() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        ClientCredentials::json(dot.token_url(), CC_ID, CC_SECRET),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_oauth_error(&error, 400, "unsupported_grant_type", None, &manager);
}

#[tokio::test]
async fn an_unknown_scope_is_invalid_scope() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        ClientCredentials::form(dot.token_url(), CC_ID, CC_SECRET).scope("read admin"),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_oauth_error(&error, 400, "invalid_scope", None, &manager);
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

/// A wrong secret: DOT answers 401 `{"error": "invalid_client"}` (no description), for
/// Basic and for body authentication alike; grantkit returns it as is, without retrying.
#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let dot = dot();
    for auth in [ClientAuth::Basic, ClientAuth::Body] {
        for body in [BodyFormat::Form, BodyFormat::Json] {
            let url = match body {
                BodyFormat::Json => dot.json_token_url(),
                _ => dot.token_url(),
            };
            let clock = ManualClock::at_fixed_epoch();
            let manager = manager(
                ClientCredentials::new(
                    url,
                    ClientOptions::form(CC_ID, "not-the-secret").body(body),
                )
                .client_auth(auth),
                &clock,
            );
            let error = manager.token().await.unwrap_err();
            assert_oauth_error(&error, 401, "invalid_client", None, &manager);
            assert!(error.is_invalid_client(), "{auth} {body}");
            let shown = format!("{} {error:?} {}", error, error.report());
            assert!(!shown.contains("not-the-secret"), "{shown}");
        }
    }
}

#[tokio::test]
async fn an_unknown_client_is_invalid_client() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        ClientCredentials::form(dot.token_url(), "no-such-client", CC_SECRET),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_oauth_error(&error, 401, "invalid_client", None, &manager);
}

/// A wrong password: 400 `invalid_grant` with DOT's description, not retried.
#[tokio::test]
async fn a_wrong_password_is_invalid_grant() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        PasswordGrant::new(
            dot.token_url(),
            ClientOptions::form(PW_ID, PW_SECRET),
            USERNAME,
            "wrong-password",
        ),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_oauth_error(
        &error,
        400,
        "invalid_grant",
        Some("Invalid credentials given."),
        &manager,
    );
    assert!(error.is_invalid_grant());
    assert!(!format!("{error:?} {}", error.report()).contains("wrong-password"));
}

/// A client registered for client credentials may not use the password grant.
#[tokio::test]
async fn a_grant_the_client_is_not_registered_for_is_unauthorized_client() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        PasswordGrant::new(
            dot.token_url(),
            ClientOptions::form(CC_ID, CC_SECRET),
            USERNAME,
            PASSWORD,
        ),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OAuth, "{}", error.report());
    assert_eq!(
        error.oauth_error().map(|o| o.error.as_str()),
        Some("unauthorized_client")
    );
    assert!(!error.is_retryable());
}

// ---------------------------------------------------------------------------------------
// Password grant and refresh tokens
// ---------------------------------------------------------------------------------------

/// The password grant yields a refresh token; past expiry, grantkit renews through
/// `grant_type=refresh_token` (the server records it), DOT rotates the refresh token and
/// revokes the old access token.
#[tokio::test]
async fn password_grant_renews_through_the_rotated_refresh_token() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(password_grant(dot).scope("read").with_refresh(), &clock);

    let first = manager.token().await.unwrap();
    assert_dot_token(&first, "read");
    let first_refresh = refresh_secret(&first);
    let me = dot.accepted(&first).await;
    assert_eq!(me["user"], USERNAME);
    assert_eq!(me["client_id"], PW_ID);
    assert_eq!(me["issued_by_refresh_token"], false);

    clock.advance(LIFETIME + Duration::from_secs(1));
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first), "a new access token");
    assert_dot_token(&second, "read");
    let second_refresh = refresh_secret(&second);
    assert_ne!(second_refresh, first_refresh, "DOT rotates refresh tokens");
    let me = dot.accepted(&second).await;
    assert_eq!(
        me["issued_by_refresh_token"], true,
        "the renewal used the refresh token"
    );
    assert_eq!(me["user"], USERNAME);
    assert_eq!(
        dot.me(&first).await.0,
        401,
        "DOT revoked the replaced access token"
    );
    let stats = manager.stats();
    assert_eq!((stats.token_requests, stats.tokens_fetched), (2, 2));

    // And again: the rotated refresh token is the one sent next.
    clock.advance(LIFETIME + Duration::from_secs(1));
    let third = manager.token().await.unwrap();
    assert_eq!(dot.accepted(&third).await["issued_by_refresh_token"], true);
    assert_ne!(refresh_secret(&third), second_refresh);
    assert_eq!(manager.stats().token_requests, 3);
}

/// `invalidate` (an API said 401) makes the next `token()` renew, through the refresh token.
#[tokio::test]
async fn an_invalidated_token_is_renewed_through_the_refresh_token() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(password_grant(dot).with_refresh(), &clock);
    let first = manager.token().await.unwrap();
    manager.invalidate(&first).await;
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first));
    assert_ne!(refresh_secret(&second), refresh_secret(&first));
    assert_eq!(dot.accepted(&second).await["issued_by_refresh_token"], true);
    assert_eq!(manager.stats().token_requests, 2);
}

/// The refresh token was revoked server-side: the refresh request gets `invalid_grant`,
/// and grantkit logs in again with the password, the caller seeing only a new token.
#[tokio::test]
async fn a_revoked_refresh_token_falls_back_to_the_password() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(password_grant(dot).with_refresh(), &clock);
    let first = manager.token().await.unwrap();
    dot.revoke(PW_ID, PW_SECRET, &refresh_secret(&first), "refresh_token")
        .await;

    clock.advance(LIFETIME + Duration::from_secs(1));
    let second = manager.token().await.unwrap();
    let me = dot.accepted(&second).await;
    assert_eq!(me["issued_by_refresh_token"], false, "a fresh login");
    assert_eq!(me["user"], USERNAME);
    let stats = manager.stats();
    assert_eq!(
        stats.token_requests, 3,
        "login, refused refresh, login: {stats:?}"
    );
    assert_eq!(stats.renewal_failures, 0, "the caller saw no failure");
}

/// The legacy seed's wire format (JSON password grant, credentials in the body) against
/// DOT's JSON backend, renewal included (a JSON refresh request).
#[tokio::test]
async fn password_grant_and_refresh_with_json_bodies() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        PasswordGrant::new(
            dot.json_token_url(),
            ClientOptions::json(PW_ID, PW_SECRET),
            USERNAME,
            PASSWORD,
        )
        .with_refresh(),
        &clock,
    );
    let first = manager.token().await.unwrap();
    assert_dot_token(&first, "read write");
    assert_eq!(dot.accepted(&first).await["issued_by_refresh_token"], false);

    clock.advance(LIFETIME + Duration::from_secs(1));
    let second = manager.token().await.unwrap();
    assert_ne!(refresh_secret(&second), refresh_secret(&first));
    assert_eq!(dot.accepted(&second).await["issued_by_refresh_token"], true);
}

/// The standalone refresh-token grant redeems a refresh token obtained elsewhere; reusing
/// a refresh token that was already rotated away is `invalid_grant`.
#[tokio::test]
async fn refresh_token_grant_redeems_and_rotation_is_enforced() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let login = manager(password_grant(dot), &clock).token().await.unwrap();
    let original = refresh_secret(&login);

    let grant = RefreshTokenGrant::new(dot.token_url(), ClientOptions::new(PW_ID))
        .client_secret(PW_SECRET)
        .refresh_token(original.clone());
    let manager_a = manager(grant, &clock);
    let renewed = manager_a.token().await.unwrap();
    assert_ne!(refresh_secret(&renewed), original, "rotated");
    let me = dot.accepted(&renewed).await;
    assert_eq!(me["issued_by_refresh_token"], true);
    assert_eq!(me["user"], USERNAME);

    // The rotated-away token again, with body authentication this time.
    let stale = manager(
        RefreshTokenGrant::new(dot.token_url(), ClientOptions::new(PW_ID))
            .client_secret(PW_SECRET)
            .client_auth(ClientAuth::Body)
            .refresh_token(original),
        &clock,
    );
    let error = stale.token().await.unwrap_err();
    assert_oauth_error(&error, 400, "invalid_grant", None, &stale);
}

// ---------------------------------------------------------------------------------------
// JWT bearer (RFC 7523) and the middleware
// ---------------------------------------------------------------------------------------

/// DOT has no RFC 7523 JWT-bearer grant: the assertion is refused as
/// `unsupported_grant_type`, which grantkit reports as the server's OAuth error.
#[tokio::test]
async fn jwt_bearer_is_not_supported_by_the_server() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let manager = manager(
        JwtBearer::hs256(dot.token_url(), "key-id", "svc@example.com", "hs256-secret"),
        &clock,
    );
    let error = manager.token().await.unwrap_err();
    assert_oauth_error(&error, 400, "unsupported_grant_type", None, &manager);
}

/// A real API (the server's protected resource) rejects a token revoked server-side
/// with 401: the middleware invalidates it, renews and retries once, transparently.
#[tokio::test]
async fn middleware_recovers_from_a_token_revoked_by_the_server() {
    let dot = dot();
    let manager = TokenManager::builder()
        .grant(ClientCredentials::form(dot.token_url(), CC_ID, CC_SECRET))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let host = dot.base.trim_start_matches("http://").to_owned();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(manager.clone(), [host]))
        .build();

    let response = client.get(dot.api_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first = manager.cached().unwrap();
    dot.revoke(
        CC_ID,
        CC_SECRET,
        first.access_token().secret(),
        "access_token",
    )
    .await;
    assert_eq!(dot.me(&first).await.0, 401, "revoked");

    let response = client.get(dot.api_url()).send().await.unwrap();
    assert_eq!(response.status(), 200, "retried with a new token");
    let second = manager.cached().unwrap();
    assert!(!second.same_access_token(&first));
    assert_eq!(manager.stats().token_requests, 2);
}
