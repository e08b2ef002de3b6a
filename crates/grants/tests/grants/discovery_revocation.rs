//! Revocation (RFC 7009) at the `revocation_endpoint` of the issuer's metadata: one
//! metadata request serves the grant and the revoker when they share the `Discovery`
//! handle; metadata without a revocation endpoint is an error naming the issuer, and the
//! tokens are kept.

use grantkit_core::{ErrorKind, TokenManager};
use grantkit_grants::{ClientGrant, ClientOptions, PasswordGrant, Revocation};
use mockito::{Matcher, Server};

use crate::discovery::{OIDC, metadata, metadata_mock};
use crate::support::*;

fn password(issuer: &str) -> PasswordGrant {
    PasswordGrant::new(
        grantkit_core::TokenEndpoint::issuer(issuer),
        ClientOptions::form("app", "app-s3cret"),
        "me",
        "pw-s3cret",
    )
}

fn manager(grant: PasswordGrant) -> TokenManager {
    let endpoint = grant.token_endpoint();
    let revocation = Revocation::discover(
        endpoint.discovery().unwrap(),
        grant.client_options().clone(),
    );
    TokenManager::builder()
        .grant(grant)
        .revoker(revocation)
        .build()
        .unwrap()
}

/// The issuer's metadata, served once: its token endpoint `/oauth/token` and the members
/// in `extra` (a JSON fragment starting with a comma, or nothing).
async fn issuer_metadata(server: &mut Server, extra: &str) -> mockito::Mock {
    let issuer = server.url();
    let body = metadata(&issuer, &format!("{issuer}/oauth/token"), extra);
    metadata_mock(server, OIDC, body, 1).await
}

async fn login_mock(server: &mut Server) -> mockito::Mock {
    server
        .mock("POST", "/oauth/token")
        .match_header("authorization", basic("app:app-s3cret").as_str())
        .match_body(Matcher::Exact(
            "grant_type=password&username=me&password=pw-s3cret".into(),
        ))
        .with_body(token_body("at-1", r#","refresh_token":"rt-1""#))
        .expect(1)
        .create_async()
        .await
}

#[tokio::test]
async fn revoke_goes_to_the_discovered_revocation_endpoint_after_one_metadata_request() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = issuer_metadata(
        &mut server,
        &format!(r#","revocation_endpoint":"{issuer}/oauth/revoke""#),
    )
    .await;
    let login = login_mock(&mut server).await;
    let mut revoked = Vec::new();
    for (token, hint) in [("rt-1", "refresh_token"), ("at-1", "access_token")] {
        revoked.push(
            server
                .mock("POST", "/oauth/revoke")
                .match_header("content-type", FORM)
                .match_header("authorization", basic("app:app-s3cret").as_str())
                .match_body(Matcher::Exact(format!(
                    "token={token}&token_type_hint={hint}"
                )))
                .with_status(200)
                .expect(1)
                .create_async()
                .await,
        );
    }
    let manager = manager(password(&issuer));
    manager.token().await.unwrap();
    manager.revoke().await.unwrap();
    assert!(manager.cached().is_none());
    meta.assert_async().await;
    login.assert_async().await;
    for mock in revoked {
        mock.assert_async().await;
    }
    assert_eq!(manager.stats().discovery_requests, 1);
}

#[tokio::test]
async fn metadata_without_a_revocation_endpoint_is_an_error_and_the_tokens_are_kept() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = issuer_metadata(&mut server, "").await;
    let login = login_mock(&mut server).await;
    let manager = manager(password(&issuer));
    manager.token().await.unwrap();
    let e = manager.revoke().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(
        e.to_string().ends_with(&format!(
            "the authorization server metadata of issuer \"{issuer}\" has no revocation_endpoint"
        )),
        "{e}"
    );
    assert_no_secret(&error_texts(&e), &["app-s3cret", "rt-1", "at-1"]);
    assert!(manager.cached().is_some(), "kept for a later attempt");
    meta.assert_async().await;
    login.assert_async().await;
}

/// Metadata that lists the revocation endpoint's authentication methods without the
/// client's: nothing is sent, the error names the method and the list, and the tokens are
/// kept. (The token endpoint's list, absent here, is not the revocation endpoint's.)
#[tokio::test]
async fn a_method_the_revocation_endpoint_does_not_offer_is_refused_before_sending() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = issuer_metadata(
        &mut server,
        &format!(
            r#","revocation_endpoint":"{issuer}/oauth/revoke","revocation_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt"]"#
        ),
    )
    .await;
    let login = login_mock(&mut server).await;
    let revoke = server
        .mock("POST", "/oauth/revoke")
        .expect(0)
        .create_async()
        .await;
    let manager = manager(password(&issuer));
    manager.token().await.unwrap();
    let e = manager.revoke().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().ends_with(&format!(
            "the authorization server {issuer} does not offer client_secret_basic client \
             authentication at its revocation endpoint (revocation_endpoint_auth_methods_supported: \
             client_secret_post, private_key_jwt); set client_auth to one it offers"
        )),
        "{e}"
    );
    assert_no_secret(&error_texts(&e), &["app-s3cret", "rt-1", "at-1"]);
    assert!(manager.cached().is_some(), "kept for a later attempt");
    meta.assert_async().await;
    login.assert_async().await;
    revoke.assert_async().await;
}
