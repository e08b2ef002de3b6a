//! Okta: a service app's `private_key_jwt` to `/oauth2/default/v1/token` (or a named
//! custom server), a secret with HTTP Basic, the org server's `/oauth2/v1/token`.

use grantkit::presets::Okta;

use super::*;

#[tokio::test]
async fn okta_service_app_signs_private_key_jwt_for_the_default_server() {
    let mut server = mockito::Server::new_async().await;
    let path = "/oauth2/default/v1/token";
    let (mock, bodies) = token_mock(&mut server, path, FORM, None, TOKEN).await;
    let builder =
        grantkit::presets::okta(server.url(), "0oa1svc", rsa_key(), "api.read api.write").unwrap();
    let body = fetch_one(builder, mock, &bodies).await;
    let jwt = jwt_after(
        &body,
        &format!(
            "grant_type=client_credentials&scope=api.read+api.write&{ASSERTION_TYPE}&client_assertion="
        ),
    );
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "RS256"})
    );
    let aud = format!("{}{path}", server.url());
    let claims = verified_claims(jwt, Algorithm::RS256, &rsa_public(), &aud);
    assert_client_assertion_claims(&claims, "0oa1svc", &aud);
}

#[tokio::test]
async fn okta_custom_server_and_key_id() {
    let mut server = mockito::Server::new_async().await;
    let path = "/oauth2/aus9xyz/v1/token";
    let (mock, bodies) = token_mock(&mut server, path, FORM, None, TOKEN).await;
    let preset = Okta::new(server.url(), "0oa1svc", "api.read")
        .private_key(rsa_key())
        .key_id("okta-kid")
        .authorization_server("aus9xyz");
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    let jwt = jwt_after(
        &body,
        &format!("grant_type=client_credentials&scope=api.read&{ASSERTION_TYPE}&client_assertion="),
    );
    assert_eq!(header(jwt)["kid"], "okta-kid");
    let aud = format!("{}{path}", server.url());
    assert_client_assertion_claims(
        &verified_claims(jwt, Algorithm::RS256, &rsa_public(), &aud),
        "0oa1svc",
        &aud,
    );
}

#[tokio::test]
async fn okta_org_server_with_a_secret_uses_basic() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(
        &mut server,
        "/oauth2/v1/token",
        FORM,
        Some(basic("0oa1svc", "s3cret")),
        TOKEN,
    )
    .await;
    let preset = Okta::new(server.url(), "0oa1svc", "okta.users.read")
        .client_secret("s3cret")
        .org_authorization_server();
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    assert_eq!(body, "grant_type=client_credentials&scope=okta.users.read");
}

#[test]
fn okta_requires_scopes_up_front() {
    let e = Okta::new("dev-1.okta.com", "0oa1svc", "")
        .private_key(rsa_key())
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Okta: missing field `scope` (Okta's client credentials flow needs at least one)"
    );
    let e = Okta::new("dev-1.okta.com", "0oa1svc", "api.read")
        .authorization_server("")
        .client_secret("s")
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Okta: field `authorization_server` must be an authorization server's id"
    );
}

#[tokio::test]
async fn okta_from_the_management_sdk_variables() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, "/oauth2/v1/token", FORM, None, TOKEN).await;
    let vars = std::collections::HashMap::from([
        ("OKTA_CLIENT_ORGURL", server.url()),
        ("OKTA_CLIENT_CLIENTID", "0oa1svc".to_owned()),
        (
            "OKTA_CLIENT_PRIVATEKEY",
            key_path("test-only-rsa-pkcs1.pem"),
        ),
        (
            "OKTA_CLIENT_SCOPES",
            "okta.users.read, okta.apps.read".to_owned(),
        ),
        ("OKTA_CLIENT_KID", "env-kid".to_owned()),
    ]);
    let preset = Okta::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
    let jwt = jwt_after(
        &body,
        &format!(
            "grant_type=client_credentials&scope=okta.users.read+okta.apps.read&{ASSERTION_TYPE}&client_assertion="
        ),
    );
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "env-kid"})
    );
    let aud = format!("{}/oauth2/v1/token", server.url());
    assert_client_assertion_claims(
        &verified_claims(jwt, Algorithm::RS256, &rsa_public(), &aud),
        "0oa1svc",
        &aud,
    );
    // The key inline, as PEM text, works the same; a missing variable is named.
    let pem = std::fs::read_to_string(key_path("test-only-rsa-pkcs8.pem")).unwrap();
    let mut inline = vars.clone();
    inline.insert("OKTA_CLIENT_PRIVATEKEY", pem);
    assert!(Okta::from_lookup(|k| inline.get(k).cloned()).is_ok());
    let e = Okta::from_lookup(|k| {
        (k != "OKTA_CLIENT_SCOPES")
            .then(|| vars.get(k).cloned())
            .flatten()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable OKTA_CLIENT_SCOPES is not set"
    );
}
