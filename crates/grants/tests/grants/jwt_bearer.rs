//! JWT bearer (RFC 7523 §2.1) with HS256: the Disruptive Technologies format, every
//! header field and claim, fresh assertions, re-aiming.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantkit_core::Grant;
use grantkit_grants::{ClientGrant, JwtBearer, JwtSigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use mockito::Matcher;
use serde_json::{Value, json};

use crate::support::*;

const GRANT_TYPE: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
const BODY_PATTERN: &str = "^assertion=([A-Za-z0-9_-]+)\\.([A-Za-z0-9_-]+)\\.([A-Za-z0-9_-]+)&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer$";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON of a JWT's header and claims, decoded without verification.
fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let mut decode = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap()
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

/// The assertion of a captured form body.
fn assertion_of(body: &str) -> String {
    body.strip_prefix("assertion=")
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .to_owned()
}

/// A mock that records every body it receives and answers with a token.
async fn recording_mock(
    server: &mut mockito::Server,
    path: &str,
    hits: usize,
) -> (mockito::Mock, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    let mock = server
        .mock("POST", path)
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(BODY_PATTERN.into()))
        .with_status(200)
        .with_body_from_request(move |request| {
            let body = String::from_utf8(request.body().unwrap().clone()).unwrap();
            seen.lock().unwrap().push(body);
            token_body("dt-at", "").into_bytes()
        })
        .expect(hits)
        .create_async()
        .await;
    (mock, bodies)
}

#[tokio::test]
async fn disruptive_technologies_format_byte_for_byte() {
    let mut server = mockito::Server::new_async().await;
    let url = format!("{}/oauth2/token", server.url());

    // The assertion the seed describes, assembled by hand: header {"alg":"HS256","kid":…}
    // with jsonwebtoken's "typ":"JWT" first, then iss, aud, iat, exp.
    let header = r#"{"typ":"JWT","alg":"HS256","kid":"dt-key-id"}"#;
    let claims = format!(
        r#"{{"iss":"svc@proj.serviceaccount.d21s.com","aud":"{url}","iat":{T0},"exp":{}}}"#,
        T0 + 3600
    );
    let message = format!("{}.{}", b64(header), b64(&claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(b"dt-secret"),
        Algorithm::HS256,
    )
    .unwrap();
    let expected_jwt = format!("{message}.{signature}");

    let mock = server
        .mock("POST", "/oauth2/token")
        .match_header("content-type", FORM)
        .match_header("accept", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(format!(
            "assertion={expected_jwt}&{GRANT_TYPE}"
        )))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(r#"{"access_token":"dt-at","token_type":"bearer","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;

    let grant = JwtBearer::hs256(
        &url,
        "dt-key-id",
        "svc@proj.serviceaccount.d21s.com",
        "dt-secret",
    );
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
    assert_eq!(token.authorization_header(), "Bearer dt-at");
    // A second before `expires_in` runs out: it counts whole seconds.
    assert_eq!(token.expires_at(), t0() + Duration::from_secs(3599));

    // The same assertion, decoded and verified as a server would.
    let (header, claims) = parts(&expected_jwt);
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "HS256", "kid": "dt-key-id"})
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[&url]);
    validation.set_issuer(&["svc@proj.serviceaccount.d21s.com"]);
    validation.validate_exp = false; // the manual clock is in 2030
    let verified = jsonwebtoken::decode::<Value>(
        &expected_jwt,
        &DecodingKey::from_secret(b"dt-secret"),
        &validation,
    )
    .unwrap();
    assert_eq!(verified.header.kid.as_deref(), Some("dt-key-id"));
    assert_eq!(verified.claims["iat"], T0);
}

#[tokio::test]
async fn every_claim_and_a_fresh_assertion_per_request() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = recording_mock(&mut server, "/token", 2).await;

    let clock = clock();
    let grant = JwtBearer::new(
        format!("{}/token", server.url()),
        "issuer@example.com",
        JwtSigningKey::hs256("another-secret"),
    )
    .key_id("k2")
    .subject("user-42")
    .audience("https://identity.example.com")
    .lifetime(Duration::from_secs(300))
    .jti(true)
    .claim("scope", "read write")
    .claim("tenant", 7);

    grant.fetch_token(&cx(&clock)).await.unwrap();
    clock.advance(Duration::from_secs(90));
    grant.fetch_token(&cx(&clock)).await.unwrap();
    mock.assert_async().await;

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    let mut jtis = HashSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let jwt = assertion_of(body);
        let (header, claims) = parts(&jwt);
        assert_eq!(header, json!({"typ": "JWT", "alg": "HS256", "kid": "k2"}));
        let iat = T0 + 90 * i as u64;
        let jti = claims["jti"].as_str().unwrap().to_owned();
        assert_eq!(jti.len(), 32);
        assert!(jti.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(jtis.insert(jti.clone()), "jti reused");
        assert_eq!(
            claims,
            json!({
                "iss": "issuer@example.com",
                "sub": "user-42",
                "aud": "https://identity.example.com",
                "iat": iat,
                "exp": iat + 300,
                "jti": jti,
                "scope": "read write",
                "tenant": 7,
            })
        );
        // The claim order is fixed too.
        let keys: Vec<_> = claims.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["iss", "sub", "aud", "iat", "exp", "jti", "scope", "tenant"]
        );
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            300
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["https://identity.example.com"]);
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(
            &jwt,
            &DecodingKey::from_secret(b"another-secret"),
            &validation,
        )
        .unwrap();
    }
    assert_ne!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn scope_and_extra_params_follow_the_grant_type() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .match_body(Matcher::Regex(format!(
            "^assertion=[A-Za-z0-9_.-]+&{GRANT_TYPE}&scope=a\\+b&client_id=app$"
        )))
        .with_status(200)
        .with_body(token_body("at", ""))
        .expect(1)
        .create_async()
        .await;
    let grant = JwtBearer::hs256(format!("{}/token", server.url()), "k", "iss", "s")
        .scope("a b")
        .param("client_id", "app");
    grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn the_assertion_and_key_never_show() {
    let grant = JwtBearer::hs256("https://a.example/token", "k", "svc", "hs-key-material");
    let assertion = grant.assertion(t0()).unwrap();
    assert_eq!(format!("{assertion:?}"), "Assertion([redacted])");
    let shown = format!(
        "{grant:?} {:?} {}",
        grant.identity(),
        grant.identity().cache_key()
    );
    assert_no_secret(&shown, &["hs-key-material", assertion.secret()]);
}

#[tokio::test]
async fn an_over_long_lifetime_is_refused_before_any_request() {
    // Issue 13, item 1: the lifetime is capped by the grant's rule, up front.
    let mut server = mockito::Server::new_async().await;
    let mock = server.mock("POST", "/token").expect(0).create_async().await;
    let url = format!("{}/token", server.url());
    let grant = JwtBearer::hs256(&url, "kid", "svc", "lifetime-secret")
        .max_lifetime(Duration::from_secs(3600))
        .lifetime(Duration::from_secs(3601));
    let err = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(err.kind(), grantkit_core::ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "the JWT lifetime is 3601 s; the server accepts at most 3600 s"
    );
    mock.assert_async().await;
    // At the cap, it signs.
    let at_cap = grant.lifetime(Duration::from_secs(3600));
    let jwt = at_cap.assertion(t0()).unwrap();
    let (_, claims) = parts(jwt.secret());
    assert_eq!(claims["exp"], T0 + 3600);
}
