//! Client authentication by a signed JWT (RFC 7523 §2.2, OIDC Core §9) and the public
//! client (`none`), through every grant: the exact body, the JWT header and claims
//! decoded and its signature verified with the public key, a fresh assertion per request,
//! and no secret in Debug or errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantkit_core::{ErrorKind, Grant, RefreshToken};
use grantkit_grants::{
    BodyFormat, CLIENT_ASSERTION_TYPE, ClientAuth, ClientCredentials, ClientGrant, ClientOptions,
    JwtBearer, JwtSigningKey, PasswordGrant, RefreshTokenGrant,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mockito::Matcher;
use serde_json::{Value, json};

use crate::support::*;

pub(crate) const ASSERTION_TYPE: &str =
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
pub(crate) const JWT: &str = "([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)";

pub(crate) fn key_file(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn read_key(name: &str) -> String {
    std::fs::read_to_string(key_file(name)).unwrap()
}

/// The JSON of a JWT's header and claims, decoded without verification.
pub(crate) fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let mut decode = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap()
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

/// The `client_assertion` of a captured form body (the last field).
pub(crate) fn form_assertion(body: &str) -> String {
    body.rsplit_once("&client_assertion=").unwrap().1.to_owned()
}

/// Verifies `jwt` as a server would: signature by `key`, `alg`, `iss`, `sub`, `aud`.
pub(crate) fn verify(
    jwt: &str,
    alg: Algorithm,
    key: &DecodingKey,
    client_id: &str,
    aud: &str,
) -> Value {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud", "jti"]);
    validation.validate_exp = false; // the manual clock is in 2030
    jsonwebtoken::decode::<Value>(jwt, key, &validation)
        .unwrap()
        .claims
}

/// A mock at `path` that matches `pattern` on a form body, records every body, and
/// answers with a token.
pub(crate) async fn recording_mock(
    server: &mut mockito::Server,
    path: &str,
    pattern: String,
    hits: usize,
) -> (mockito::Mock, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    let mock = server
        .mock("POST", path)
        .match_header("content-type", FORM)
        .match_header("accept", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(pattern))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body_from_request(move |request| {
            let body = String::from_utf8(request.body().unwrap().clone()).unwrap();
            seen.lock().unwrap().push(body);
            token_body("at", "").into_bytes()
        })
        .expect(hits)
        .create_async()
        .await;
    (mock, bodies)
}

#[tokio::test]
async fn client_secret_jwt_signs_a_fresh_hs256_assertion_per_request() {
    let mut server = mockito::Server::new_async().await;
    let pattern = format!(
        "^grant_type=client_credentials&scope=read&{ASSERTION_TYPE}&client_assertion={JWT}$"
    );
    let (mock, bodies) = recording_mock(&mut server, "/token", pattern, 2).await;

    let url = format!("{}/token", server.url());
    let clock = clock();
    let grant = ClientCredentials::form(&url, "app", "s3cret-for-hmac")
        .client_auth(ClientAuth::ClientSecretJwt)
        .map_client_options(|o| o.key_id("kid-1"))
        .scope("read");
    grant.fetch_token(&cx(&clock)).await.unwrap();
    clock.advance(Duration::from_secs(5));
    grant.fetch_token(&cx(&clock)).await.unwrap();
    mock.assert_async().await;

    let bodies = bodies.lock().unwrap().clone();
    let key = DecodingKey::from_secret(b"s3cret-for-hmac");
    let mut jtis = Vec::new();
    for (body, iat) in bodies.iter().zip([T0, T0 + 5]) {
        assert!(!body.contains("s3cret"), "{body}");
        let jwt = form_assertion(body);
        let (header, claims) = parts(&jwt);
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "HS256", "kid": "kid-1"})
        );
        let jti = claims["jti"].as_str().unwrap().to_owned();
        assert_eq!(jti.len(), 32);
        assert_eq!(
            claims,
            json!({"iss": "app", "sub": "app", "aud": url, "jti": jti, "iat": iat, "exp": iat + 60})
        );
        assert_eq!(verify(&jwt, Algorithm::HS256, &key, "app", &url), claims);
        jtis.push(jti);
    }
    assert_ne!(jtis[0], jtis[1]);
}

