//! The identity-provider presets (Microsoft Entra, Auth0, Okta, Keycloak, Salesforce) on
//! the wire: the exact request each sends to a mock of the vendor's token endpoint
//! (method, path, headers, body), client assertions decoded and verified with the
//! repository's test-only public keys, and each preset's configuration-file form.

#![allow(clippy::unwrap_used, clippy::panic)] // tests: a failure should stop the test

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use grantkit::TokenManagerBuilder;
use grantkit::grant::JwtSigningKey;
use grantkit::time::{Clock, ManualClock};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mockito::Matcher;
use serde_json::Value;

mod auth0;
mod config;
mod entra;
mod keycloak;
mod okta;
mod salesforce;

const FORM: &str = "application/x-www-form-urlencoded";
const ASSERTION_TYPE: &str =
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
/// `ManualClock::at_fixed_epoch()` in seconds since 1970.
const T0: u64 = 1_893_456_000;

/// A repository test-only key file's path.
fn key_path(name: &str) -> String {
    format!(
        "{}/../crates/grants/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn rsa_key() -> JwtSigningKey {
    JwtSigningKey::from_pem_file("RS256", key_path("test-only-rsa-pkcs8.pem")).unwrap()
}

fn rsa_public() -> DecodingKey {
    let pem = std::fs::read_to_string(key_path("test-only-rsa-public.pem")).unwrap();
    DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

/// `Basic base64(id:secret)`.
fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// What a mock received.
type Bodies = Arc<Mutex<Vec<String>>>;

/// A mock of `POST path` that requires `content_type` and `authorization` (or its
/// absence), records each body and answers `response` once.
async fn token_mock(
    server: &mut mockito::Server,
    path: &str,
    content_type: &str,
    authorization: Option<String>,
    response: &'static str,
) -> (mockito::Mock, Bodies) {
    let bodies = Bodies::default();
    let seen = Arc::clone(&bodies);
    let auth = match authorization {
        Some(value) => Matcher::Exact(value),
        None => Matcher::Missing,
    };
    let mock = server
        .mock("POST", path)
        .match_header("content-type", content_type)
        .match_header("authorization", auth)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |request| {
            seen.lock()
                .unwrap()
                .push(String::from_utf8(request.body().unwrap().clone()).unwrap());
            response.as_bytes().to_vec()
        })
        .expect(1)
        .create_async()
        .await;
    (mock, bodies)
}

const TOKEN: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#;

/// Builds `builder` on a manual clock, fetches one token, checks the mock was hit once,
/// and returns the one body it received.
async fn fetch_one(builder: TokenManagerBuilder, mock: mockito::Mock, bodies: &Bodies) -> String {
    let manager = builder
        .clock(ManualClock::at_fixed_epoch())
        .build()
        .unwrap();
    manager.token().await.unwrap();
    mock.assert_async().await;
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    bodies[0].clone()
}

/// `body` must be `prefix` followed by a JWT and nothing else; returns the JWT.
#[track_caller]
fn jwt_after<'a>(body: &'a str, prefix: &str) -> &'a str {
    let jwt = body
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{body:?} does not start with {prefix:?}"));
    assert!(
        regex_like_jwt(jwt),
        "{jwt:?} is not a JWT (or has more after it)"
    );
    jwt
}

fn regex_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A JWT's header, decoded without verification.
fn header(jwt: &str) -> Value {
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A JWT's claims, after verifying its signature with `key` and its `aud`.
fn verified_claims(jwt: &str, alg: Algorithm, key: &DecodingKey, aud: &str) -> Value {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.validate_exp = false; // the manual clock is in 2030
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    jsonwebtoken::decode::<Value>(jwt, key, &validation)
        .unwrap()
        .claims
}

/// The claims of a client assertion for `client_id` (RFC 7523 §2.2 as grantkit signs it):
/// `iss` = `sub` = the client, `aud`, a 32-hex-digit `jti`, `exp` = `iat` + 60.
#[track_caller]
fn assert_client_assertion_claims(claims: &Value, client_id: &str, aud: &str) {
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 32);
    assert_eq!(
        claims,
        &serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": aud, "jti": jti,
            "iat": T0, "exp": T0 + 60,
        })
    );
}

#[test]
fn the_manual_clock_starts_at_t0() {
    let now = ManualClock::at_fixed_epoch().now();
    assert_eq!(
        now.duration_since(UNIX_EPOCH).unwrap(),
        Duration::from_secs(T0)
    );
}
