//! Discovery against oidc-provider: a client that knows only the issuer finds the token
//! endpoint in `/.well-known/openid-configuration` and gets a token, with a client secret
//! and with `private_key_jwt` (whose assertion is addressed to the discovered endpoint);
//! a grant the server's metadata does not list is refused before any token request.

use std::sync::Arc;

use grantkit::discovery::Discovery;
use grantkit::grant::GrantContext;
use grantkit::time::SystemClock;
use grantkit::transport::ReqwestHttpClient;
use grantkit::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, ErrorKind, PasswordGrant,
    TokenManager, discovery::TokenEndpoint,
};

use super::{SECRET, op, pem_key, pkjwt_client};

#[tokio::test]
async fn a_client_discovered_from_the_issuer_gets_a_token() {
    let Some(op) = op() else { return };
    let basic =
        ClientCredentials::discover(&op.issuer, ClientOptions::form("grantkit-basic", SECRET));
    let manager = TokenManager::builder().grant(basic).build().unwrap();
    op.assert_token(&manager, "client_secret_basic, discovered")
        .await;
    assert_eq!(manager.stats().discovery_requests, 1);

    let pkjwt = ClientCredentials::discover(
        &op.issuer,
        ClientOptions::new(pkjwt_client("ES256"))
            .private_key(pem_key("ES256", "test-only-ec-p256-pkcs8.pem")),
    )
    .client_auth(ClientAuth::PrivateKeyJwt);
    let manager = TokenManager::builder().grant(pkjwt).build().unwrap();
    op.assert_token(&manager, "private_key_jwt ES256, discovered")
        .await;
}

#[tokio::test]
async fn the_metadata_is_oidc_providers_and_its_lists_are_enforced() {
    let Some(op) = op() else { return };
    let cx = GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(SystemClock::new()),
    );
    let metadata = Discovery::new(&op.issuer).metadata(&cx).await.unwrap();
    assert_eq!(metadata.issuer(), op.issuer);
    assert_eq!(metadata.token_endpoint(), Some(op.token_url().as_str()));
    let grants = metadata.grant_types_supported().unwrap();
    assert!(
        grants.iter().any(|g| g == "client_credentials"),
        "{grants:?}"
    );
    let methods = metadata.token_endpoint_auth_methods_supported().unwrap();
    assert!(
        methods.iter().any(|m| m == "private_key_jwt"),
        "{methods:?}"
    );

    // oidc-provider has no password grant: refused from its metadata, before a token
    // request could reach it.
    let password = PasswordGrant::new(
        TokenEndpoint::issuer(&op.issuer),
        ClientOptions::form("grantkit-basic", SECRET),
        "me",
        "pw",
    );
    let manager = TokenManager::builder().grant(password).build().unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert!(
        e.to_string().starts_with(&format!(
            "the authorization server {} does not offer the password grant (grant_types_supported: ",
            op.issuer
        )),
        "{e}"
    );
}