#[tokio::test]
async fn private_key_jwt_signs_with_every_algorithm_and_verifies_with_the_public_key() {
    let cases = [
        (
            "RS256",
            "test-only-rsa-pkcs8.pem",
            "test-only-rsa-public.pem",
        ),
        (
            "RS256",
            "test-only-rsa-pkcs1.pem",
            "test-only-rsa-public.pem",
        ),
        (
            "RS384",
            "test-only-rsa-pkcs8.pem",
            "test-only-rsa-public.pem",
        ),
        (
            "RS512",
            "test-only-rsa-pkcs1.pem",
            "test-only-rsa-public.pem",
        ),
        (
            "PS256",
            "test-only-rsa-pkcs8.pem",
            "test-only-rsa-public.pem",
        ),
        (
            "ES256",
            "test-only-ec-p256-pkcs8.pem",
            "test-only-ec-p256-public.pem",
        ),
        (
            "ES384",
            "test-only-ec-p384-pkcs8.pem",
            "test-only-ec-p384-public.pem",
        ),
        (
            "EdDSA",
            "test-only-ed25519-pkcs8.pem",
            "test-only-ed25519-public.pem",
        ),
    ];
    for (alg, private, public) in cases {
        let mut server = mockito::Server::new_async().await;
        let pattern =
            format!("^grant_type=client_credentials&{ASSERTION_TYPE}&client_assertion={JWT}$");
        let (mock, bodies) = recording_mock(&mut server, "/token", pattern, 1).await;
        let url = format!("{}/token", server.url());
        let key = JwtSigningKey::from_pem_file(alg, key_file(private)).unwrap();
        assert_eq!(key.algorithm_name(), alg);
        let grant = ClientCredentials::new(
            &url,
            ClientOptions::new("svc")
                .client_auth(ClientAuth::PrivateKeyJwt)
                .private_key(key)
                .key_id("rsa-1"),
        );
        grant.fetch_token(&cx(&clock())).await.unwrap();
        mock.assert_async().await;

        let jwt = form_assertion(&bodies.lock().unwrap()[0]);
        let (header, claims) = parts(&jwt);
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": alg, "kid": "rsa-1"}),
            "{alg}"
        );
        let public = read_key(public);
        let (algorithm, decoding) = match alg {
            "ES256" => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(public.as_bytes()),
            ),
            "ES384" => (
                Algorithm::ES384,
                DecodingKey::from_ec_pem(public.as_bytes()),
            ),
            "EdDSA" => (
                Algorithm::EdDSA,
                DecodingKey::from_ed_pem(public.as_bytes()),
            ),
            rsa => (
                rsa.parse().unwrap(),
                DecodingKey::from_rsa_pem(public.as_bytes()),
            ),
        };
        let verified = verify(&jwt, algorithm, &decoding.unwrap(), "svc", &url);
        assert_eq!(verified, claims);
        assert_eq!(claims["iat"], T0);
        assert_eq!(claims["exp"], T0 + 60);
    }
}

#[test]
fn bad_algorithms_keys_and_files_are_config_errors_without_the_key() {
    let rsa = read_key("test-only-rsa-pkcs8.pem");
    let secret_line = rsa.lines().nth(1).unwrap();
    for (result, message) in [
        (
            JwtSigningKey::from_pem("HS256", rsa.clone()),
            "unknown signing algorithm \"HS256\"; expected one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA",
        ),
        (
            JwtSigningKey::from_pem("ES256", rsa.clone()),
            "the private key is not a PEM ES256 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)",
        ),
        (
            JwtSigningKey::from_pem_file("RS256", "/nonexistent/key.pem"),
            "cannot read the private key file /nonexistent/key.pem",
        ),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.to_string(), message);
        assert_no_secret(&error_texts(&err), &[secret_line]);
    }
}

