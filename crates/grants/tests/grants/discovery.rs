//! Discovery (RFC 8414 / OpenID Connect): the metadata request on the wire, the fallback
//! order, every check of the document, and the checks of the client against it. The
//! cache is tested in `discovery_cache.rs`.

use grantkit_core::{ErrorKind, Grant, TokenEndpoint};
use grantkit_grants::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, JwtBearer, JwtSigningKey,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use mockito::{Matcher, Mock, Server};

use crate::client_assertion::{JWT, form_assertion, read_key, recording_mock, verify};
use crate::support::*;

pub(crate) const OIDC: &str = "/.well-known/openid-configuration";

/// A metadata document for `issuer` with these extra members (`,"name":…`).
pub(crate) fn metadata(issuer: &str, token_endpoint: &str, extra: &str) -> String {
    format!(r#"{{"issuer":"{issuer}","token_endpoint":"{token_endpoint}"{extra}}}"#)
}

/// The metadata request exactly: `GET path`, `Accept: application/json`, no credentials.
pub(crate) async fn metadata_mock(
    server: &mut Server,
    path: &str,
    body: String,
    hits: usize,
) -> Mock {
    server
        .mock("GET", path)
        .match_header("accept", JSON)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(String::new()))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(body)
        .expect(hits)
        .create_async()
        .await
}

/// A client-credentials token endpoint at `path` answering `access`.
pub(crate) async fn token_mock(server: &mut Server, path: &str, access: &str, hits: usize) -> Mock {
    server
        .mock("POST", path)
        .match_header("content-type", FORM)
        .match_header("authorization", basic("app:s3cret").as_str())
        .match_body(Matcher::Exact("grant_type=client_credentials".into()))
        .with_status(200)
        .with_body(token_body(access, "").replace("3600", "120"))
        .expect(hits)
        .create_async()
        .await
}

fn es256() -> JwtSigningKey {
    JwtSigningKey::from_pem("ES256", read_key("test-only-ec-p256-pkcs8.pem")).unwrap()
}

pub(crate) fn grant(issuer: &str) -> ClientCredentials {
    ClientCredentials::discover(issuer, ClientOptions::form("app", "s3cret"))
}

#[tokio::test]
async fn the_token_endpoint_comes_from_the_openid_configuration_of_the_issuer() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(&issuer, &format!("{issuer}/oauth2/token"), ""),
        1,
    )
    .await;
    let token = token_mock(&mut server, "/oauth2/token", "at-1", 1).await;

    let grant = grant(&issuer);
    let got = grant.fetch_token(&cx(&clock())).await.unwrap();
    assert_eq!(got.authorization_header(), "Bearer at-1");
    meta.assert_async().await;
    token.assert_async().await;
    // The identity names the issuer, known before anything is fetched, so the store key
    // does not change when the server moves its token endpoint.
    assert_eq!(grant.identity().token_url(), issuer);
    assert_eq!(grant.token_url(), issuer);
}

#[tokio::test]
async fn an_issuer_with_a_path_falls_back_on_4xx_to_rfc_8414_path_insertion() {
    let mut server = Server::new_async().await;
    let base = server.url();
    let issuer = format!("{base}/tenant/1/");
    let mut refused = Vec::new();
    for (path, status) in [
        ("/tenant/1/.well-known/openid-configuration", 404),
        ("/.well-known/openid-configuration/tenant/1", 403),
    ] {
        refused.push(
            server
                .mock("GET", path)
                .with_status(status)
                .with_body("<html>nope</html>")
                .expect(1)
                .create_async()
                .await,
        );
    }
    let meta = metadata_mock(
        &mut server,
        "/.well-known/oauth-authorization-server/tenant/1",
        metadata(&issuer, &format!("{base}/t"), ""),
        1,
    )
    .await;
    let token = token_mock(&mut server, "/t", "at-1", 1).await;

    let got = grant(&issuer).fetch_token(&cx(&clock())).await.unwrap();
    assert_eq!(got.authorization_header(), "Bearer at-1");
    for mock in refused {
        mock.assert_async().await;
    }
    meta.assert_async().await;
    token.assert_async().await;
}

