//! Secret hygiene, end to end: a full run of every grant, on its success and failure
//! paths, with every log line (tracing at TRACE, and the `log` records of reqwest and
//! redis) captured, every `Debug`/`Display`/`{:#?}` of the objects a user handles, and
//! every error message, and the name and labels of every metric recorded (feature
//! `metrics`) — none may contain a client secret, password, signing key,
//! assertion, access token, refresh token, encryption key or Redis password. Plus the
//! transport rules: `0600` token files, no plain `http://` off loopback, no redirect
//! followed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use grantkit::config::Config;
use grantkit::middleware::AuthMiddleware;
use grantkit::transport::ReqwestClientExt as _;
use grantkit::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, Error, ErrorKind, JwtBearer,
    PasswordGrant, RefreshTokenGrant, Token, TokenManager, TokenManagerBuilder, WithRefresh,
    grant::{Grant as _, GrantContext, async_trait},
    policy::RetryPolicy,
    presets,
    store::{EncryptionKey, FileStore, MemoryStore, RedisStore},
    time::ManualClock,
    transport::{HttpClient, HttpRequest, HttpResponse},
};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::server::{Fault, JWT_BEARER, TestServer};

#[path = "secrets/discovery.rs"]
mod discovery;
#[path = "secrets/dpop.rs"]
mod dpop;
#[path = "secrets/exchange.rs"]
mod exchange;
#[path = "secrets/redis.rs"]
mod redis;

// Distinctive values: any of them (or an encoding of them) in an output is a leak.
const CLIENT_ID: &str = "hygiene-client";
const CLIENT_SECRET: &str = "cs-Zq7vK2mW9xLp4Rt8";
const WRONG_SECRET: &str = "cs-WRONG-Jd8fL3kP6sQ1";
const USERNAME: &str = "hygiene-user";
const PASSWORD: &str = "pw-Hn3sB8dQ5yTc1Vf6";
const WRONG_PASSWORD: &str = "pw-WRONG-Ev2cN7gA4uX";
const KEY_ID: &str = "hygiene-kid";
const ISSUER: &str = "hygiene@svc.example";
const JWT_SECRET: &str = "jwt-Kx4pM7nR2wZs9Gb3";
const WRONG_JWT_SECRET: &str = "jwt-WRONG-Tq6hY1mB8zR";
const REDIS_PASSWORD: &str = "redis-Pw5Jc9Lr2Xn7Qe";
const REFRESH_TOKEN: &str = "rt-given-Fk3Wd8Hs1Mv6";
/// Assertions made elsewhere (a projected service-account token), read from a file or a
/// function.
const EXTERNAL_ASSERTION: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJleHQifQ.ext-Sg7Lw2Qm5Xc9";
const EXTERNAL_ASSERTION_FN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmbiJ9.fn-Rb4Kt8Vn1Jd6";

// ---------------------------------------------------------------------------------------
// Capturing every log line of this process.

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Forwards `log` records (reqwest, redis) into the same buffer.
struct LogBridge;

impl log::Log for LogBridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        // mockito is the test's token endpoint, not grantkit: it logs the requests it
        // receives (secrets included), as a server would.
        if record.target().starts_with("mockito") {
            return;
        }
        let line = format!(
            "log {} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        LOGS.lock().unwrap().extend_from_slice(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Every tracing event and span (with its fields, on open and close) at TRACE, from every
/// thread, and every `log` record, into [`LOGS`]. Global, so that renewal tasks on other
/// threads are captured too; tests of this binary share it, and each checks all of it.
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        static BRIDGE: LogBridge = LogBridge;
        log::set_logger(&BRIDGE).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        METRICS.get_or_init(|| recorder.snapshotter());
        metrics::set_global_recorder(recorder).unwrap();
    });
}

/// Every metric recorded by this process (a global recorder, installed with the log
/// capture), read for secrets like the logs.
static METRICS: OnceLock<metrics_util::debugging::Snapshotter> = OnceLock::new();

/// Every metric's name and labels so far, one `name{label=value,…}` per line.
fn metric_keys() -> String {
    let Some(snapshotter) = METRICS.get() else {
        return String::new();
    };
    let mut keys = String::new();
    for (key, _, _, _) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<_> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        keys.push_str(&format!("{}{{{}}}\n", key.name(), labels.join(",")));
    }
    keys
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------------------
// What must not leak, and what was shown.

#[derive(Default)]
struct Audit {
    secrets: Vec<(String, String)>,
    shown: Vec<(String, String)>,
}

impl Audit {
    fn new() -> Self {
        let mut audit = Audit::default();
        for (name, value) in [
            ("client secret", CLIENT_SECRET),
            ("wrong client secret", WRONG_SECRET),
            ("password", PASSWORD),
            ("wrong password", WRONG_PASSWORD),
            ("signing key", JWT_SECRET),
            ("wrong signing key", WRONG_JWT_SECRET),
            ("redis password", REDIS_PASSWORD),
            ("configured refresh token", REFRESH_TOKEN),
            ("external assertion", EXTERNAL_ASSERTION),
            ("external assertion from a function", EXTERNAL_ASSERTION_FN),
            ("password in a request body", "password=pw-Hn3sB8dQ5yTc1Vf6"),
        ] {
            audit.secret(name, value);
        }
        // The Basic header carries base64("id:secret").
        for secret in [CLIENT_SECRET, WRONG_SECRET] {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
            audit.secret("Basic credentials", &basic);
        }
        audit
    }

    fn secret(&mut self, name: &str, value: &str) {
        assert!(value.len() >= 8, "{name} too short to search for");
        self.secrets.push((name.to_owned(), value.to_owned()));
    }

    /// The access and refresh tokens of `token` become secrets; its outputs are shown.
    fn token(&mut self, label: &str, token: &Token) {
        self.secret("access token", token.access_token().secret());
        if let Some(refresh) = token.refresh_token() {
            self.secret("refresh token", refresh.secret());
        }
        self.show(label, format!("{token:?}"));
        self.show(label, format!("{token:#?}"));
    }