#[tokio::test]
async fn every_grant_sends_the_assertion_through_the_same_path() {
    let mut server = mockito::Server::new_async().await;
    let url = format!("{}/token", server.url());
    let key =
        || JwtSigningKey::from_pem_file("ES256", key_file("test-only-ec-p256-pkcs8.pem")).unwrap();
    let options = || {
        ClientOptions::form("app", "unused-secret")
            .client_auth(ClientAuth::PrivateKeyJwt)
            .private_key(key())
    };
    let public =
        DecodingKey::from_ec_pem(read_key("test-only-ec-p256-public.pem").as_bytes()).unwrap();

    // Password, JSON body (the legacy endpoints' order): the assertion members follow
    // the grant's own.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let password = server
        .mock("POST", "/token")
        .match_header("content-type", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(format!(
            "^\\{{\"username\":\"me\",\"password\":\"pw\",\"grant_type\":\"password\",\"client_assertion_type\":\"{CLIENT_ASSERTION_TYPE}\",\"client_assertion\":\"{JWT}\"\\}}$"
        )))
        .with_status(200)
        .with_body_from_request(move |request| {
            let body: Value = serde_json::from_slice(request.body().unwrap()).unwrap();
            record.lock().unwrap().push(body["client_assertion"].as_str().unwrap().to_owned());
            token_body("at-pw", "").into_bytes()
        })
        .expect(1)
        .create_async()
        .await;
    PasswordGrant::new(&url, options().body(BodyFormat::Json), "me", "pw")
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    password.assert_async().await;
    password.remove_async().await;

    // Refresh, form body.
    let (refresh, bodies) = recording_mock(
        &mut server,
        "/token",
        format!(
            "^grant_type=refresh_token&refresh_token=rt-1&{ASSERTION_TYPE}&client_assertion={JWT}$"
        ),
        1,
    )
    .await;
    RefreshTokenGrant::new(&url, options())
        .refresh(&cx(&clock()), &RefreshToken::new("rt-1"))
        .await
        .unwrap();
    refresh.assert_async().await;
    refresh.remove_async().await;
    seen.lock()
        .unwrap()
        .push(form_assertion(&bodies.lock().unwrap()[0]));

    // JWT bearer grant with client authentication: two assertions, two keys.
    let (bearer, bodies) = recording_mock(
        &mut server,
        "/token",
        format!("^assertion={JWT}&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&{ASSERTION_TYPE}&client_assertion={JWT}$"),
        1,
    )
    .await;
    JwtBearer::new(
        &url,
        "issuer@example.com",
        JwtSigningKey::hs256("grant-key"),
    )
    .map_client_options(|_| options())
    .fetch_token(&cx(&clock()))
    .await
    .unwrap();
    bearer.assert_async().await;
    seen.lock()
        .unwrap()
        .push(form_assertion(&bodies.lock().unwrap()[0]));

    let assertions = seen.lock().unwrap().clone();
    assert_eq!(assertions.len(), 3);
    for jwt in &assertions {
        assert_eq!(parts(jwt).0, json!({"typ": "JWT", "alg": "ES256"}));
        verify(jwt, Algorithm::ES256, &public, "app", &url);
    }
}

#[tokio::test]
async fn the_audience_can_be_the_issuer_instead_of_the_token_endpoint() {
    let mut server = mockito::Server::new_async().await;
    let pattern =
        format!("^grant_type=client_credentials&{ASSERTION_TYPE}&client_assertion={JWT}$");
    let (mock, bodies) = recording_mock(&mut server, "/token", pattern, 1).await;
    ClientCredentials::form(format!("{}/token", server.url()), "app", "s")
        .client_auth(ClientAuth::ClientSecretJwt)
        .map_client_options(|o| o.assertion_audience("https://auth.example.com"))
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    mock.assert_async().await;
    let jwt = form_assertion(&bodies.lock().unwrap()[0]);
    assert_eq!(parts(&jwt).1["aud"], "https://auth.example.com");
}

