//! Interoperability of the JWT-bearer authorization grant (RFC 7523 §2.1) with a real,
//! widely used implementation of it that verifies each assertion with the issuer's
//! public key: Authlib's `authlib.oauth2.rfc7523.JWTBearerGrant` (PyPI), in a small Flask
//! app, started on loopback.
//!
//! The server lives in `interop/authlib/` (see `docs/interop.md`): `requirements.txt` pins
//! Authlib, joserfc and Flask; `interop/django-oauth-toolkit/prepare.py` installs them into
//! the interop virtualenv (`target/interop/venv`, shared with django-oauth-toolkit);
//! `serve.py` registers one issuer per algorithm, each holding its **public** test key from
//! `crates/grants/tests/keys/` under a `kid` (HS256: the shared secret), and an issuer with
//! two keys told apart by `kid`. One server serves all the tests of this binary; it exits
//! when this process does (it watches its stdin).
//!
//! These tests never skip: without a usable `python3` (3.10+, with `venv`) or without
//! access to PyPI on the first run, every test fails with the reason and what to install.
//!
//! Every request goes through grantkit's public API: a `JwtBearer` grant in a
//! `TokenManager`. The server's view of a token (which issuer and user it was issued to,
//! its scope) comes from its `/api/me`. Authlib's refusals are `invalid_grant` with its
//! own description, which the tests pin: they say *which* check refused the assertion.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test
#![allow(clippy::panic, clippy::expect_used)] // the harness must fail loudly, never skip

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use grantkit_integration_tests::interop::{python_venv, spawn_listening, tail, workspace};

use grantkit::time::{Clock as _, ManualClock, SystemClock};
use grantkit::{
    ClientGrant, Error, ErrorKind, JwtBearer, Token, TokenManager, grant::JwtSigningKey,
};
use serde_json::Value;

/// The HS256 issuer's secret in `serve.py`.
const HS256_SECRET: &str = "grantkit-authlib-interop-hs256-secret-0123456789";
/// The lifetime of the server's access tokens (`LIFETIME` in `serve.py`).
const LIFETIME: Duration = Duration::from_secs(3600);
/// Every asymmetric algorithm grantkit signs with and the test key for it. The server has
/// an issuer `grantkit-<alg>` for each, holding the public key under kid `<alg>-1`.
const ASYMMETRIC: &[(&str, &str)] = &[
    ("RS256", "test-only-rsa-pkcs8.pem"),
    ("RS384", "test-only-rsa-pkcs8.pem"),
    ("RS512", "test-only-rsa-pkcs8.pem"),
    ("PS256", "test-only-rsa-pkcs8.pem"),
    ("PS384", "test-only-rsa-pkcs8.pem"),
    ("PS512", "test-only-rsa-pkcs8.pem"),
    ("ES256", "test-only-ec-p256-pkcs8.pem"),
    ("ES384", "test-only-ec-p384-pkcs8.pem"),
    ("EdDSA", "test-only-ed25519-pkcs8.pem"),
];

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

/// How long the server gets to print its address after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The running Authlib server of this test binary.
struct Authlib {
    base: String,
    child: Mutex<Child>,
    /// Held open for the server's lifetime: it exits when this end closes.
    _stdin: ChildStdin,
    log: Arc<Mutex<String>>,
}

impl Drop for Authlib {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server, started on first use. A set-up failure fails every test with its reason.
fn authlib() -> &'static Authlib {
    static SERVER: OnceLock<Result<Authlib, String>> = OnceLock::new();
    started(SERVER.get_or_init(|| python_venv().and_then(|python| start(&python, &[]))))
}

/// A second server with Authlib's default algorithms (`serve.py --stock-algorithms`).
fn stock_authlib() -> &'static Authlib {
    static SERVER: OnceLock<Result<Authlib, String>> = OnceLock::new();
    started(
        SERVER.get_or_init(|| {
            python_venv().and_then(|python| start(&python, &["--stock-algorithms"]))
        }),
    )
}

fn started(server: &Result<Authlib, String>) -> &Authlib {
    match server {
        Ok(server) => server,
        Err(reason) => panic!(
            "\n\n*** The JWT-bearer interop tests need Authlib and could not get it. ***\n\
             {reason}\n\n\
             They never skip. They need python3 (3.10+) with venv and, on the first run, \
             access to PyPI: on Debian/Ubuntu `apt-get install python3 python3-venv`. \
             `.ci/run` prepares this before the tests; by hand: \
             `python3 interop/django-oauth-toolkit/prepare.py`.\n"
        ),
    }
}

