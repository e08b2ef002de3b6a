//! Auth0: `POST https://{domain}/oauth/token`, the audience, the secret in the body or a
//! `private_key_jwt` assertion with `aud` = `https://{domain}/`.

use grantkit::BodyFormat;
use grantkit::presets::{self, Auth0};

use super::*;

#[tokio::test]
async fn auth0_sends_the_documented_form_body_with_the_secret() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, "/oauth/token", FORM, None, TOKEN).await;
    let preset = Auth0::new(server.url(), "app", "https://api.example.com")
        .client_secret("s3cret")
        .organization("org_W2v1");
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    assert_eq!(
        body,
        "grant_type=client_credentials&client_id=app&client_secret=s3cret&audience=https%3A%2F%2Fapi.example.com&organization=org_W2v1"
    );
}

#[tokio::test]
async fn auth0_json_body_carries_the_same_fields() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) =
        token_mock(&mut server, "/oauth/token", "application/json", None, TOKEN).await;
    let preset = Auth0::new(server.url(), "app", "https://api.example.com")
        .client_secret("s3cret")
        .body(BodyFormat::Json);
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    assert_eq!(
        body,
        r#"{"grant_type":"client_credentials","client_id":"app","client_secret":"s3cret","audience":"https://api.example.com"}"#
    );
}

#[tokio::test]
async fn auth0_private_key_jwt_has_the_tenant_as_audience() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, "/oauth/token", FORM, None, TOKEN).await;
    let preset = Auth0::new(
        format!("{}/", server.url()),
        "app",
        "https://api.example.com",
    )
    .private_key(rsa_key())
    .key_id("auth0-key-1");
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    let jwt = jwt_after(
        &body,
        &format!(
            "grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&{ASSERTION_TYPE}&client_assertion="
        ),
    );
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "auth0-key-1"})
    );
    let tenant = format!("{}/", server.url());
    let claims = verified_claims(jwt, Algorithm::RS256, &rsa_public(), &tenant);
    assert_client_assertion_claims(&claims, "app", &tenant);
}

#[test]
fn auth0_refuses_a_missing_audience_or_credential_up_front() {
    let e = Auth0::new("dev-1.us.auth0.com", "app", " ")
        .client_secret("s3cret")
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Auth0: missing field `audience` (the API identifier to issue the token for)"
    );
    let e = Auth0::new("dev-1.us.auth0.com", "app", "https://api")
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Auth0: missing field `client_secret` (or a private key: `private_key_file`)"
    );
    let e = Auth0::new("dev-1.us.auth0.com", "app", "https://api")
        .client_secret("s3cret")
        .private_key(rsa_key())
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Auth0: give a client secret or a private key, not both"
    );
    let e = presets::auth0("", "app", "s3cret", "https://api").unwrap_err();
    assert_eq!(e.to_string(), "Auth0: missing field `domain`");
}

#[test]
fn auth0_from_the_environment() {
    let vars = [
        ("AUTH0_DOMAIN", "dev-1.us.auth0.com"),
        ("AUTH0_CLIENT_ID", "app"),
        ("AUTH0_CLIENT_SECRET", "s3cret"),
        ("AUTH0_AUDIENCE", "https://api.example.com"),
    ];
    let lookup = |skip: &'static str| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name && *k != skip)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let preset = Auth0::from_lookup(lookup("")).unwrap();
    assert_eq!(
        preset.token_endpoint().unwrap(),
        "https://dev-1.us.auth0.com/oauth/token"
    );
    let manager = preset.builder().unwrap().build().unwrap();
    assert_eq!(
        manager.identity().audience(),
        Some("https://api.example.com")
    );
    assert_eq!(
        Auth0::from_lookup(lookup("AUTH0_AUDIENCE"))
            .unwrap_err()
            .to_string(),
        "environment variable AUTH0_AUDIENCE is not set"
    );
}
