//! Interoperability of the client authentication methods with a real, widely used
//! authorization server that implements them all: `oidc-provider` (panva/node-oidc-provider)
//! from npm, started on loopback.
//!
//! The server's set-up lives in `interop/oidc-provider/` (see `docs/interop.md`):
//! `prepare.sh` runs `npm ci` from the committed `package-lock.json` into
//! `interop/oidc-provider/node_modules` (once; later runs reuse it), `serve.mjs` starts
//! oidc-provider on a free port of 127.0.0.1 with one client per method, and the same
//! provider over HTTPS with client certificates on a second port for the mutual-TLS
//! methods. One server serves all the tests of this binary; it exits when this process
//! does (it watches its stdin).
//!
//! With `CI=true` (as `.ci/run` sets it) a missing `node` or `node_modules` fails every
//! test with the reason; elsewhere the tests say loudly that they were skipped and what to
//! run (`bash interop/oidc-provider/prepare.sh`).
//!
//! Every request goes through grantkit's public API: a `ClientCredentials` grant in a
//! `TokenManager`, with the real clock (the server checks the assertions' `iat`/`exp`).

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test
#![allow(clippy::panic, clippy::expect_used)] // the harness must fail loudly

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use grantkit_integration_tests::interop::{spawn_listening, tail};

use grantkit::transport::{ClientCertificate, RootCertificates};
use grantkit::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, Error, ErrorKind, TokenManager,
    grant::JwtSigningKey,
};
use grantkit_testkit::certs;

#[path = "interop_oidc/revocation.rs"]
mod revocation;

/// The secret of the secret-based clients in `serve.mjs` (32+ bytes for HS256).
const SECRET: &str = "grantkit-oidc-provider-interop-secret-0123456789";
/// `accessTokenTTL` of the resource server in `serve.mjs`.
const LIFETIME: Duration = Duration::from_secs(3600);
/// Every algorithm grantkit signs `private_key_jwt` with, and the test key for it; the
/// server has one client per algorithm (`grantkit-pkjwt-<alg>`) holding the public key.
const PRIVATE_KEY_JWT: &[(&str, &str)] = &[
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

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The running oidc-provider of this test binary.
struct Op {
    issuer: String,
    /// The same provider over HTTPS, asking for client certificates.
    mtls: String,
    child: Mutex<Child>,
    /// Held open for the server's lifetime: it exits when this end closes.
    _stdin: ChildStdin,
    log: Arc<Mutex<String>>,
}

impl Drop for Op {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package is inside the workspace")
}

fn interop_dir() -> PathBuf {
    workspace().join("interop").join("oidc-provider")
}

fn keys_dir() -> PathBuf {
    workspace()
        .join("crates")
        .join("grants")
        .join("tests")
        .join("keys")
}

/// The server, started on first use; `None` (after a loud message) when it is not
/// installed outside CI. In CI, or when it is installed but does not start, every test
/// fails with the reason.
fn op() -> Option<&'static Op> {
    static SERVER: OnceLock<Result<Option<Op>, String>> = OnceLock::new();
    let how = "`.ci/run` prepares it; by hand: `bash interop/oidc-provider/prepare.sh` \
               (needs Node.js 20+ and npm: on Debian/Ubuntu `apt-get install nodejs npm`)";
    match SERVER.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let installed = interop_dir().join("node_modules").join("oidc-provider");
        if !installed.is_dir() {
            let reason = format!("{} is missing", installed.display());
            return if ci { Err(reason) } else { Ok(None) };
        }
        start().map(Some)
    }) {
        Ok(Some(op)) => Some(op),
        Ok(None) => {
            // Straight to stderr, past the test harness's capture of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the oidc-provider interop tests need oidc-provider installed. ***\n\
                 {how}. With CI=true they fail instead.\n"
            );
            None
        }
        Err(reason) => panic!(
            "\n\n*** The oidc-provider interop tests could not run it. ***\n{reason}\n{how}.\n"
        ),
    }
}