fn keys_dir() -> PathBuf {
    workspace()
        .join("crates")
        .join("grants")
        .join("tests")
        .join("keys")
}

/// Spawns `serve.py` with `args` and waits for the address it prints.
fn start(python: &Path, args: &[&str]) -> Result<Authlib, String> {
    let started = Instant::now();
    let mut command = Command::new(python);
    command
        .arg(workspace().join("interop").join("authlib").join("serve.py"))
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let server = spawn_listening(command, "interop/authlib/serve.py", START_TIMEOUT)?;
    eprintln!(
        "interop: Authlib {args:?} listening on {} after {:.1?}",
        server.url,
        started.elapsed()
    );
    Ok(Authlib {
        base: server.url,
        child: Mutex::new(server.child),
        _stdin: server.stdin,
        log: server.log,
    })
}

impl Authlib {
    fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// The server's recent log, for failure messages.
    fn log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        tail(&log, 4096).to_owned()
    }

    /// A grant of `issuer` signing with `key` under `kid`, asking for scope `read`.
    fn grant(&self, issuer: &str, key: JwtSigningKey, kid: Option<&str>) -> JwtBearer {
        let grant = JwtBearer::new(self.token_url(), issuer, key).scope("read");
        match kid {
            Some(kid) => grant.key_id(kid),
            None => grant,
        }
    }

    /// Asserts that `manager` gets a token from this server, issued to `issuer` (and
    /// `user`) with scope `read`, after one request.
    async fn assert_token(
        &self,
        manager: &TokenManager,
        issuer: &str,
        user: Option<&str>,
        what: &str,
    ) -> Token {
        let token = match manager.token().await {
            Ok(token) => token,
            Err(e) => panic!("{what}: {}\nserver log:\n{}", e.report(), self.log()),
        };
        assert_eq!(token.token_type(), "Bearer", "{what}");
        assert_eq!(token.stated_lifetime(), Some(LIFETIME), "{what}");
        assert_eq!(token.scope(), Some("read"), "{what}");
        assert_eq!(manager.stats().token_requests, 1, "{what}");
        let me = self.me(&token).await;
        assert_eq!(me["client_id"], issuer, "{what}: {me}");
        assert_eq!(me["user"], user.map_or(Value::Null, Value::from), "{what}");
        assert_eq!(me["scope"], "read", "{what}");
        token
    }

    /// What the server says about `token` at `/api/me`; it must know it.
    async fn me(&self, token: &Token) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/api/me", self.base))
            .header("authorization", token.authorization_header())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 200, "the server does not know the token: {body}");
        body
    }

    /// Asserts that `manager` is refused with `invalid_grant` and Authlib's `description`,
    /// not retried.
    async fn assert_invalid_grant(
        &self,
        manager: &TokenManager,
        description: Option<&str>,
        what: &str,
    ) {
        let error: Error = match manager.token().await {
            Ok(_) => panic!("{what}: the server issued a token\n{}", self.log()),
            Err(e) => e,
        };
        assert_eq!(error.kind(), ErrorKind::OAuth, "{what}: {}", error.report());
        assert_eq!(error.status(), Some(400), "{what}: {}", error.report());
        assert!(error.is_invalid_grant(), "{what}: {}", error.report());
        let oauth = error.oauth_error().expect("the error body is kept");
        assert_eq!(
            oauth.error_description.as_deref(),
            description,
            "{what}\n{}",
            self.log()
        );
        assert!(!error.is_retryable(), "{what}");
        assert_eq!(manager.stats().token_requests, 1, "{what}: retried");
    }
}

fn new_manager(grant: JwtBearer) -> TokenManager {
    TokenManager::builder().grant(grant).build().unwrap()
}

/// A manager whose clock is `offset` ahead of (or behind) the real one: its assertions
/// are signed at that time.
fn manager_at(grant: JwtBearer, ahead: bool, offset: Duration) -> TokenManager {
    let now = SystemClock::new().now();
    let then = if ahead { now + offset } else { now - offset };
    TokenManager::builder()
        .grant(grant)
        .clock(ManualClock::new(then))
        .build()
        .unwrap()
}

fn pem_key(alg: &str, file: &str) -> JwtSigningKey {
    JwtSigningKey::from_pem_file(alg, keys_dir().join(file)).unwrap()
}

