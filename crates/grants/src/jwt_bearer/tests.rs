//! Unit tests of the JWT-bearer grant.

use super::*;
use crate::options::ClientGrant as _;

fn grant() -> JwtBearer {
    JwtBearer::hs256(
        "https://a.example/token",
        "kid-1",
        "svc@example.com",
        "hs-secret",
    )
}

#[test]
fn reserved_claims_and_params_are_refused() {
    for claim in RESERVED_CLAIMS {
        let e = grant().claim(*claim, "x").validate().unwrap_err();
        assert_eq!(e.kind(), grantkit_core::ErrorKind::Config);
    }
    assert!(grant().param("assertion", "x").validate().is_err());
    assert!(
        grant()
            .lifetime(Duration::from_millis(999))
            .validate()
            .is_err()
    );
    assert!(grant().claim("custom", 1).validate().is_ok());
}

#[test]
fn assertion_lifetime_drops_fractions_and_jti_is_fresh() {
    let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
    let g = grant().lifetime(Duration::from_millis(60_500)).jti(true);
    let claims = |a: &Assertion| -> Value {
        use base64::Engine as _;
        let payload = a.secret().split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let a = claims(&g.assertion(now).unwrap());
    let b = claims(&g.assertion(now).unwrap());
    assert_eq!(a["iat"], 1_700_000_000);
    assert_eq!(a["exp"], 1_700_000_060);
    assert_eq!(a["jti"].as_str().unwrap().len(), 32);
    assert_ne!(a["jti"], b["jti"]);
}

#[test]
fn identity_changes_with_every_token_relevant_setting() {
    let keys = [
        grant(),
        grant().subject("u"),
        grant().audience("https://other"),
        grant().key_id("kid-2"),
        grant().claim("scope", "x"),
        grant().scope("x"),
        grant().param("client_id", "x"),
        JwtBearer::hs256("https://a.example/token", "kid-1", "other@example.com", "s"),
    ]
    .map(|g| g.identity().cache_key());
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    assert!(keys[0].starts_with("jwt_bearer:svc@example.com:"));
}

#[test]
fn the_audience_defaults_to_the_token_url_and_an_explicit_one_wins() {
    let local = JwtBearer::hs256("http://127.0.0.1:9/token", "kid-1", "svc", "s");
    assert_eq!(
        local.identity().audience(),
        Some("http://127.0.0.1:9/token")
    );
    let pinned = local.audience("https://a.example/token");
    assert_eq!(
        pinned.identity().audience(),
        Some("https://a.example/token")
    );
}

#[test]
fn client_authentication_is_optional_and_reserves_its_names_when_used() {
    assert!(grant().param("client_id", "x").validate().is_ok());
    let with_client = grant().map_client_options(|o| o.client_secret("cs"));
    assert!(
        with_client.validate().is_err(),
        "a secret without a client id"
    );
    let with_client = grant().map_client_options(|_| ClientOptions::form("app", "cs"));
    assert!(with_client.validate().is_ok());
    assert!(with_client.param("client_id", "x").validate().is_err());
}

#[test]
fn debug_redacts_the_key() {
    let dbg = format!("{:?}", grant());
    assert!(!dbg.contains("hs-secret"), "{dbg}");
    assert!(dbg.contains("Hs256(SigningKey([redacted]))"), "{dbg}");
}
