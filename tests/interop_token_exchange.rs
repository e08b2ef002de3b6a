//! Token exchange (RFC 8693) against a real server implementation: `@jmondi/oauth2-server`
//! ("ts-oauth2-server", npm), whose `TokenExchangeGrant` handles the request — client
//! authentication, `subject_token`/`actor_token` and their types, `audience`, `resource`,
//! `requested_token_type`, scopes, the bearer response — leaving only the acceptance of the
//! subject token to the deployment (`interop/ts-oauth2-server/serve.mjs` accepts access
//! tokens it issued to `grantkit-upstream` and still holds; see `docs/interop.md`).
//!
//! `prepare.sh` installs it from the committed `package-lock.json`; with `CI=true` a
//! missing `node_modules` fails the tests, elsewhere they say loudly that they skipped.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test
#![allow(clippy::panic, clippy::expect_used)] // the harness must fail loudly

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use grantkit::grant::token_types;
use grantkit::{
    ClientCredentials, ClientGrant, ClientOptions, ErrorKind, SubjectToken, TokenExchange,
    TokenManager,
};
use grantkit_integration_tests::interop::{spawn_listening, tail};

const UPSTREAM: (&str, &str) = ("grantkit-upstream", "grantkit-upstream-secret");
const EXCHANGE: (&str, &str) = ("grantkit-exchange", "grantkit-exchange-secret");

struct Server {
    base: String,
    child: Mutex<Child>,
    _stdin: ChildStdin,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package is inside the workspace")
        .join("interop")
        .join("ts-oauth2-server")
}

/// The server, started on first use; `None` (after a loud message) when it is not
/// installed outside CI.
fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();
    let how = "`.ci/run` prepares it; by hand: `bash interop/ts-oauth2-server/prepare.sh` \
               (needs Node.js 20+ and npm)";
    match SERVER.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let installed = interop_dir()
            .join("node_modules")
            .join("@jmondi")
            .join("oauth2-server");
        if !installed.is_dir() {
            let reason = format!("{} is missing", installed.display());
            return if ci { Err(reason) } else { Ok(None) };
        }
        let node = std::env::var("GRANTKIT_INTEROP_NODE").unwrap_or_else(|_| "node".into());
        let mut command = Command::new(&node);
        command.arg(interop_dir().join("serve.mjs")).arg("0");
        let spawned = spawn_listening(
            command,
            "ts-oauth2-server serve.mjs",
            Duration::from_secs(30),
        )?;
        Ok(Some(Server {
            base: spawned.url,
            child: Mutex::new(spawned.child),
            _stdin: spawned.stdin,
            log: spawned.log,
        }))
    }) {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the token-exchange interop tests need @jmondi/oauth2-server. ***\n\
                 {how}. With CI=true they fail instead.\n"
            );
            None
        }
        Err(reason) => {
            panic!("\n\n*** The token-exchange interop server did not run. ***\n{reason}\n{how}.\n")
        }
    }
}

impl Server {
    fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    fn log(&self) -> String {
        tail(&self.log.lock().unwrap_or_else(|e| e.into_inner()), 4096).to_owned()
    }

    fn upstream(&self) -> TokenManager {
        let grant =
            ClientCredentials::form(self.token_url(), UPSTREAM.0, UPSTREAM.1).scope("api:read");
        TokenManager::builder().grant(grant).build().unwrap()
    }

    fn exchange(&self, options: ClientOptions, subject: SubjectToken) -> TokenExchange {
        TokenExchange::new(self.token_url(), options, subject).scope("api:read")
    }

    /// Makes the server forget an issued token, as if it had been revoked.
    async fn forget(&self, jwt: &str) {
        let jti = claims(jwt)["jti"].as_str().unwrap().to_owned();
        let response = reqwest::Client::new()
            .post(format!("{}/forget", self.base))
            .body(jti)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
}

/// The claims of one of the server's JWT access tokens (read, not verified: the server
/// verifies them).
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn another_managers_token_is_exchanged_with_basic_and_body_client_authentication() {
    let Some(server) = server() else { return };
    let upstream = server.upstream();
    for options in [
        ClientOptions::form(EXCHANGE.0, EXCHANGE.1),
        ClientOptions::form(EXCHANGE.0, EXCHANGE.1).client_auth(grantkit::ClientAuth::Body),
    ] {
        let grant = server
            .exchange(options, SubjectToken::manager(upstream.clone()))
            .audience("orders")
            .resource("https://orders.example.com/api")
            .requested_token_type(token_types::ACCESS_TOKEN);
        let manager = TokenManager::builder().grant(grant).build().unwrap();
        let token = match manager.token().await {
            Ok(token) => token,
            Err(e) => panic!("{}\n{}", e.report(), server.log()),
        };
        assert_eq!(token.token_type(), "Bearer");
        let claims = claims(token.access_token().secret());
        assert_eq!(claims["cid"], EXCHANGE.0);
        assert_eq!(claims["scope"], "api:read");
        assert_eq!(
            claims["sub"],
            format!(
                "subject={} audience=orders resource=https://orders.example.com/api actor= requested={}",
                UPSTREAM.0,
                token_types::ACCESS_TOKEN
            )
        );
    }
}

#[tokio::test]
async fn a_subject_file_and_an_actor_are_sent() {
    let Some(server) = server() else { return };
    let subject = server.upstream().token().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subject");
    std::fs::write(&path, format!("{}\n", subject.access_token().secret())).unwrap();
    let grant = server
        .exchange(
            ClientOptions::form(EXCHANGE.0, EXCHANGE.1),
            SubjectToken::file(&path, token_types::ACCESS_TOKEN),
        )
        .actor(SubjectToken::new("actor.jwt.value", token_types::JWT));
    let manager = TokenManager::builder().grant(grant).build().unwrap();
    let token = manager.token().await.unwrap();
    let sub = claims(token.access_token().secret())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sub,
        format!(
            "subject={} audience= resource= actor={} requested=",
            UPSTREAM.0,
            token_types::JWT
        )
    );
}

#[tokio::test]
async fn a_refused_subject_is_invalidated_upstream_and_the_next_renewal_succeeds() {
    let Some(server) = server() else { return };
    let upstream = server.upstream();
    let first = upstream.token().await.unwrap();
    server.forget(first.access_token().secret()).await;
    let grant = server.exchange(
        ClientOptions::form(EXCHANGE.0, EXCHANGE.1),
        SubjectToken::manager(upstream.clone()),
    );
    let manager = TokenManager::builder().grant(grant).build().unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth, "{}", e.report());
    assert!(e.is_invalid_grant(), "{}", e.report());
    assert!(!e.to_string().contains(first.access_token().secret()));
    // grantkit dropped the refused subject token from the upstream manager: it fetches a
    // new one, which the server accepts.
    assert!(upstream.cached().is_none());
    let manager = TokenManager::builder()
        .grant(server.exchange(
            ClientOptions::form(EXCHANGE.0, EXCHANGE.1),
            SubjectToken::manager(upstream.clone()),
        ))
        .build()
        .unwrap();
    manager.token().await.unwrap();
    assert_ne!(
        upstream.cached().unwrap().access_token().secret(),
        first.access_token().secret()
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let Some(server) = server() else { return };
    let grant = server.exchange(
        ClientOptions::form(EXCHANGE.0, "not-the-secret"),
        SubjectToken::manager(server.upstream()),
    );
    let manager = TokenManager::builder().grant(grant).build().unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth, "{}", e.report());
    assert!(e.is_invalid_client(), "{}", e.report());
}