    fn error(&mut self, label: &str, error: &Error) {
        self.show(label, error.to_string());
        self.show(label, error.report().to_string());
        self.show(label, format!("{error:?}"));
        self.show(label, format!("{error:#?}"));
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            self.show(label, format!("{s} / {s:?}"));
            source = s.source();
        }
    }

    fn debug(&mut self, label: &str, value: &dyn std::fmt::Debug) {
        self.show(label, format!("{value:?}"));
        self.show(label, format!("{value:#?}"));
    }

    fn show(&mut self, label: &str, text: String) {
        self.shown.push((label.to_owned(), text));
    }

    /// Every output, every log line so far: no secret in any of them.
    fn check(&self) {
        let logs = logs();
        for (name, secret) in &self.secrets {
            for (label, text) in &self.shown {
                assert!(
                    !text.contains(secret.as_str()),
                    "the {name} is in the output of {label}: {text}"
                );
            }
            if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
                panic!("the {name} is in the logs: {line}");
            }
            if let Some(line) = metric_keys().lines().find(|l| l.contains(secret.as_str())) {
                panic!("the {name} is in a metric's labels: {line}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A run of every grant.

async fn server(clock: &ManualClock) -> TestServer {
    let server = server_with_clock(clock).await;
    server.configure(|c| {
        c.clients
            .insert(CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned());
        c.users.insert(USERNAME.to_owned(), PASSWORD.to_owned());
        c.service_accounts.insert(
            KEY_ID.to_owned(),
            (ISSUER.to_owned(), JWT_SECRET.to_owned()),
        );
        c.refresh_tokens_for_client_credentials = true;
    });
    server
}

fn builder(
    grant: impl grantkit::grant::Grant + 'static,
    clock: &ManualClock,
) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(grant)
        .clock(clock.clone())
        .retry(
            RetryPolicy::default()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .attempt_timeout(Duration::from_millis(300))
        // Each failure path is followed at once by a success: no cool-down in between.
        .failure_cooldown(Duration::ZERO)
}

/// Success, then the failure paths a grant can meet: an HTML 500 (retried, then an
/// error), `invalid_grant`, a hung endpoint (timeouts). Every output goes to `audit`.
///
/// `refreshes`: the grant renews with a refresh token first, falling back to its own
/// request on `invalid_grant`, so that refusal must be answered twice.
async fn exercise(
    audit: &mut Audit,
    label: &str,
    server: &TestServer,
    manager: &TokenManager,
    refreshes: bool,
) {
    audit.debug(label, manager);
    let token = manager
        .token()
        .await
        .unwrap_or_else(|e| panic!("{label}: {}", e.report()));
    audit.token(label, &token);
    audit.debug(label, manager);
    audit.debug(label, &manager.stats());

    let failures: [(&str, Vec<Fault>, ErrorKind); 3] = [
        (
            "HTML 500",
            vec![Fault::Html(500), Fault::Html(500)],
            ErrorKind::Status,
        ),
        (
            "invalid_grant",
            vec![invalid_grant(); if refreshes { 2 } else { 1 }],
            ErrorKind::OAuth,
        ),
        (
            "timeout",
            vec![Fault::Hang, Fault::Hang],
            ErrorKind::Timeout,
        ),
    ];
    let mut current = token;
    for (what, faults, kind) in failures {
        manager.invalidate(&current).await;
        for fault in faults {
            server.push_fault(fault);
        }
        let error = tokio::time::timeout(Duration::from_secs(10), manager.token())
            .await
            .expect("hung")
            .expect_err(what);
        assert_eq!(error.kind(), kind, "{label} {what}: {}", error.report());
        audit.error(&format!("{label}: {what}"), &error);
        current = manager.token().await.unwrap();
        audit.token(label, &current);
    }
    audit.debug(label, manager);
}

fn invalid_grant() -> Fault {
    Fault::Body(
        400,
        "application/json",
        r#"{"error":"invalid_grant","error_description":"revoked"}"#.into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_of_every_grant_leaks_no_secret() {
    capture_logs();
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock).await;
    let url = server.token_url();
    let mut audit = Audit::new();

    // Client credentials: form + Basic, form + body, JSON + body, with a refresh token.
    let grants: Vec<(&str, Arc<dyn grantkit::grant::Grant>)> = vec![
        (
            "cc with refresh",
            Arc::new(ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET).with_refresh()),
        ),
        (
            "cc form basic",
            Arc::new(ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET)),
        ),
        (
            "cc form body",
            Arc::new(
                ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET)
                    .client_auth(ClientAuth::Body),
            ),
        ),
        (
            "cc json body",
            Arc::new(ClientCredentials::json(&url, CLIENT_ID, CLIENT_SECRET)),
        ),
    ];
    for (label, grant) in grants {
        audit.debug(label, &grant);
        audit.debug(label, &grant.identity());
        audit.show(label, grant.identity().cache_key());
        let refreshes = label == "cc with refresh";
        let b = builder(grant, &clock);
        audit.debug(label, &b);
        let manager = b.build().unwrap();
        exercise(&mut audit, label, &server, &manager, refreshes).await;
    }

    // A wrong client secret: invalid_client, in both places a secret can travel.
    for (label, grant) in [
        (
            "wrong secret basic",
            ClientCredentials::form(&url, CLIENT_ID, WRONG_SECRET),
        ),
        (
            "wrong secret json",
            ClientCredentials::json(&url, CLIENT_ID, WRONG_SECRET),
        ),
    ] {
        audit.debug(label, &grant);
        let error = builder(grant, &clock)
            .build()
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert!(error.is_invalid_client(), "{}", error.report());
        audit.error(label, &error);
    }

    // Password, form and JSON; its refresh token renews the second token.
    for (label, grant) in [
        (
            "password form",
            PasswordGrant::new(
                &url,
                ClientOptions::form(CLIENT_ID, CLIENT_SECRET),
                USERNAME,
                PASSWORD,
            )
            .with_refresh(),
        ),
        (
            "password json",
            PasswordGrant::new(
                &url,
                ClientOptions::json(CLIENT_ID, CLIENT_SECRET),
                USERNAME,
                PASSWORD,
            )
            .with_refresh(),
        ),
    ] {
        audit.debug(label, &grant);
        let manager = builder(grant, &clock).build().unwrap();
        exercise(&mut audit, label, &server, &manager, true).await;
    }
    assert!(
        server.requests_for("refresh_token") >= 2,
        "refresh tokens were used"
    );
    let wrong = PasswordGrant::new(
        &url,
        ClientOptions::json(CLIENT_ID, CLIENT_SECRET),
        USERNAME,
        WRONG_PASSWORD,
    );
    audit.debug("wrong password", &wrong);
    let error = builder(wrong, &clock)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(error.is_invalid_grant(), "{}", error.report());
    audit.error("wrong password", &error);

    // JWT bearer: good key, then a wrong one; and wrapped with a refresh grant.
    let jwt = JwtBearer::hs256(&url, KEY_ID, ISSUER, JWT_SECRET);
    audit.debug("jwt", &jwt);
    let manager = builder(jwt.clone(), &clock).build().unwrap();
    exercise(&mut audit, "jwt", &server, &manager, false).await;
    let wrong = JwtBearer::hs256(&url, KEY_ID, ISSUER, WRONG_JWT_SECRET);
    audit.debug("jwt wrong key", &wrong);
    let error = builder(wrong, &clock)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(error.is_invalid_grant(), "{}", error.report());
    audit.error("jwt wrong key", &error);
    let wrapped = WithRefresh::new(
        jwt.clone(),
        RefreshTokenGrant::new(&url, ClientOptions::new(CLIENT_ID)).client_secret(CLIENT_SECRET),
    );
    audit.debug("jwt with refresh", &wrapped);
    let assertion = jwt.assertion(grantkit::time::Clock::now(&clock)).unwrap();
    audit.secret("assertion made locally", assertion.secret());
    audit.debug("assertion", &assertion);

    // The refresh-token grant on its own: a refresh token from a password login, then the
    // same one again after rotation (invalid_grant).
    let login = builder(
        PasswordGrant::new(
            &url,
            ClientOptions::form(CLIENT_ID, CLIENT_SECRET),
            USERNAME,
            PASSWORD,
        ),
        &clock,
    )
    .build()
    .unwrap()
    .token()
    .await
    .unwrap();
    audit.token("login", &login);
    let refresh = login.refresh_token().unwrap().secret().to_owned();
    let grant = RefreshTokenGrant::new(&url, ClientOptions::new(CLIENT_ID))
        .client_secret(CLIENT_SECRET)
        .refresh_token(refresh.as_str());
    audit.debug("refresh grant", &grant);
    audit.debug("refresh grant", &grant.identity());
    let manager = builder(grant.clone(), &clock).build().unwrap();
    let renewed = manager.token().await.unwrap();
    audit.token("refresh grant", &renewed);
    let error = builder(grant, &clock)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        error.is_invalid_grant(),
        "a rotated refresh token: {}",
        error.report()
    );
    audit.error("refresh grant reused", &error);
    let configured = RefreshTokenGrant::new(&url, ClientOptions::new(CLIENT_ID))
        .client_secret(CLIENT_SECRET)
        .refresh_token(REFRESH_TOKEN);
    let error = builder(configured, &clock)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    audit.error("unknown refresh token", &error);

    // Client assertions: the server knows neither method and refuses both, which is all
    // this needs; the private key and every client assertion sent are secrets.
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/grants/tests/keys/test-only-rsa-pkcs8.pem"
    ))
    .unwrap();
    for line in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
    {
        audit.secret("private key", line);
    }
    let signing_key = grantkit::grant::JwtSigningKey::from_pem("RS256", pem.clone()).unwrap();
    audit.debug("private key", &signing_key);
    // The same key as a JWK: its private members are secrets; a broken JWK's error shows
    // none of them.
    let jwk_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/grants/tests/keys/test-only-rsa.jwk.json"
    ))
    .unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&jwk_text).unwrap();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        audit.secret("JWK private member", jwk[member].as_str().unwrap());
    }
    let jwk_key = grantkit::grant::JwtSigningKey::from_jwk(None, jwk_text.clone()).unwrap();
    audit.debug("JWK private key", &jwk_key);
    let broken = jwk_text.replace("\"qi\"", "\"qx\"");
    match grantkit::grant::JwtSigningKey::from_jwk(None, broken) {
        Ok(_) => panic!("a JWK without qi was read"),
        Err(error) => audit.error("broken JWK", &error),
    }
    let certificate = grantkit::grant::Certificate::from_pem_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/grants/tests/keys/test-only-rsa-cert.pem"
    ))
    .unwrap();
    for (label, grant) in [
        (
            "cc client_secret_jwt",
            ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET)
                .client_auth(ClientAuth::ClientSecretJwt),
        ),
        (
            "cc private_key_jwt",
            ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID)
                    .client_auth(ClientAuth::PrivateKeyJwt)
                    .private_key(signing_key)
                    .key_id(KEY_ID),
            ),
        ),
        (
            "cc private_key_jwt with a JWK, a thumbprint kid and a certificate",
            ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID)
                    .client_auth(ClientAuth::PrivateKeyJwt)
                    .private_key(jwk_key)
                    .key_id_thumbprint()
                    .certificate(certificate),
            ),
        ),
    ] {
        audit.debug(label, &grant);
        match builder(grant, &clock).build().unwrap().token().await {
            Ok(token) => audit.token(label, &token),
            Err(error) => audit.error(label, &error),
        }
    }
    let client_assertions: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| {
            r.params
                .get("client_assertion")
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(client_assertions.len(), 3, "{client_assertions:?}");
    for a in &client_assertions {
        audit.secret("client assertion sent", a);
    }

    // The JWT-bearer grant signed with a private key, and the Google service-account preset
    // (its key file holds the same test key): their assertions are captured below.
    let pem_bearer = grantkit::JwtBearer::new(
        &url,
        "svc@example.com",
        grantkit::grant::JwtSigningKey::from_pem("RS256", pem.clone()).unwrap(),
    );
    audit.debug("jwt bearer with a private key", &pem_bearer);
    match builder(pem_bearer, &clock).build().unwrap().token().await {
        Ok(token) => audit.token("jwt bearer with a private key", &token),
        Err(error) => audit.error("jwt bearer with a private key", &error),
    }
    let google = grantkit::presets::GoogleServiceAccount::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/grants/tests/keys/test-only-google-service-account.json"
    ))
    .unwrap()
    .scope("https://www.googleapis.com/auth/cloud-platform")
    .token_url(&url);
    audit.debug("google service account", &google);
    match builder(google.grant(), &clock)
        .build()
        .unwrap()
        .token()
        .await
    {
        Ok(token) => audit.token("google service account", &token),
        Err(error) => audit.error("google service account", &error),
    }

    // Every assertion the server received is a secret too.
    let assertions: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some(JWT_BEARER))
        .filter_map(|r| {
            r.params
                .get("assertion")
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(assertions.len() >= 5, "{} assertions", assertions.len());
    // The two signed with the private key (the JWT-bearer grant and the Google preset)
    // are among them.
    let rs256 = assertions
        .iter()
        .filter(|a| {
            let header = a.split('.').next().unwrap_or_default();
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .is_ok_and(|h| String::from_utf8_lossy(&h).contains("\"RS256\""))
        })
        .count();
    assert_eq!(rs256, 2, "RS256 assertions among {}", assertions.len());
    for a in &assertions {
        audit.secret("assertion sent", a);
    }

    // The identity-provider presets, aimed at the test server: a secret in the body
    // (Auth0, Entra), in Basic (Keycloak), a client_secret_jwt (Keycloak) and
    // private_key_jwt (Okta, Auth0) assertion, a Salesforce assertion; the server refuses
    // what it does not speak, and those errors are audited too.
    let before = server.requests().len();
    let idp_key = || grantkit::grant::JwtSigningKey::from_pem("RS256", pem.clone()).unwrap();
    let idp: Vec<(
        &str,
        Box<dyn std::fmt::Debug>,
        grantkit::Result<TokenManagerBuilder>,
    )> = {
        use grantkit::presets::{Auth0, Keycloak, MicrosoftEntra, Okta, SalesforceJwt};
        let auth0 = Auth0::new("tenant.example", CLIENT_ID, "https://api.example")
            .client_secret(CLIENT_SECRET)
            .token_url(&url);
        let auth0_key = Auth0::new("tenant.example", CLIENT_ID, "https://api.example")
            .private_key(idp_key())
            .token_url(&url);
        let okta = Okta::new("org.example", CLIENT_ID, "api.read")
            .private_key(idp_key())
            .token_url(&url);
        let keycloak = Keycloak::new("https://sso.example", "acme", CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .token_url(&url);
        let keycloak_jwt = keycloak.clone().client_auth(ClientAuth::ClientSecretJwt);
        let entra = MicrosoftEntra::new("tenant", CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .resource("https://graph.microsoft.com")
            .token_url(&url);
        let salesforce = SalesforceJwt::new("consumer-key", USERNAME, idp_key()).token_url(&url);
        vec![
            ("auth0", Box::new(auth0.clone()), auth0.builder()),
            (
                "auth0 key",
                Box::new(auth0_key.clone()),
                auth0_key.builder(),
            ),
            ("okta", Box::new(okta.clone()), okta.builder()),
            ("keycloak", Box::new(keycloak.clone()), keycloak.builder()),
            (
                "keycloak jwt",
                Box::new(keycloak_jwt.clone()),
                keycloak_jwt.builder(),
            ),
            ("entra", Box::new(entra.clone()), entra.builder()),
            (
                "salesforce",
                Box::new(salesforce.clone()),
                salesforce.builder(),
            ),
        ]
    };
    for (label, preset, built) in idp {
        audit.debug(label, &preset);
        let manager = built.unwrap().clock(clock.clone()).build().unwrap();
        audit.debug(label, &manager);
        match manager.token().await {
            Ok(token) => audit.token(label, &token),
            Err(error) => audit.error(label, &error),
        }
    }
    let idp_requests = server.requests().split_off(before);
    assert_eq!(idp_requests.len(), 7);
    let sent: Vec<String> = idp_requests
        .iter()
        .flat_map(|r| ["client_assertion", "assertion"].map(|k| r.params.get(k).cloned()))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(sent.len(), 4, "assertions sent by the presets");
    for a in &sent {
        audit.secret("preset assertion sent", a);
    }
    // Mutual TLS (tls_client_auth, self_signed_tls_client_auth): the client certificates'
    // private keys are secrets, in code and in a profile (`private_key_file`, inline
    // `private_key`); success and failure paths against the HTTPS test server.
    mutual_tls(&mut audit, &clock).await;

    secrets_read_at_each_use(&mut audit, &server, &clock).await;

    // Presets, configuration profiles, stores and the middleware.
    let tso = presets::twenty_four_seven_office(CLIENT_ID, CLIENT_SECRET, "42");
    audit.debug("24SevenOffice preset", &tso);
    let tso = tso.build().unwrap();
    audit.debug("24SevenOffice manager", &tso);
    let dt = presets::disruptive_technologies(KEY_ID, ISSUER, JWT_SECRET);
    audit.debug("DT preset", &dt);
    let toml = format!(
        r#"
default_profile = "cc"
[profiles.cc]
grant = "client_credentials"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
store = {{ kind = "redis", url = "redis://:{REDIS_PASSWORD}@127.0.0.1:6379", prefix = "x:" }}
[profiles.pw]
grant = "password"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
username = "{USERNAME}"
password = "{PASSWORD}"
[profiles.jwt]
grant = "jwt_bearer"
token_url = "{url}"
jwt = {{ key_id = "{KEY_ID}", issuer = "{ISSUER}", secret = "{JWT_SECRET}" }}
"#
    );
    let config = Config::from_toml(&toml).unwrap();
    audit.debug("config", &config);
    for name in ["cc", "pw", "jwt"] {
        let (_, profile) = config.profile(Some(name)).unwrap();
        audit.debug(name, profile);
        audit.debug(name, &profile.summary());
        let b = config.builder(Some(name)).unwrap();
        audit.debug(name, &b);
        let manager = b.build().unwrap();
        audit.debug(name, &manager);
        audit.debug(name, manager.store());
    }
    // Configuration mistakes name the problem, not the secrets around it.
    let mistakes = [
        toml.replace(
            "grant = \"password\"",
            "grant = \"password\"\nclient_auth = \"sideways\"",
        ),
        toml.replace("default_profile = \"cc\"", "default_profile = 42"),
        toml.replace("[profiles.jwt]", "[profiles.jwt]\nbody = \"yaml\""),
        toml.replace(&format!("username = \"{USERNAME}\"\n"), ""),
    ];
    // The same text as the CLI's `-c -` reads it, and its mistakes, name no secret.
    let from_stdin = Config::load_text(&toml, "standard input").unwrap();
    audit.debug("config from text", &from_stdin);
    for (i, text) in mistakes.iter().enumerate() {
        if let Err(e) = Config::load_text(text, "standard input") {
            audit.error(&format!("config text mistake {i}"), &e);
        }
    }
    for (i, text) in mistakes.iter().enumerate() {
        let built = Config::from_toml(text).and_then(|c| {
            c.profile_names()
                .map(|name| c.builder(Some(name)).and_then(TokenManagerBuilder::build))
                .collect::<grantkit::Result<Vec<_>>>()
        });
        match built {
            Ok(_) => panic!("mistake {i} was accepted"),
            Err(e) => audit.error(&format!("config mistake {i}"), &e),
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let (key, key_b64) = EncryptionKey::generate();
    audit.secret("encryption key", &key_b64);
    audit.debug("key", &key);
    let file = FileStore::new(dir.path()).encryption(key);
    audit.debug("file store", &file);
    let redis = RedisStore::from_url(&format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/")).unwrap();
    audit.debug("redis store", &redis);
    let memory = MemoryStore::new();
    let manager = builder(
        ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET),
        &clock,
    )
    .store(memory.clone())
    .build()
    .unwrap();
    let token = manager.token().await.unwrap();
    audit.token("memory", &token);
    audit.debug("memory store", &memory);
    // An unreachable Redis: its error must not show the password either.
    let redis_manager = builder(
        ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET),
        &clock,
    )
    .store(redis.timeout(Duration::from_millis(200)))
    .build()
    .unwrap();
    audit.token("redis down", &redis_manager.token().await.unwrap());
    assert!(redis_manager.stats().store_errors > 0);
    let file_manager = builder(
        ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET),
        &clock,
    )
    .store(file)
    .build()
    .unwrap();
    let token = file_manager.token().await.unwrap();
    audit.token("file", &token);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        audit.show(&format!("encrypted file {}", path.display()), text);
    }
    let middleware = AuthMiddleware::new(manager.clone(), ["api.example.com"]);
    audit.debug("middleware", &middleware);
    tower_layer(&mut audit, &manager).await;
    dpop::run(&mut audit, &clock).await;
    discovery::run(&mut audit, &server, &clock).await;
    redis::run(&mut audit, &url, &clock).await;

    audit.check();
    // The capture worked: the run's events are there.
    let logs = logs();
    for expected in [
        "new token obtained",
        "token renewal failed",
        "retrying",
        "grantkit.renew",
        "token store failed",
        // A span per HTTP attempt, with the fields recorded when it ended; a span per
        // caller that waited for a renewal.
        "grantkit.http{host=",
        "attempt=2 status=",
        "duration_ms=",
        "error=\"Cancelled\"",
        "grantkit.token.wait{grant=",
    ] {
        assert!(
            logs.contains(expected),
            "no {expected:?} in the captured logs: {}",
            logs.lines()
                .filter(|l| l.contains("grantkit.http"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // And the metrics, whose labels were scanned too.
    let metrics = metric_keys();
    for expected in [
        "grantkit.token.requests{grant=client_credentials,outcome=refused}",
        "grantkit.token.requests{grant=password,outcome=timeout}",
        "grantkit.store.errors{",
    ] {
        assert!(metrics.contains(expected), "no {expected:?} in {metrics}");
    }
}

/// The tower layer's part of [`a_full_run_of_every_grant_leaks_no_secret`]: a request whose
/// token is rejected (its retry logs), a refused one (its error), and the `Debug` of the
/// layer, the service and a replayed body (a body with a password in it).
async fn tower_layer(audit: &mut Audit, manager: &TokenManager) {
    use grantkit::tower::{AuthLayer, ReplayBody};
    use tower::{Layer as _, ServiceExt as _};

    let answers = Arc::new(Mutex::new(vec![200u16, 401]));
    let seen_body = Arc::new(Mutex::new(String::new()));
    let body_debug = Arc::new(Mutex::new(Vec::new()));
    let (answers_in, seen_in, debug_in) = (
        Arc::clone(&answers),
        Arc::clone(&seen_body),
        Arc::clone(&body_debug),
    );
    let inner = tower::service_fn(move |request: http::Request<ReplayBody<String>>| {
        let status = answers_in.lock().unwrap().pop().unwrap_or(200);
        let seen = Arc::clone(&seen_in);
        let body = request.body();
        debug_in
            .lock()
            .unwrap()
            .extend([format!("{body:?}"), format!("{body:#?}")]);
        async move {
            use http_body_util::BodyExt as _;
            let body = request.into_body().collect().await.unwrap().to_bytes();
            *seen.lock().unwrap() = String::from_utf8_lossy(&body).into_owned();
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(status)
                    .body(String::new())
                    .unwrap(),
            )
        }
    });
    let layer = AuthLayer::new(manager.clone(), ["api.example.com"]).replay(1024);
    audit.debug("tower layer", &layer);
    let service = layer.layer(inner);
    audit.debug("tower service", &service);
    let form = format!("username={USERNAME}&password={PASSWORD}");
    let request = http::Request::post("https://api.example.com/login")
        .body(form.clone())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "retried after the 401");
    assert_eq!(*seen_body.lock().unwrap(), form);
    audit.token("tower layer's renewed token", &manager.cached().unwrap());
    let debugs = body_debug.lock().unwrap().clone();
    assert_eq!(debugs.len(), 4, "both attempts' bodies");
    for text in debugs {
        audit.show("replay body", text);
    }
    let refused = http::Request::post("http://api.example.com/login")
        .body(String::new())
        .unwrap();
    let error = service.oneshot(refused).await.unwrap_err();
    audit.show("tower refusal", error.to_string());
    audit.show("tower refusal", format!("{error:?}"));
}

/// The mutual-TLS part of [`a_full_run_of_every_grant_leaks_no_secret`].
async fn mutual_tls(audit: &mut Audit, clock: &ManualClock) {
    use grantkit::transport::{ClientCertificate, RootCertificates};
    use grantkit_testkit::certs;
    let tls_server = TestServer::start_tls(
        grantkit_testkit::server::ServerConfig::default(),
        Arc::new(clock.clone()),
    )
    .await;
    let tls_url = tls_server.token_url();
    for key in [
        certs::CLIENT_KEY,
        certs::SELF_SIGNED_KEY,
        certs::OTHER_CLIENT_KEY,
    ] {
        let pem = std::fs::read_to_string(key).unwrap();
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            audit.secret("TLS client private key", line);
        }
    }
    let roots = RootCertificates::from_pem_file(certs::CA).unwrap();
    for (label, id, auth, cert, key) in [
        (
            "cc tls_client_auth",
            TestServer::TLS_CLIENT_ID,
            ClientAuth::TlsClientAuth,
            certs::CLIENT,
            certs::CLIENT_KEY,
        ),
        (
            "cc self_signed_tls_client_auth",
            TestServer::SELF_SIGNED_CLIENT_ID,
            ClientAuth::SelfSignedTlsClientAuth,
            certs::SELF_SIGNED,
            certs::SELF_SIGNED_KEY,
        ),
    ] {
        let certificate = ClientCertificate::from_pem_files(cert, key).unwrap();
        audit.debug(label, &certificate);
        let grant = ClientCredentials::new(&tls_url, ClientOptions::new(id).client_auth(auth));
        let b = builder(grant, clock)
            .client_certificate(certificate)
            .root_certificates(roots.clone());
        audit.debug(label, &b);
        let manager = b.build().unwrap();
        exercise(audit, label, &tls_server, &manager, false).await;
    }
    // The wrong certificate: invalid_client.
    let wrong = builder(
        ClientCredentials::new(
            &tls_url,
            ClientOptions::new(TestServer::TLS_CLIENT_ID).client_auth(ClientAuth::TlsClientAuth),
        ),
        clock,
    )
    .client_certificate(
        ClientCertificate::from_pem_files(certs::OTHER_CLIENT, certs::OTHER_CLIENT_KEY).unwrap(),
    )
    .root_certificates(roots)
    .build()
    .unwrap();
    let error = wrong.token().await.unwrap_err();
    assert!(error.is_invalid_client(), "{}", error.report());
    audit.error("tls_client_auth, wrong certificate", &error);
    // A key that does not match its certificate.
    let mismatch =
        ClientCertificate::from_pem_files(certs::CLIENT, certs::OTHER_CLIENT_KEY).unwrap_err();
    audit.error("mismatched client key", &mismatch);

    // Profiles: the key from a file, inline, or in the certificate file.
    let inline_key = std::fs::read_to_string(certs::SELF_SIGNED_KEY).unwrap();
    let toml = format!(
        r#"
[profiles.mtls]
grant = "client_credentials"
token_url = "{tls_url}"
client_id = "{tls}"
client_auth = "tls_client_auth"
certificate_file = "{cert}"
private_key_file = "{key}"
ca_file = "{ca}"
[profiles.self-signed]
grant = "client_credentials"
token_url = "{tls_url}"
client_id = "{self_signed}"
client_auth = "self_signed_tls_client_auth"
certificate_file = "{self_cert}"
private_key = """{inline_key}"""
ca_file = "{ca}"
[profiles.combined]
grant = "client_credentials"
token_url = "{tls_url}"
client_id = "{tls}"
client_auth = "tls_client_auth"
certificate_file = "{combined}"
ca_file = "{ca}"
"#,
        tls = TestServer::TLS_CLIENT_ID,
        self_signed = TestServer::SELF_SIGNED_CLIENT_ID,
        cert = certs::CLIENT,
        key = certs::CLIENT_KEY,
        self_cert = certs::SELF_SIGNED,
        combined = certs::CLIENT_COMBINED,
        ca = certs::CA,
    );
    let config = Config::from_toml(&toml).unwrap();
    audit.debug("mTLS config", &config);
    for name in ["mtls", "self-signed", "combined"] {
        let (_, profile) = config.profile(Some(name)).unwrap();
        audit.debug(name, profile);
        audit.debug(name, &profile.summary());
        let b = config.builder(Some(name)).unwrap();
        audit.debug(name, &b);
        let manager = b.build().unwrap();
        audit.debug(name, &manager);
        match manager.token().await {
            Ok(token) => audit.token(name, &token),
            Err(error) => panic!("{name}: {}", error.report()),
        }
    }
    // Mistakes around an inline key: a key that is not the certificate's, a malformed one.
    for (i, text) in [
        toml.replace(
            &format!("certificate_file = \"{}\"", certs::SELF_SIGNED),
            &format!("certificate_file = \"{}\"", certs::CLIENT),
        ),
        toml.replace("-----END RSA PRIVATE KEY-----", ""),
    ]
    .iter()
    .enumerate()
    {
        let error = Config::from_toml(text)
            .and_then(|c| c.builder(Some("self-signed")))
            .unwrap_err();
        audit.error(&format!("mTLS config mistake {i}"), &error);
    }
}

/// Every secret read from a file or a function at each use, and the assertions made
/// elsewhere: the same full runs, then a missing file, then configuration profiles with
/// the `*_file` keys.
async fn secrets_read_at_each_use(audit: &mut Audit, server: &TestServer, clock: &ManualClock) {
    use grantkit::secret::SecretSource;

    let url = server.token_url();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{contents}\n")).unwrap();
        path
    };
    let cs = file("client-secret", CLIENT_SECRET);
    let pw = file("password", PASSWORD);
    let hs = file("jwt-secret", JWT_SECRET);
    let assertion = file("sa-token", EXTERNAL_ASSERTION);

    let grants: Vec<(&str, Arc<dyn grantkit::grant::Grant>, bool)> = vec![
        (
            "cc secret file basic",
            Arc::new(ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID).client_secret_file(&cs),
            )),
            false,
        ),
        (
            "cc secret fn json",
            Arc::new(ClientCredentials::new(
                &url,
                ClientOptions::json(CLIENT_ID, "").client_secret_fn(|| Ok(CLIENT_SECRET)),
            )),
            false,
        ),
        (
            "password file",
            Arc::new(
                PasswordGrant::new(
                    &url,
                    ClientOptions::form(CLIENT_ID, SecretSource::file(&cs)),
                    USERNAME,
                    SecretSource::file(&pw),
                )
                .with_refresh(),
            ),
            true,
        ),
        (
            "jwt secret file",
            Arc::new(JwtBearer::hs256(
                &url,
                KEY_ID,
                ISSUER,
                SecretSource::file(&hs),
            )),
            false,
        ),
    ];
    for (label, grant, refreshes) in grants {
        audit.debug(label, &grant);
        audit.debug(label, &grant.identity());
        let manager = builder(grant, clock).build().unwrap();
        exercise(audit, label, server, &manager, refreshes).await;
    }

    // Assertions made elsewhere: the test server knows none and refuses them, which is
    // all this needs; what matters is that they were sent and never shown.
    let before = server.requests().len();
    let external: Vec<(&str, Arc<dyn grantkit::grant::Grant>)> = vec![
        (
            "client assertion file",
            Arc::new(ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID).client_assertion_file(&assertion),
            )),
        ),
        (
            "client assertion fn",
            Arc::new(ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID).client_assertion_fn(|| Ok(EXTERNAL_ASSERTION_FN)),
            )),
        ),
        (
            "jwt bearer assertion file",
            Arc::new(JwtBearer::assertion_file(&url, &assertion)),
        ),
        (
            "entra federated token file",
            Arc::new(
                grantkit::presets::MicrosoftEntra::new("tenant", CLIENT_ID)
                    .credential(grantkit::presets::EntraCredential::FederatedTokenFile(
                        assertion.clone(),
                    ))
                    .resource("https://graph.microsoft.com")
                    .token_url(&url)
                    .grant()
                    .unwrap(),
            ),
        ),
    ];
    for (label, grant) in external {
        audit.debug(label, &grant);
        audit.debug(label, &grant.identity());
        let manager = builder(grant, clock).build().unwrap();
        audit.debug(label, &manager);
        let error = manager.token().await.unwrap_err();
        audit.error(label, &error);
    }
    let sent: Vec<String> = server.requests()[before..]
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent[0].ends_with(&format!("&client_assertion={EXTERNAL_ASSERTION}")));
    assert!(sent[1].ends_with(&format!("&client_assertion={EXTERNAL_ASSERTION_FN}")));
    assert!(sent[2].starts_with(&format!("assertion={EXTERNAL_ASSERTION}&")));
    assert!(sent[3].ends_with(&format!("&client_assertion={EXTERNAL_ASSERTION}")));

    // The files disappear: the errors name the paths, not what they held.
    for path in [&cs, &pw, &hs, &assertion] {
        std::fs::remove_file(path).unwrap();
    }
    for (label, grant) in [
        (
            "missing secret file",
            ClientCredentials::new(&url, ClientOptions::new(CLIENT_ID).client_secret_file(&cs)),
        ),
        (
            "missing assertion file",
            ClientCredentials::new(
                &url,
                ClientOptions::new(CLIENT_ID).client_assertion_file(&assertion),
            ),
        ),
    ] {
        let error = builder(grant, clock)
            .build()
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{}", error.report());
        audit.error(label, &error);
    }

    // Profiles with the `*_file` keys.
    let cs = file("client-secret", CLIENT_SECRET);
    let pw = file("password", PASSWORD);
    let hs = file("jwt-secret", JWT_SECRET);
    let assertion = file("sa-token", EXTERNAL_ASSERTION);
    let toml = format!(
        r#"
[profiles.cc]
grant = "client_credentials"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret_file = "{cs}"
[profiles.pw]
grant = "password"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret_file = "{cs}"
username = "{USERNAME}"
password_file = "{pw}"
[profiles.jwt]
grant = "jwt_bearer"
token_url = "{url}"
jwt = {{ key_id = "{KEY_ID}", issuer = "{ISSUER}", secret_file = "{hs}" }}
[profiles.federated]
grant = "client_credentials"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_assertion_file = "{assertion}"
[profiles.bearer]
grant = "jwt_bearer"
token_url = "{url}"
jwt = {{ assertion_file = "{assertion}" }}
"#,
        cs = cs.display(),
        pw = pw.display(),
        hs = hs.display(),
        assertion = assertion.display(),
    );
    let config = Config::from_toml(&toml).unwrap();
    audit.debug("file config", &config);
    for name in ["cc", "pw", "jwt", "federated", "bearer"] {
        let (_, profile) = config.profile(Some(name)).unwrap();
        audit.debug(name, profile);
        audit.debug(name, &profile.summary());
        let manager = config
            .builder(Some(name))
            .unwrap()
            .clock(clock.clone())
            .build()
            .unwrap();
        audit.debug(name, &manager);
        match manager.token().await {
            Ok(token) => audit.token(name, &token),
            Err(error) => audit.error(name, &error),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Transport rules.

/// Records what would have been sent; sends nothing.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl HttpClient for Recorder {
    async fn execute(&self, request: HttpRequest) -> grantkit::Result<HttpResponse> {
        self.0.lock().unwrap().push(request.uri().to_string());
        Err(Error::new(ErrorKind::Connect, "the recorder sends nothing"))
    }
}

/// Plain `http://` to a host other than loopback is refused when the manager is built,
/// and again by the grant before sending: nothing leaves.
#[tokio::test]
async fn plain_http_off_loopback_is_refused_and_nothing_is_sent() {
    let recorder = Recorder::default();
    let plain = "http://auth.example.invalid/oauth/token";
    let grants: Vec<Box<dyn grantkit::grant::Grant>> = vec![
        Box::new(ClientCredentials::form(plain, CLIENT_ID, CLIENT_SECRET)),
        Box::new(PasswordGrant::new(
            plain,
            ClientOptions::json(CLIENT_ID, CLIENT_SECRET),
            USERNAME,
            PASSWORD,
        )),
        Box::new(JwtBearer::hs256(plain, KEY_ID, ISSUER, JWT_SECRET)),
        Box::new(
            RefreshTokenGrant::new(plain, ClientOptions::new(CLIENT_ID))
                .client_secret(CLIENT_SECRET)
                .refresh_token(REFRESH_TOKEN),
        ),
    ];
    let clock = ManualClock::at_fixed_epoch();
    for grant in grants {
        let grant: Arc<dyn grantkit::grant::Grant> = Arc::from(grant);
        let error = TokenManager::builder()
            .grant_arc(Arc::clone(&grant))
            .http_client(recorder.clone())
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("danger_allow_http"), "{error}");
        // Called directly, past the builder: the grant refuses before sending.
        let cx = GrantContext::new(Arc::new(recorder.clone()), Arc::new(clock.clone()));
        let error = grant.fetch_token(&cx).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{}", error.report());
        // Any host is fine once explicitly allowed.
        assert!(
            TokenManager::builder()
                .grant_arc(grant)
                .http_client(recorder.clone())
                .danger_allow_http(true)
                .build()
                .is_ok()
        );
    }
    // Loopback is fine without the switch.
    assert!(
        TokenManager::builder()
            .grant(ClientCredentials::form(
                "http://127.0.0.1:9/oauth/token",
                CLIENT_ID,
                CLIENT_SECRET
            ))
            .http_client(recorder.clone())
            .build()
            .is_ok()
    );
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "sent: {:?}",
        recorder.0.lock().unwrap()
    );
}

