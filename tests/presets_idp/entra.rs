//! Microsoft Entra ID: the v2.0 endpoint of a tenant, `client_secret_post`, the
//! `<resource>/.default` scope, the Azure SDKs' environment variables; certificates and
//! federated credentials refused by name until they are supported.

use std::collections::HashMap;

use grantkit::presets::{EntraCredential, MicrosoftEntra};

use super::*;

const TENANT: &str = "contoso.onmicrosoft.com";
const PATH: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";
const BODY: &str = "grant_type=client_credentials&client_id=app-id&client_secret=s3cret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";

#[tokio::test]
async fn entra_sends_the_documented_client_secret_post() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
    let preset = MicrosoftEntra::new(TENANT, "app-id")
        .client_secret("s3cret")
        .resource("https://graph.microsoft.com")
        .authority_host(server.url());
    assert_eq!(
        preset.requested_scope(),
        Some("https://graph.microsoft.com/.default")
    );
    assert_eq!(
        fetch_one(preset.builder().unwrap(), mock, &bodies).await,
        BODY
    );
}

#[tokio::test]
async fn entra_from_the_azure_sdk_variables() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_CLIENT_ID", "app-id".to_owned()),
        ("AZURE_CLIENT_SECRET", "s3cret".to_owned()),
        ("AZURE_AUTHORITY_HOST", server.url()),
    ]);
    let preset = MicrosoftEntra::from_lookup(|k| vars.get(k).cloned())
        .unwrap()
        .resource("https://graph.microsoft.com/.default");
    assert_eq!(
        fetch_one(preset.builder().unwrap(), mock, &bodies).await,
        BODY
    );

    let e = MicrosoftEntra::from_lookup(|k| (k == "AZURE_TENANT_ID").then(|| TENANT.to_owned()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable AZURE_CLIENT_ID is not set"
    );
    let e = MicrosoftEntra::from_lookup(|k| {
        (k != "AZURE_CLIENT_SECRET" && k != "AZURE_AUTHORITY_HOST")
            .then(|| vars.get(k).cloned())
            .flatten()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable AZURE_CLIENT_SECRET is not set (nor AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE)"
    );
}

#[test]
fn entra_refuses_what_it_cannot_send_yet_and_a_scope_without_default() {
    let base = MicrosoftEntra::new(TENANT, "app-id").resource("https://graph.microsoft.com");
    let e = base
        .clone()
        .credential(EntraCredential::Certificate {
            certificate_file: "cert.pem".into(),
            private_key_file: Some("key.pem".into()),
        })
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Microsoft Entra: certificate credentials (`certificate_file`) are not yet supported; use a client secret"
    );
    let e = base
        .clone()
        .credential(EntraCredential::FederatedTokenFile("/var/run/token".into()))
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Microsoft Entra: federated credentials (`federated_token_file`) are not yet supported; use a client secret"
    );
    let e = base
        .client_secret("s3cret")
        .scope("User.Read")
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Microsoft Entra: field `scope` must be `<resource>/.default` for client credentials"
    );
    // A resource ending in `/` keeps it, as Microsoft documents.
    let arm =
        MicrosoftEntra::new(TENANT, "app-id").resource("https://management.core.windows.net/");
    assert_eq!(
        arm.requested_scope(),
        Some("https://management.core.windows.net//.default")
    );
}