/// Spawns `node serve.mjs 0` and waits for the address it prints.
fn start() -> Result<Op, String> {
    let node = std::env::var("GRANTKIT_INTEROP_NODE").unwrap_or_else(|_| "node".into());
    let started = Instant::now();
    let mut command = Command::new(&node);
    command.arg(interop_dir().join("serve.mjs")).arg("0");
    let server = spawn_listening(
        command,
        &format!("serve.mjs with `{node}` (set GRANTKIT_INTEROP_NODE)"),
        START_TIMEOUT,
    )?;
    eprintln!(
        "interop: oidc-provider listening on {} after {:.1?}",
        server.url,
        started.elapsed()
    );
    // `<issuer> <mtls base URL> <DPoP resource server>`: the third is for
    // interop_oidc_dpop.rs.
    let mut parts = server.url.split(' ');
    let (Some(issuer), Some(mtls)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "serve.mjs printed {:?}, not `<issuer> <mtls base URL> <api base URL>`",
            server.url
        ));
    };
    Ok(Op {
        issuer: issuer.to_owned(),
        mtls: mtls.to_owned(),
        child: Mutex::new(server.child),
        _stdin: server.stdin,
        log: server.log,
    })
}

impl Op {
    fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    fn log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        tail(&log, 4096).to_owned()
    }

    /// A client_credentials grant of `options` with `auth`, in a TokenManager.
    fn manager(&self, options: ClientOptions, auth: ClientAuth) -> TokenManager {
        let grant = ClientCredentials::new(self.token_url(), options).client_auth(auth);
        TokenManager::builder().grant(grant).build().unwrap()
    }

    /// A client_credentials grant of client `id` with a mutual-TLS method, to the HTTPS
    /// token endpoint, presenting `cert` (certificate and key files) and trusting the test
    /// CA.
    fn mtls_manager(&self, id: &str, auth: ClientAuth, cert: Option<(&str, &str)>) -> TokenManager {
        let grant = ClientCredentials::new(
            format!("{}/token", self.mtls),
            ClientOptions::new(id).client_auth(auth),
        );
        let mut builder = TokenManager::builder()
            .grant(grant)
            .root_certificates(RootCertificates::from_pem_file(certs::CA).unwrap());
        if let Some((cert, key)) = cert {
            builder =
                builder.client_certificate(ClientCertificate::from_pem_files(cert, key).unwrap());
        }
        builder.build().unwrap()
    }

    /// Asserts that `manager` gets an oidc-provider access token.
    async fn assert_token(&self, manager: &TokenManager, what: &str) {
        let token = match manager.token().await {
            Ok(token) => token,
            Err(e) => panic!("{what}: {}\nserver log:\n{}", e.report(), self.log()),
        };
        assert_eq!(token.token_type(), "Bearer", "{what}");
        assert_eq!(token.stated_lifetime(), Some(LIFETIME), "{what}");
        // oidc-provider's opaque access tokens: 43 base64url characters.
        let secret = token.access_token().secret();
        assert_eq!(secret.len(), 43, "{what}");
        assert_eq!(manager.stats().token_requests, 1, "{what}");
    }

    /// Asserts that `manager` is refused with `invalid_client`, unretried.
    async fn assert_invalid_client(&self, manager: &TokenManager, what: &str) {
        let error: Error = match manager.token().await {
            Ok(_) => panic!("{what}: the server issued a token\n{}", self.log()),
            Err(e) => e,
        };
        assert_eq!(error.kind(), ErrorKind::OAuth, "{what}: {}", error.report());
        assert_eq!(error.status(), Some(401), "{what}: {}", error.report());
        assert!(error.is_invalid_client(), "{what}: {}", error.report());
        assert!(!error.is_retryable(), "{what}");
        assert_eq!(manager.stats().token_requests, 1, "{what}: retried");
    }
}

fn pem_key(alg: &str, file: &str) -> JwtSigningKey {
    JwtSigningKey::from_pem_file(alg, keys_dir().join(file)).unwrap()
}