/// A minimal HTTP server that answers every request with `status` and a `Location`
/// pointing at `to`, and counts the requests.
async fn redirector(status: u16, to: String) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            *counted.lock().unwrap() += 1;
            let to = to.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 {status} Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, hits)
}

/// The token endpoint answers with a redirect to another server: the default client does
/// not follow it, so the other server receives nothing (no credentials), and the caller
/// gets a typed, non-retryable error naming the status.
#[tokio::test]
async fn redirects_are_never_followed() {
    capture_logs();
    let clock = ManualClock::at_fixed_epoch();
    let target = server(&clock).await;
    let mut audit = Audit::new();

    // The test server's own 307.
    let origin = server(&clock).await;
    origin.push_fault(Fault::Redirect(target.token_url()));
    let manager = builder(
        ClientCredentials::json(origin.token_url(), CLIENT_ID, CLIENT_SECRET),
        &clock,
    )
    .build()
    .unwrap();
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Status, "{}", error.report());
    assert_eq!(error.status(), Some(307));
    assert!(!error.is_retryable());
    audit.error("307", &error);
    assert_eq!(origin.token_requests(), 1);

    // Every redirect status, from a bare server, with credentials in the body and in a
    // Basic header.
    for status in [301, 302, 303, 307, 308] {
        let (url, hits) = redirector(status, target.token_url()).await;
        for grant in [
            ClientCredentials::json(&url, CLIENT_ID, CLIENT_SECRET),
            ClientCredentials::form(&url, CLIENT_ID, CLIENT_SECRET),
        ] {
            let error = builder(grant, &clock)
                .build()
                .unwrap()
                .token()
                .await
                .unwrap_err();
            assert_eq!(error.status(), Some(status), "{}", error.report());
            assert!(!error.is_retryable());
            audit.error(&format!("{status}"), &error);
        }
        assert_eq!(
            *hits.lock().unwrap(),
            2,
            "one request per grant, not retried"
        );
    }
    assert_eq!(
        target.token_requests(),
        0,
        "the redirect target received a request"
    );
    audit.check();
}