#[tokio::test]
async fn every_url_refused_is_one_error_listing_them() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let gone = server
        .mock("GET", Matcher::Any)
        .with_status(404)
        .expect(2)
        .create_async()
        .await;
    let e = grant(&issuer).fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!(
            "no authorization server metadata for issuer \"{issuer}\": {issuer}{OIDC} (HTTP 404), \
             {issuer}/.well-known/oauth-authorization-server (HTTP 404); check the issuer"
        )
    );
    gone.assert_async().await;
}

/// Runs the grant against a server whose metadata is `body` (status, content type), and
/// returns the error; no token request may be made.
async fn refused_metadata(
    status: usize,
    content_type: &str,
    body: &str,
) -> (grantkit_core::Error, String) {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = server
        .mock("GET", OIDC)
        .with_status(status)
        .with_header("content-type", content_type)
        .with_body(body.replace("{issuer}", &issuer))
        .expect(1)
        .create_async()
        .await;
    let token = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let e = grant(&issuer).fetch_token(&cx(&clock())).await.unwrap_err();
    meta.assert_async().await;
    token.assert_async().await;
    let prefix = format!("authorization server metadata at {issuer}{OIDC}");
    assert!(e.to_string().starts_with(&prefix), "{e}");
    (e, issuer)
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused() {
    let (e, issuer) = refused_metadata(
        200,
        JSON,
        r#"{"issuer":"https://evil.example","token_endpoint":"{issuer}/t"}"#,
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!(
            "authorization server metadata at {issuer}{OIDC}: the metadata names the issuer \
             \"https://evil.example\", not the configured \"{issuer}\" (RFC 8414 §3.3 \
             requires them to be identical)"
        )
    );
}

#[tokio::test]
async fn a_plain_http_endpoint_that_is_not_loopback_is_refused() {
    let (e, _) = refused_metadata(
        200,
        JSON,
        r#"{"issuer":"{issuer}","token_endpoint":"http://auth.example.com/token"}"#,
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains(
            "token_endpoint: refusing to send credentials over plain http to \"auth.example.com\""
        ),
        "{e}"
    );
}

#[tokio::test]
async fn an_html_page_is_a_typed_error_naming_the_url() {
    let (e, _) = refused_metadata(
        200,
        "text/html; charset=utf-8",
        "<!doctype html><p>Login</p>",
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(
        e.to_string().ends_with(
            ": the metadata document is not JSON (Content-Type: text/html; charset=utf-8)"
        ),
        "{e}"
    );
    let (e, _) = refused_metadata(502, "text/html", "<html>Bad gateway</html>").await;
    assert_eq!(e.kind(), ErrorKind::Status);
    assert_eq!(e.status(), Some(502));
    assert!(e.is_retryable());
    assert!(e.to_string().contains("answered HTTP 502"), "{e}");
}

#[tokio::test]
async fn a_document_without_token_endpoint_is_refused() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        format!(r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth"}}"#),
        1,
    )
    .await;
    let e = grant(&issuer).fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert_eq!(
        e.to_string(),
        format!("the authorization server metadata of issuer \"{issuer}\" has no token_endpoint")
    );
    meta.assert_async().await;
}

#[tokio::test]
async fn unsupported_auth_methods_grant_types_and_algorithms_fail_before_any_token_request() {
    let cases: [(ClientCredentials, &str, String); 4] = [
        (
            grant("{issuer}"),
            r#","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt"]"#,
            "does not offer client_secret_basic client authentication \
             (token_endpoint_auth_methods_supported: client_secret_post, private_key_jwt); \
             set client_auth to one it offers"
                .into(),
        ),
        (
            grant("{issuer}")
                .client_auth(ClientAuth::PrivateKeyJwt)
                .map_client_options(|o| o.private_key(es256())),
            r#","token_endpoint_auth_methods_supported":["client_secret_basic"]"#,
            "does not offer private_key_jwt client authentication \
             (token_endpoint_auth_methods_supported: client_secret_basic); set client_auth to \
             one it offers"
                .into(),
        ),
        (
            grant("{issuer}"),
            r#","grant_types_supported":["authorization_code","refresh_token"]"#,
            "does not offer the client_credentials grant \
             (grant_types_supported: authorization_code, refresh_token)"
                .into(),
        ),
        (
            grant("{issuer}").client_auth(ClientAuth::ClientSecretJwt),
            r#","token_endpoint_auth_signing_alg_values_supported":["RS256","ES256"]"#,
            "does not accept client_secret_jwt assertions signed with HS256 \
             (token_endpoint_auth_signing_alg_values_supported: RS256, ES256)"
                .into(),
        ),
    ];
    for (template, extra, says) in cases {
        let mut server = Server::new_async().await;
        let issuer = server.url();
        let meta = metadata_mock(
            &mut server,
            OIDC,
            metadata(&issuer, &format!("{issuer}/t"), extra),
            1,
        )
        .await;
        let token = server.mock("POST", "/t").expect(0).create_async().await;
        let grant = ClientCredentials::discover(&issuer, template.client_options().clone());
        let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            format!("the authorization server {issuer} {says}"),
            "{extra}"
        );
        assert_no_secret(&error_texts(&e), &["s3cret"]);
        meta.assert_async().await;
        token.assert_async().await;
    }
}