/// The issuer `serve.py` registers for `alg`, and the kid of its key.
fn issuer(alg: &str) -> (String, String) {
    let alg = alg.to_lowercase();
    (format!("grantkit-{alg}"), format!("{alg}-1"))
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Each algorithm grantkit signs with gets a token: Authlib picks the issuer's key by
/// `kid` and verifies the signature with the public key (HS256: the shared secret).
#[tokio::test]
async fn every_algorithm_gets_a_token() {
    let server = authlib();
    for &(alg, file) in ASYMMETRIC {
        let (iss, kid) = issuer(alg);
        let manager = new_manager(server.grant(&iss, pem_key(alg, file), Some(&kid)));
        server.assert_token(&manager, &iss, None, alg).await;
    }
    let (iss, kid) = issuer("HS256");
    let manager = new_manager(server.grant(&iss, JwtSigningKey::hs256(HS256_SECRET), Some(&kid)));
    server.assert_token(&manager, &iss, None, "HS256").await;
}

/// A valid signature by a key the issuer does not hold is refused by the signature check:
/// same issuer, `kid`, algorithm and claims as in `every_algorithm_gets_a_token`, only the
/// key differs. (joserfc's `bad_signature` error has no description, so Authlib sends none.)
#[tokio::test]
async fn a_signature_by_another_key_is_invalid_grant() {
    let server = authlib();
    for (alg, other) in [
        ("RS256", "test-only-rsa-other-pkcs8.pem"),
        ("PS256", "test-only-rsa-other-pkcs8.pem"),
        ("ES256", "test-only-ec-p256-other-pkcs8.pem"),
        ("EdDSA", "test-only-ed25519-other-pkcs8.pem"),
    ] {
        let (iss, kid) = issuer(alg);
        let manager = new_manager(server.grant(&iss, pem_key(alg, other), Some(&kid)));
        server
            .assert_invalid_grant(&manager, None, &format!("{alg}, other key"))
            .await;
    }
    let (iss, kid) = issuer("HS256");
    let wrong = JwtSigningKey::hs256("not-the-secret-but-just-as-long-0123456789abcdef");
    let manager = new_manager(server.grant(&iss, wrong, Some(&kid)));
    server
        .assert_invalid_grant(&manager, None, "HS256, wrong secret")
        .await;
}

/// The issuer's key is found by `kid`: with two keys registered, each signs under its
/// own kid; an unknown kid, a kid of the other key type, and no kid at all are refused.
/// An issuer with a single key accepts an assertion without a kid.
#[tokio::test]
async fn the_key_is_chosen_by_kid() {
    let server = authlib();
    let rsa = || pem_key("RS256", "test-only-rsa-pkcs8.pem");
    let ec = || pem_key("ES256", "test-only-ec-p256-pkcs8.pem");
    let iss = "grantkit-rotating";
    for (key, kid) in [(rsa(), "rsa-2026"), (ec(), "ec-2026")] {
        let manager = new_manager(server.grant(iss, key, Some(kid)));
        server.assert_token(&manager, iss, None, kid).await;
    }
    for (key, kid, what) in [
        (rsa(), Some("rsa-2025"), "an unknown kid"),
        (
            rsa(),
            Some("ec-2026"),
            "the EC key's kid on an RS256 assertion",
        ),
        (
            ec(),
            Some("rsa-2026"),
            "the RSA key's kid on an ES256 assertion",
        ),
        (rsa(), None, "no kid, two keys"),
    ] {
        let manager = new_manager(server.grant(iss, key, kid));
        let description = format!("No key for kid: '{}'", kid.unwrap_or("None"));
        server
            .assert_invalid_grant(&manager, Some(&description), what)
            .await;
    }
    // The ES256 issuer holds one key, under kid `es256-1`.
    let (iss, _) = issuer("ES256");
    let manager = new_manager(server.grant(&iss, ec(), None));
    server
        .assert_token(&manager, &iss, None, "no kid, one key")
        .await;
    let manager = new_manager(server.grant(&iss, ec(), Some("es256-2")));
    server
        .assert_invalid_grant(
            &manager,
            Some("No key for kid: 'es256-2'"),
            "a wrong kid, one key",
        )
        .await;
}

/// `aud` must name this server: the token endpoint (grantkit's default) or the issuer
/// URL; anything else is refused.
#[tokio::test]
async fn a_wrong_audience_is_invalid_grant() {
    let server = authlib();
    let (iss, kid) = issuer("RS256");
    let key = || pem_key("RS256", "test-only-rsa-pkcs8.pem");
    let grant = server
        .grant(&iss, key(), Some(&kid))
        .audience(server.base.clone());
    server
        .assert_token(&new_manager(grant), &iss, None, "aud = the issuer URL")
        .await;
    let grant = server
        .grant(&iss, key(), Some(&kid))
        .audience("https://somewhere-else.example/token");
    server
        .assert_invalid_grant(
            &new_manager(grant),
            Some("Invalid claim: 'aud'"),
            "aud elsewhere",
        )
        .await;
}

/// An issuer the server does not know is refused before any key is looked up.
#[tokio::test]
async fn an_unknown_issuer_is_invalid_grant() {
    let server = authlib();
    let grant = server.grant(
        "grantkit-nobody",
        pem_key("ES256", "test-only-ec-p256-pkcs8.pem"),
        Some("es256-1"),
    );
    server
        .assert_invalid_grant(
            &new_manager(grant),
            Some("The client does not exist on this server."),
            "unknown iss",
        )
        .await;
}

/// Authlib checks `exp` and `iat` against its clock (60 s of leeway): an assertion signed
/// two hours ago has expired; one signed two hours ahead was "issued in the future".
#[tokio::test]
async fn an_expired_or_future_assertion_is_invalid_grant() {
    let server = authlib();
    let (iss, kid) = issuer("ES256");
    let key = || pem_key("ES256", "test-only-ec-p256-pkcs8.pem");
    let two_hours = Duration::from_secs(7200);
    let manager = manager_at(server.grant(&iss, key(), Some(&kid)), false, two_hours);
    server
        .assert_invalid_grant(&manager, Some("The token is expired"), "signed 2 h ago")
        .await;
    let manager = manager_at(server.grant(&iss, key(), Some(&kid)), true, two_hours);
    server
        .assert_invalid_grant(
            &manager,
            Some("The token was issued in the future"),
            "signed 2 h ahead",
        )
        .await;
}

/// Authlib does not cap an assertion's lifetime (`exp` − `iat`): a 24-hour assertion is
/// accepted. Servers that do (Google, Disruptive Technologies: one hour) are met with
/// `JwtBearer::max_lifetime`, which refuses a longer lifetime before any request.
#[tokio::test]
async fn authlib_does_not_cap_the_assertion_lifetime() {
    let server = authlib();
    let (iss, kid) = issuer("EdDSA");
    let grant = server
        .grant(
            &iss,
            pem_key("EdDSA", "test-only-ed25519-pkcs8.pem"),
            Some(&kid),
        )
        .lifetime(Duration::from_secs(24 * 3600));
    server
        .assert_token(&new_manager(grant), &iss, None, "a 24 h assertion")
        .await;
}

/// `sub` names the user the token acts for (RFC 7523 §3): Authlib looks it up; an
/// unknown user is refused.
#[tokio::test]
async fn the_subject_names_the_user() {
    let server = authlib();
    let (iss, kid) = issuer("PS256");
    let key = || pem_key("PS256", "test-only-rsa-pkcs8.pem");
    let grant = server.grant(&iss, key(), Some(&kid)).subject("alice");
    server
        .assert_token(&new_manager(grant), &iss, Some("alice"), "sub = alice")
        .await;
    let grant = server.grant(&iss, key(), Some(&kid)).subject("mallory");
    server
        .assert_invalid_grant(
            &new_manager(grant),
            Some("Invalid 'sub' value in assertion"),
            "sub = an unknown user",
        )
        .await;
}

/// Out of the box, Authlib's grant verifies with joserfc's "recommended" algorithms only:
/// HS256, RS256 and ES256 get a token from a server that does not widen that list
/// (`serve.py --stock-algorithms`); the other algorithms are refused whatever keys the
/// issuer holds. (`docs/interop.md`: what a user of such a server sees and can do.)
#[tokio::test]
async fn a_stock_authlib_accepts_only_hs256_rs256_and_es256() {
    let server = stock_authlib();
    for &(alg, file) in ASYMMETRIC {
        let (iss, kid) = issuer(alg);
        let manager = new_manager(server.grant(&iss, pem_key(alg, file), Some(&kid)));
        if matches!(alg, "RS256" | "ES256") {
            server.assert_token(&manager, &iss, None, alg).await;
        } else {
            let description = format!("Algorithm of '{alg}' is not recommended");
            server
                .assert_invalid_grant(&manager, Some(&description), alg)
                .await;
        }
    }
    let (iss, kid) = issuer("HS256");
    let manager = new_manager(server.grant(&iss, JwtSigningKey::hs256(HS256_SECRET), Some(&kid)));
    server.assert_token(&manager, &iss, None, "HS256").await;
}