/// A `reqwest::ClientBuilder` handed to the manager loses its redirect policy: nothing
/// reaches the redirect target. A ready-made `reqwest::Client` that follows redirects (and
/// reads the environment's proxies) is used only for `https` to non-loopback hosts: a
/// loopback token URL goes through grantkit's own direct client, which follows nothing,
/// so here too nothing reaches the target. (For remote `https`, a following client's
/// answer is refused: `ReqwestHttpClient` compares the final URL with the one sent.)
#[tokio::test]
async fn user_supplied_reqwest_clients_never_yield_a_redirected_token() {
    let clock = ManualClock::at_fixed_epoch();
    let target = server(&clock).await;
    let (url, _) = redirector(307, target.token_url()).await;
    let grant = || ClientCredentials::json(&url, CLIENT_ID, CLIENT_SECRET);

    let safe = builder(grant(), &clock)
        .reqwest_client_builder(reqwest::Client::builder())
        .build()
        .unwrap();
    assert_eq!(safe.token().await.unwrap_err().status(), Some(307));
    assert_eq!(
        target.token_requests(),
        0,
        "the builder's redirects were turned off"
    );

    let following = builder(grant(), &clock)
        .reqwest_client(reqwest::Client::new())
        .build()
        .unwrap();
    let error = following.token().await.unwrap_err();
    assert_eq!(error.status(), Some(307), "{}", error.report());
    assert_eq!(
        target.token_requests(),
        0,
        "a loopback request never went through the following client"
    );
    assert!(following.cached().is_none(), "no token was used");
}

