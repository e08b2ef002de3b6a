//! Token exchange (RFC 8693) through a discovered token endpoint: the metadata is fetched
//! once, every exchange goes to its `token_endpoint` with the exact body, and the grant
//! type and client authentication are checked against what the server lists.

use grantkit_core::{ErrorKind, Grant};
use grantkit_grants::{ClientGrant, ClientOptions, SubjectToken, TokenExchange, token_types};
use mockito::{Matcher, Server};

use crate::discovery::{OIDC, metadata, metadata_mock};
use crate::support::*;
use crate::token_exchange::{ACCESS_TOKEN_TYPE, EXCHANGE};

fn exchange(issuer: &str, options: ClientOptions) -> TokenExchange {
    TokenExchange::discover(
        issuer,
        options,
        SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
    )
    .audience("orders")
}

#[tokio::test]
async fn exchanges_go_to_the_discovered_token_endpoint_after_one_metadata_request() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/sts/token"),
            r#","grant_types_supported":["urn:ietf:params:oauth:grant-type:token-exchange"],"token_endpoint_auth_methods_supported":["client_secret_basic"]"#,
        ),
        1,
    )
    .await;
    let token = server
        .mock("POST", "/sts/token")
        .match_header("content-type", FORM)
        .match_header("accept", JSON)
        .match_header("authorization", basic("gateway:gw-s3cret").as_str())
        .match_body(Matcher::Exact(format!(
            "{EXCHANGE}&subject_token=user-at&subject_token_type={ACCESS_TOKEN_TYPE}&audience=orders"
        )))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(token_body("down-1", ""))
        .expect(2)
        .create_async()
        .await;

    let grant = exchange(&issuer, ClientOptions::form("gateway", "gw-s3cret"));
    let cx = cx(&clock());
    for _ in 0..2 {
        let got = grant.fetch_token(&cx).await.unwrap();
        assert_eq!(got.authorization_header(), "Bearer down-1");
    }
    meta.assert_async().await;
    token.assert_async().await;
    // The issuer identifies the endpoint before (and after) discovery.
    assert_eq!(grant.identity().token_url(), issuer);
    assert_eq!(grant.token_url(), issuer);
    assert_eq!(grant.identity().kind(), "token_exchange");
}

#[tokio::test]
async fn a_server_that_does_not_list_token_exchange_is_refused_before_any_exchange() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/t"),
            r#","grant_types_supported":["client_credentials"]"#,
        ),
        1,
    )
    .await;
    let token = server.mock("POST", "/t").expect(0).create_async().await;
    let e = exchange(&issuer, ClientOptions::form("gateway", "gw-s3cret"))
        .fetch_token(&cx(&clock()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!(
            "the authorization server {issuer} does not offer the \
             urn:ietf:params:oauth:grant-type:token-exchange grant \
             (grant_types_supported: client_credentials)"
        )
    );
    assert_no_secret(&error_texts(&e), &["gw-s3cret", "user-at"]);
    meta.assert_async().await;
    token.assert_async().await;
}

#[tokio::test]
async fn an_exchange_without_a_client_is_not_checked_against_client_auth_methods() {
    // A security token service authenticating the subject token alone: no client id, no
    // secret, nothing in the Authorization header or the body to check against the list.
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/t"),
            r#","token_endpoint_auth_methods_supported":["private_key_jwt"]"#,
        ),
        1,
    )
    .await;
    let token = server
        .mock("POST", "/t")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(format!(
            "{EXCHANGE}&subject_token=user-at&subject_token_type={ACCESS_TOKEN_TYPE}&audience=orders"
        )))
        .with_status(200)
        .with_body(token_body("down-1", ""))
        .expect(1)
        .create_async()
        .await;
    let got = exchange(&issuer, ClientOptions::default())
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    assert_eq!(got.authorization_header(), "Bearer down-1");
    meta.assert_async().await;
    token.assert_async().await;

    // A public client that names itself is checked: `none` is not listed.
    let e = exchange(&issuer, ClientOptions::new("cli"))
        .fetch_token(&cx(&clock()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string()
            .contains("does not offer none client authentication"),
        "{e}"
    );
}