#[tokio::test]
async fn what_the_server_lists_passes_and_absent_lists_are_not_checked() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/t"),
            r#","grant_types_supported":["client_credentials"],"token_endpoint_auth_methods_supported":["client_secret_basic"]"#,
        ),
        1,
    )
    .await;
    let token = token_mock(&mut server, "/t", "at-1", 1).await;
    grant(&issuer).fetch_token(&cx(&clock())).await.unwrap();
    meta.assert_async().await;
    token.assert_async().await;
}

#[tokio::test]
async fn assertions_are_addressed_to_the_discovered_token_endpoint() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let token_url = format!("{issuer}/oauth2/token");
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &token_url,
            r#","grant_types_supported":["client_credentials","urn:ietf:params:oauth:grant-type:jwt-bearer"],"token_endpoint_auth_methods_supported":["private_key_jwt"],"token_endpoint_auth_signing_alg_values_supported":["ES256"]"#,
        ),
        1,
    )
    .await;
    let (token, bodies) = recording_mock(
        &mut server,
        "/oauth2/token",
        format!(
            "^grant_type=client_credentials&client_assertion_type=[^&]+&client_assertion={JWT}$"
        ),
        1,
    )
    .await;
    let grant = ClientCredentials::discover(
        &issuer,
        ClientOptions::new("app")
            .client_auth(ClientAuth::PrivateKeyJwt)
            .private_key(es256()),
    );
    grant.fetch_token(&cx(&clock())).await.unwrap();
    let body = bodies.lock().unwrap()[0].clone();
    let public =
        DecodingKey::from_ec_pem(read_key("test-only-ec-p256-public.pem").as_bytes()).unwrap();
    let claims = verify(
        &form_assertion(&body),
        Algorithm::ES256,
        &public,
        "app",
        &token_url,
    );
    assert_eq!(claims["aud"], token_url.as_str());
    meta.assert_async().await;
    token.assert_async().await;

    // A JWT-bearer grant's own assertion too, while its identity keeps the issuer.
    let hs = JwtBearer::hs256(TokenEndpoint::issuer(&issuer), "kid", "svc", "k");
    assert_eq!(hs.audience_claim(), issuer);
    assert_eq!(hs.identity().token_url(), issuer);
}