/// The file store writes its token files `0600` in a `0700` directory, end to end through
/// a manager; with an encryption key the file holds no token.
#[cfg(unix)]
#[tokio::test]
async fn token_files_are_private_and_encrypted_files_hold_no_token() {
    use std::os::unix::fs::PermissionsExt as _;
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for encrypted in [false, true] {
        let tokens = dir.path().join(format!("tokens-{encrypted}"));
        let mut store = FileStore::new(&tokens);
        if encrypted {
            store = store.encryption(EncryptionKey::generate().0);
        }
        let manager = builder(
            ClientCredentials::form(server.token_url(), CLIENT_ID, CLIENT_SECRET),
            &clock,
        )
        .store(store.clone())
        .build()
        .unwrap();
        let token = manager.token().await.unwrap();
        let path = store.token_path(manager.cache_key());
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        assert_eq!(mode(&tokens), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.contains(token.access_token().secret()),
            !encrypted,
            "encrypted: {encrypted}"
        );
        assert!(!text.contains(CLIENT_SECRET));
    }
}

/// The device authorization grant (a user's login) end to end: the device authorization,
/// pending polls, the login's tokens kept in an encrypted file store, a renewal through the
/// refresh token, a refused refresh token (login required), a denied and an expired login,
/// and a logout. The device code, the tokens and the client secret appear in no output and
/// no TRACE log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_login_and_its_renewals_log_no_secret() {
    use grantkit::DeviceCodeGrant;
    use grantkit::grant::{DeviceAuthorization, device_prompt_fn};
    use grantkit::time::ManualSleeper;

    capture_logs();
    let mut audit = Audit::new();
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock).await;
    server.configure(|c| c.device.pending_polls = 2);
    let grant = DeviceCodeGrant::new(
        server.device_authorization_url(),
        server.token_url(),
        ClientOptions::form(CLIENT_ID, CLIENT_SECRET).scope("openid offline_access"),
    )
    .sleeper(ManualSleeper::new(clock.clone()))
    .account("me");
    audit.debug("device grant", &grant);
    let shown: Arc<Mutex<Vec<DeviceAuthorization>>> = Arc::default();
    let slot = Arc::clone(&shown);
    let prompt = device_prompt_fn(move |a: &DeviceAuthorization| {
        slot.lock().unwrap().push(a.clone());
        Ok(())
    });
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).encryption(EncryptionKey::generate().0);
    let manager = builder(grant.clone().with_refresh(), &clock)
        .store(store.clone())
        .build()
        .unwrap();

    // Login: two pending polls, then the user's tokens, kept in the store.
    let token = grant
        .login(&manager.grant_context(), &prompt)
        .await
        .unwrap();
    audit.token("device login", &token);
    assert!(token.refresh_token().is_some());
    manager.set_token(token.clone()).await.unwrap();
    let stored = std::fs::read_to_string(store.token_path(manager.cache_key())).unwrap();
    audit.show("encrypted store file", stored);

    // Renewal through the refresh token, two hours on.
    clock.advance(Duration::from_secs(7200));
    let renewed = manager.token().await.unwrap();
    audit.token("device renewal", &renewed);
    assert_eq!(server.requests_for("refresh_token"), 1);

    // A refused refresh token: the user must log in again.
    clock.advance(Duration::from_secs(7200));
    server.push_fault(invalid_grant());
    let error = manager.token().await.unwrap_err();
    assert!(error.is_login_required(), "{}", error.report());
    audit.error("device: login required", &error);

    // A denied login, and one whose code expires.
    server.configure(|c| c.device.deny = true);
    let error = grant
        .login(&manager.grant_context(), &prompt)
        .await
        .unwrap_err();
    assert!(error.is_access_denied(), "{}", error.report());
    audit.error("device: denied", &error);
    server.configure(|c| {
        c.device.deny = false;
        c.device.pending_polls = 1000;
        c.device.expires_in_secs = 20;
        c.device.interval_secs = 5;
    });
    let error = grant
        .login(&manager.grant_context(), &prompt)
        .await
        .unwrap_err();
    assert!(error.is_expired_token(), "{}", error.report());
    audit.error("device: expired", &error);

    for authorization in shown.lock().unwrap().iter() {
        audit.secret("device code", authorization.device_code().secret());
        audit.debug("device authorization", authorization);
    }
    assert_eq!(shown.lock().unwrap().len(), 3);
    manager.forget().await.unwrap();
    audit.debug("device manager", &manager);
    audit.check();
}

