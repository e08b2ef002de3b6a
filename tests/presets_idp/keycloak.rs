//! Keycloak: `{base_url}/realms/{realm}/protocol/openid-connect/token` with the secret in
//! HTTP Basic, `client_secret_jwt` or `private_key_jwt` (`aud` = the realm's issuer).

use grantkit::ClientAuth;
use grantkit::presets::Keycloak;

use super::*;

const PATH: &str = "/auth/realms/acme/protocol/openid-connect/token";

#[tokio::test]
async fn keycloak_client_id_and_secret_use_basic() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) =
        token_mock(&mut server, PATH, FORM, Some(basic("svc", "s3cret")), TOKEN).await;
    let builder =
        grantkit::presets::keycloak(format!("{}/auth", server.url()), "acme", "svc", "s3cret")
            .unwrap();
    assert_eq!(
        fetch_one(builder, mock, &bodies).await,
        "grant_type=client_credentials"
    );
}

#[tokio::test]
async fn keycloak_client_secret_jwt_is_hs256_over_the_secret() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
    let preset = Keycloak::new(format!("{}/auth/", server.url()), "acme", "svc")
        .client_secret("s3cret-for-hmac")
        .client_auth(ClientAuth::ClientSecretJwt)
        .scope("profile");
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    assert!(!body.contains("s3cret"), "{body}");
    let jwt = jwt_after(
        &body,
        &format!("grant_type=client_credentials&scope=profile&{ASSERTION_TYPE}&client_assertion="),
    );
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "HS256"})
    );
    let issuer = format!("{}/auth/realms/acme", server.url());
    let key = DecodingKey::from_secret(b"s3cret-for-hmac");
    assert_client_assertion_claims(
        &verified_claims(jwt, Algorithm::HS256, &key, &issuer),
        "svc",
        &issuer,
    );
}

#[tokio::test]
async fn keycloak_signed_jwt_with_an_ec_key() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
    let key =
        JwtSigningKey::from_pem_file("ES256", key_path("test-only-ec-p256-pkcs8.pem")).unwrap();
    let preset = Keycloak::new(format!("{}/auth", server.url()), "acme", "svc")
        .private_key(key)
        .key_id("kc-ec");
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    let jwt = jwt_after(
        &body,
        &format!("grant_type=client_credentials&{ASSERTION_TYPE}&client_assertion="),
    );
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": "kc-ec"})
    );
    let public = std::fs::read_to_string(key_path("test-only-ec-p256-public.pem")).unwrap();
    let issuer = format!("{}/auth/realms/acme", server.url());
    assert_client_assertion_claims(
        &verified_claims(
            jwt,
            Algorithm::ES256,
            &DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
            &issuer,
        ),
        "svc",
        &issuer,
    );
}

#[test]
fn keycloak_names_a_missing_realm() {
    let e = Keycloak::new("https://sso.example.com", "", "svc")
        .client_secret("s")
        .builder()
        .unwrap_err();
    assert_eq!(e.to_string(), "Keycloak: missing field `realm`");
}