fn pkjwt_client(alg: &str) -> String {
    format!("grantkit-pkjwt-{}", alg.to_lowercase())
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[path = "interop_oidc/discovery.rs"]
mod discovery;

/// client_secret_basic and client_secret_post: the secret in the Authorization header or
/// in the body; a wrong one is `invalid_client`.
#[tokio::test]
async fn client_secret_basic_and_post() {
    let Some(op) = op() else { return };
    for (id, auth) in [
        ("grantkit-basic", ClientAuth::Basic),
        ("grantkit-post", ClientAuth::Body),
    ] {
        let manager = op.manager(ClientOptions::form(id, SECRET), auth);
        op.assert_token(&manager, &format!("{auth}")).await;
        let manager = op.manager(ClientOptions::form(id, "not-the-secret"), auth);
        op.assert_invalid_client(&manager, &format!("{auth}, wrong secret"))
            .await;
    }
}

/// `none`: a public client sends only its `client_id`, which oidc-provider accepts for
/// client_credentials when the client is registered with `none`; a client registered
/// with a secret is refused when it sends none.
#[tokio::test]
async fn none_sends_only_the_client_id() {
    let Some(op) = op() else { return };
    let manager = op.manager(ClientOptions::new("grantkit-none"), ClientAuth::None);
    op.assert_token(&manager, "none").await;
    let manager = op.manager(ClientOptions::new("grantkit-basic"), ClientAuth::None);
    op.assert_invalid_client(&manager, "none, for a client with a secret")
        .await;
}

/// client_secret_jwt: an HS256 assertion over the client secret, `aud` the token
/// endpoint (grantkit's default) or the issuer; one over a wrong secret is refused.
#[tokio::test]
async fn client_secret_jwt_hs256() {
    let Some(op) = op() else { return };
    let id = "grantkit-secret-jwt";
    let auth = ClientAuth::ClientSecretJwt;
    let manager = op.manager(ClientOptions::form(id, SECRET), auth);
    op.assert_token(&manager, "client_secret_jwt, aud = token endpoint")
        .await;
    let manager = op.manager(
        ClientOptions::form(id, SECRET).assertion_audience(op.issuer.clone()),
        auth,
    );
    op.assert_token(&manager, "client_secret_jwt, aud = issuer")
        .await;
    let manager = op.manager(
        ClientOptions::form(id, "not-the-secret-but-just-as-long-0123456789"),
        auth,
    );
    op.assert_invalid_client(&manager, "client_secret_jwt, wrong secret")
        .await;
}

/// private_key_jwt with every algorithm grantkit signs with; the server verifies each
/// assertion with the client's registered public key.
#[tokio::test]
async fn private_key_jwt_every_algorithm() {
    let Some(op) = op() else { return };
    for &(alg, file) in PRIVATE_KEY_JWT {
        let options = ClientOptions::new(pkjwt_client(alg)).private_key(pem_key(alg, file));
        let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
        op.assert_token(&manager, &format!("private_key_jwt {alg}"))
            .await;
    }
    // The issuer as the assertion audience is accepted too.
    let options = ClientOptions::new(pkjwt_client("ES256"))
        .private_key(pem_key("ES256", "test-only-ec-p256-pkcs8.pem"))
        .assertion_audience(op.issuer.clone());
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_token(&manager, "private_key_jwt ES256, aud = issuer")
        .await;
}

/// A key the server does not know for the client (a valid signature by another key), and
/// an algorithm other than the one registered, are `invalid_client`, not retried.
#[tokio::test]
async fn private_key_jwt_unknown_key_is_invalid_client() {
    let Some(op) = op() else { return };
    // The RS256 client holds the RSA public key; an EC key's ES256 signature is refused.
    let options = ClientOptions::new(pkjwt_client("RS256"))
        .private_key(pem_key("ES256", "test-only-ec-p256-pkcs8.pem"));
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_invalid_client(&manager, "RS256 client, ES256 assertion")
        .await;
    // The ES256 client holds the P-256 key; a P-384 key's ES384 signature is refused.
    let options = ClientOptions::new(pkjwt_client("ES256"))
        .private_key(pem_key("ES384", "test-only-ec-p384-pkcs8.pem"));
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_invalid_client(&manager, "ES256 client, P-384 key")
        .await;
    // The ES384 client holds the P-384 key; an assertion it cannot verify is refused.
    let options = ClientOptions::new(pkjwt_client("ES384"))
        .private_key(pem_key("ES256", "test-only-ec-p256-pkcs8.pem"));
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_invalid_client(&manager, "ES384 client, P-256 key")
        .await;
}

/// A private_key_jwt assertion whose `aud` is neither the token endpoint nor the issuer
/// is refused: the server checks what grantkit puts there.
#[tokio::test]
async fn private_key_jwt_wrong_audience_is_invalid_client() {
    let Some(op) = op() else { return };
    let options = ClientOptions::new(pkjwt_client("RS256"))
        .private_key(pem_key("RS256", "test-only-rsa-pkcs8.pem"))
        .assertion_audience("https://somewhere-else.example/token");
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_invalid_client(&manager, "aud elsewhere").await;
}

/// tls_client_auth (a certificate the test CA issued, matched by its subject DN) and
/// self_signed_tls_client_auth (the certificate registered in the client's `jwks` `x5c`)
/// get real tokens: the body carries only `client_id`, the certificate does the rest.
#[tokio::test]
async fn mutual_tls_client_auth_gets_a_token() {
    let Some(op) = op() else { return };
    let manager = op.mtls_manager(
        "grantkit-tls",
        ClientAuth::TlsClientAuth,
        Some((certs::CLIENT, certs::CLIENT_KEY)),
    );
    op.assert_token(&manager, "tls_client_auth").await;
    let manager = op.mtls_manager(
        "grantkit-self-signed",
        ClientAuth::SelfSignedTlsClientAuth,
        Some((certs::SELF_SIGNED, certs::SELF_SIGNED_KEY)),
    );
    op.assert_token(&manager, "self_signed_tls_client_auth")
        .await;
}

/// The wrong certificate, none, or no TLS at all is `invalid_client`, not retried.
#[tokio::test]
async fn mutual_tls_with_the_wrong_certificate_is_invalid_client() {
    let Some(op) = op() else { return };
    let cases = [
        (
            "tls_client_auth, another subject from the same CA",
            "grantkit-tls",
            ClientAuth::TlsClientAuth,
            Some((certs::OTHER_CLIENT, certs::OTHER_CLIENT_KEY)),
        ),
        (
            "tls_client_auth, a certificate the CA did not issue",
            "grantkit-tls",
            ClientAuth::TlsClientAuth,
            Some((certs::SELF_SIGNED, certs::SELF_SIGNED_KEY)),
        ),
        (
            "self_signed_tls_client_auth, an unregistered certificate",
            "grantkit-self-signed",
            ClientAuth::SelfSignedTlsClientAuth,
            Some((certs::OTHER_SELF_SIGNED, certs::OTHER_SELF_SIGNED_KEY)),
        ),
        (
            "self_signed_tls_client_auth, no certificate",
            "grantkit-self-signed",
            ClientAuth::SelfSignedTlsClientAuth,
            None,
        ),
    ];
    for (what, id, auth, cert) in cases {
        let manager = op.mtls_manager(id, auth, cert);
        op.assert_invalid_client(&manager, what).await;
    }
    // Over plain http no certificate can be presented.
    let manager = op.manager(
        ClientOptions::new("grantkit-tls"),
        ClientAuth::TlsClientAuth,
    );
    op.assert_invalid_client(&manager, "tls_client_auth over plain http")
        .await;
}

/// Keys told apart by `kid`: the client holds two RSA keys, the test key under its RFC 7638
/// thumbprint (which serve.mjs computes with jose) and RFC 7517 A.2's under its own kid. A
/// JWK key with `key_id_thumbprint()`, and the RFC key read from its JWK (whose `kid`
/// grantkit sends), each get a token; the test key sent under the other key's kid is
/// refused: the server picked the key by the kid grantkit sent.
#[tokio::test]
async fn private_key_jwt_keys_are_told_apart_by_kid() {
    let Some(op) = op() else { return };
    let id = "grantkit-pkjwt-kids";
    let jwk = |file: &str| JwtSigningKey::from_jwk_file(None, keys_dir().join(file)).unwrap();
    let options = ClientOptions::new(id)
        .private_key(jwk("test-only-rsa.jwk.json"))
        .key_id_thumbprint();
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_token(&manager, "JWK key, kid = its thumbprint")
        .await;
    let options = ClientOptions::new(id).private_key(jwk("rfc7517-a2-rsa.jwk.json"));
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_token(&manager, "RFC 7517 A.2 key, kid from its JWK")
        .await;
    let options = ClientOptions::new(id)
        .private_key(pem_key("RS256", "test-only-rsa-pkcs8.pem"))
        .key_id("2011-04-29");
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_invalid_client(&manager, "the test key under the other key's kid")
        .await;
}

/// What the Microsoft Entra preset sends with a certificate — PS256, an `x5t#S256`
/// header, and `client_id` in the body beside the assertion — is accepted as plain
/// private_key_jwt (RFC 7521 §4.2: a `client_id` naming the assertion's client).
#[tokio::test]
async fn private_key_jwt_with_a_certificate_thumbprint_and_client_id() {
    let Some(op) = op() else { return };
    let certificate =
        grantkit::grant::Certificate::from_pem_file(keys_dir().join("test-only-rsa-cert.pem"))
            .unwrap();
    let options = ClientOptions::new(pkjwt_client("PS256"))
        .private_key(pem_key("PS256", "test-only-rsa-pkcs8.pem"))
        .certificate(certificate)
        .client_id_in_body(true);
    let manager = op.manager(options, ClientAuth::PrivateKeyJwt);
    op.assert_token(&manager, "PS256, x5t#S256, client_id")
        .await;
}

/// A client assertion made elsewhere (a federated or projected token file) is read at each
/// renewal: the server verifies whatever the file holds when the request is made. An
/// assertion by a key the client does not hold is refused; after the file is rewritten with
/// a valid one, the same manager's next renewal gets a token.
#[tokio::test]
async fn a_client_assertion_file_is_read_at_each_renewal() {
    let Some(op) = op() else { return };
    let id = pkjwt_client("RS256");
    let sign = |file: &str, alg: jsonwebtoken::Algorithm| {
        let pem = std::fs::read(keys_dir().join(file)).unwrap();
        let key = match alg {
            jsonwebtoken::Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        }
        .unwrap();
        // The server checks `iat` and `exp` against its real clock.
        let now = grantkit::time::Clock::now(&grantkit::time::SystemClock::new())
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iss": id, "sub": id, "aud": op.token_url(),
            "jti": format!("{now}-{file}-{alg:?}"), "iat": now, "exp": now + 60,
        });
        jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("federated-token");
    std::fs::write(
        &path,
        sign(
            "test-only-ec-p256-pkcs8.pem",
            jsonwebtoken::Algorithm::ES256,
        ),
    )
    .unwrap();
    // No failure cool-down: the call after the refusal is a request, made at once.
    let grant = ClientCredentials::new(
        op.token_url(),
        ClientOptions::new(&id).client_assertion_file(&path),
    )
    .client_auth(ClientAuth::PrivateKeyJwt);
    let manager = TokenManager::builder()
        .grant(grant)
        .failure_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    op.assert_invalid_client(&manager, "an assertion by a key the client does not hold")
        .await;
    std::fs::write(
        &path,
        format!(
            "{}\n",
            sign("test-only-rsa-pkcs8.pem", jsonwebtoken::Algorithm::RS256)
        ),
    )
    .unwrap();
    let token = match manager.token().await {
        Ok(token) => token,
        Err(e) => panic!("after the file was rewritten: {}\n{}", e.report(), op.log()),
    };
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(manager.stats().token_requests, 2);
}

/// The authorization code grant with PKCE, its login and consent pages driven over HTTP.
#[path = "interop_oidc_login.rs"]
mod login;