/// A browser login (authorization code with PKCE): the code, the PKCE verifier, the
/// client secret and the tokens appear in no log line (TRACE), no `Debug` of the login, no
/// error (a wrong `state`, an `error=` redirect, a refused code) and not in the
/// authorization URL the user is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_login_leaks_no_code_verifier_or_token() {
    use grantkit::login::AuthorizationCodeLogin;

    const CODE: &str = "code-Lq8Xv3Nd6Wt1Hs";
    capture_logs();
    let mut audit = Audit::new();
    audit.secret("authorization code", CODE);
    let mut endpoint = mockito::Server::new_async().await;
    let verifiers = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&verifiers);
    let body = move |request: &mockito::Request| {
        let body = request.utf8_lossy_body().unwrap().into_owned();
        let verifier = body
            .split('&')
            .find_map(|p| p.strip_prefix("code_verifier="));
        seen.lock().unwrap().push(verifier.unwrap().to_owned());
    };
    let refused_body = body.clone();
    let _ok = endpoint
        .mock("POST", "/token")
        .match_body(mockito::Matcher::Regex("code=code-Lq8Xv3Nd6Wt1Hs&".into()))
        .with_body_from_request(move |request| {
            body(request);
            br#"{"access_token":"at-login-Pz4Rk9Mc2Vb7","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-login-Gy6Tn1Qw8Ls3"}"#.to_vec()
        })
        .create_async()
        .await;
    let _refused = endpoint
        .mock("POST", "/token")
        .match_body(mockito::Matcher::Regex(
            "code=code-REFUSED-Jm2Wp7Kx4&".into(),
        ))
        .with_status(400)
        .with_body_from_request(move |request| {
            refused_body(request);
            br#"{"error":"invalid_grant","error_description":"code used"}"#.to_vec()
        })
        .create_async()
        .await;
    audit.secret("refused authorization code", "code-REFUSED-Jm2Wp7Kx4");
    let cx = GrantContext::new(
        Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        Arc::new(ManualClock::at_fixed_epoch()),
    );
    let login = AuthorizationCodeLogin::new(
        "https://auth.example.com/authorize",
        format!("{}/token", endpoint.url()),
        ClientOptions::form(CLIENT_ID, CLIENT_SECRET).scope("openid offline_access"),
    );
    audit.debug("login", &login);
    let browser = reqwest::Client::builder().no_proxy().build().unwrap();
    for (label, code, wrong_state) in [
        ("login", CODE, false),
        ("wrong state", CODE, true),
        ("refused code", "code-REFUSED-Jm2Wp7Kx4", false),
        ("error redirect", "", false),
    ] {
        let pending = login.start(&cx).await.unwrap();
        audit.debug(label, &pending);
        audit.show(label, pending.authorization_url().to_owned());
        let url = url::Url::parse(pending.authorization_url()).unwrap();
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        let state = if wrong_state {
            format!("{state}x")
        } else {
            state
        };
        let query = if code.is_empty() {
            format!("error=access_denied&error_description=no%20thanks&state={state}")
        } else {
            format!("code={code}&state={state}")
        };
        let redirect = format!("{}?{query}", pending.redirect_uri());
        let (result, page) = tokio::join!(pending.finish(&cx), async {
            browser
                .get(&redirect)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        audit.show(&format!("{label}: page"), page);
        match result {
            Ok(token) => audit.token(label, &token),
            Err(e) => audit.error(label, &e),
        }
    }
    let verifiers = verifiers.lock().unwrap().clone();
    assert_eq!(
        verifiers.len(),
        2,
        "the login and the refused code were redeemed"
    );
    for verifier in &verifiers {
        audit.secret("PKCE code verifier", verifier);
    }
    audit.check();
    assert!(logs().contains("redeeming the authorization code"));
}