#[tokio::test]
async fn none_sends_the_client_id_and_never_the_secret() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&client_id=app&scope=read".into(),
        ))
        .with_status(200)
        .with_body(token_body("at", ""))
        .expect(1)
        .create_async()
        .await;
    ClientCredentials::form(format!("{}/token", server.url()), "app", "s3cret")
        .client_auth(ClientAuth::None)
        .scope("read")
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn a_missing_key_or_secret_is_a_config_error_before_any_request() {
    let url = "https://a.example/token";
    let hs = JwtSigningKey::hs256("hmac-key-value");
    let cases = [
        (
            ClientCredentials::new(
                url,
                ClientOptions::new("app").client_auth(ClientAuth::ClientSecretJwt),
            ),
            "client_secret_jwt signs with the client secret, and none is set",
        ),
        (
            ClientCredentials::new(
                url,
                ClientOptions::form("app", "s").client_auth(ClientAuth::PrivateKeyJwt),
            ),
            "private_key_jwt needs a private key (ClientOptions::private_key) or a client assertion made elsewhere (ClientOptions::client_assertion_file)",
        ),
        (
            ClientCredentials::new(
                url,
                ClientOptions::new("app")
                    .client_auth(ClientAuth::PrivateKeyJwt)
                    .private_key(hs),
            ),
            "private_key_jwt needs an asymmetric key (RS256, ES256, …), not an HS256 secret",
        ),
        (
            ClientCredentials::form(url, "app", "s")
                .client_auth(ClientAuth::ClientSecretJwt)
                .param("client_assertion", "forged"),
            "the parameter \"client_assertion\" is set by the grant itself and cannot be given as an extra parameter; use the grant's own setter",
        ),
    ];
    for (grant, message) in cases {
        // No server: a request would fail with a transport error instead.
        let err = grant.fetch_token(&cx(&clock())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.to_string(), message);
        assert_no_secret(&error_texts(&err), &["hmac-key-value"]);
    }
}

#[test]
fn debug_shows_the_method_and_kid_never_the_secret_or_key() {
    let rsa = read_key("test-only-rsa-pkcs8.pem");
    let grant = ClientCredentials::new(
        "https://a.example/token",
        ClientOptions::form("app", "s3cret-value")
            .client_auth(ClientAuth::PrivateKeyJwt)
            .private_key(JwtSigningKey::from_pem("RS256", rsa.clone()).unwrap())
            .key_id("kid-9"),
    );
    let debug = format!("{grant:?}");
    assert!(debug.contains("PrivateKeyJwt"), "{debug}");
    assert!(debug.contains("kid-9"), "{debug}");
    assert!(debug.contains("RS256"), "{debug}");
    assert_no_secret(
        &debug,
        &["s3cret-value", "PRIVATE KEY", rsa.lines().nth(1).unwrap()],
    );
}

#[tokio::test]
async fn the_jwt_bearer_grant_signs_with_a_pem_key_too() {
    let mut server = mockito::Server::new_async().await;
    let pattern = format!(
        "^assertion={JWT}&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer$"
    );
    let (mock, bodies) = recording_mock(&mut server, "/token", pattern, 1).await;
    let url = format!("{}/token", server.url());
    let key = JwtSigningKey::from_pem_file("RS256", key_file("test-only-rsa-pkcs1.pem")).unwrap();
    JwtBearer::new(&url, "svc@example.com", key)
        .key_id("rsa-kid")
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    mock.assert_async().await;

    let body = bodies.lock().unwrap()[0].clone();
    let jwt = body
        .strip_prefix("assertion=")
        .and_then(|rest| rest.split('&').next())
        .unwrap();
    let (header, _) = parts(jwt);
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "RS256", "kid": "rsa-kid"})
    );
    let public =
        DecodingKey::from_rsa_pem(read_key("test-only-rsa-public.pem").as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&url]);
    validation.set_issuer(&["svc@example.com"]);
    validation.validate_exp = false; // the manual clock is in 2030
    let claims = jsonwebtoken::decode::<Value>(jwt, &public, &validation)
        .unwrap()
        .claims;
    assert_eq!(
        claims,
        json!({"iss": "svc@example.com", "aud": url, "iat": T0, "exp": T0 + 3600})
    );
}
