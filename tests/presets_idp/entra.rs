//! Microsoft Entra ID: the v2.0 endpoint of a tenant, `client_secret_post`, the
//! `<resource>/.default` scope, the Azure SDKs' environment variables; certificate
//! credentials (PS256 `private_key_jwt` with `x5t#S256` and `client_id`); federated
//! credentials read from their file at each renewal.

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
            certificate_file: "/nonexistent/cert.pem".into(),
            private_key_file: Some(key_path("test-only-rsa-pkcs8.pem").into()),
        })
        .builder()
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Microsoft Entra: field `certificate_file`: "),
        "{e}"
    );
    assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
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

/// The certificate's `x5t#S256` (its fixture README shows the openssl computation).
const X5T_S256: &str = "EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw";

#[tokio::test]
async fn entra_certificate_credential_signs_ps256_with_the_certificate_thumbprint() {
    let dir = tempfile::tempdir().unwrap();
    let cert = std::fs::read_to_string(key_path("test-only-rsa-cert.pem")).unwrap();
    let key = std::fs::read_to_string(key_path("test-only-rsa-pkcs8.pem")).unwrap();
    // One file with both, as the Azure SDKs' AZURE_CLIENT_CERTIFICATE_PATH holds them.
    let combined = dir.path().join("combined.pem");
    std::fs::write(&combined, format!("{cert}{key}")).unwrap();
    for (certificate_file, private_key_file) in [
        (
            std::path::PathBuf::from(key_path("test-only-rsa-cert.pem")),
            Some(std::path::PathBuf::from(key_path(
                "test-only-rsa-pkcs8.pem",
            ))),
        ),
        (combined.clone(), None),
    ] {
        let mut server = mockito::Server::new_async().await;
        let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
        let preset = match private_key_file {
            Some(private_key_file) => MicrosoftEntra::new(TENANT, "app-id")
                .credential(EntraCredential::Certificate {
                    certificate_file,
                    private_key_file: Some(private_key_file),
                })
                .authority_host(server.url()),
            // The Azure SDKs' variables: one file with the certificate and its key.
            None => {
                let vars = HashMap::from([
                    ("AZURE_TENANT_ID", TENANT.to_owned()),
                    ("AZURE_CLIENT_ID", "app-id".to_owned()),
                    (
                        "AZURE_CLIENT_CERTIFICATE_PATH",
                        certificate_file.display().to_string(),
                    ),
                    ("AZURE_AUTHORITY_HOST", server.url()),
                ]);
                MicrosoftEntra::from_lookup(|k| vars.get(k).cloned()).unwrap()
            }
        }
        .resource("https://graph.microsoft.com");
        let body = fetch_one(preset.builder().unwrap(), mock, &bodies).await;
        let jwt = jwt_after(
            &body,
            &format!(
                "grant_type=client_credentials&client_id=app-id&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&{ASSERTION_TYPE}&client_assertion="
            ),
        );
        assert_eq!(
            header(jwt),
            serde_json::json!({"typ": "JWT", "alg": "PS256", "x5t#S256": X5T_S256})
        );
        let aud = format!("{}{PATH}", server.url());
        let claims = verified_claims(jwt, Algorithm::PS256, &rsa_public(), &aud);
        assert_client_assertion_claims(&claims, "app-id", &aud);
    }
}

/// Two made-up federated tokens, as the workload identity webhook's projected volume
/// would rotate them.
const FEDERATED_1: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6YXBwIn0.ZmVkLW9uZQ";
const FEDERATED_2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6YXBwIn0.ZmVkLXR3bw";

/// Workload identity federation as Microsoft documents the request ("access token request
/// with a federated credential"): `client_id`, the scope and the token file's contents as
/// the client assertion; the file is read again at the next renewal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_sends_the_federated_token_file_read_at_each_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{FEDERATED_1}\n")).unwrap();
    let mut server = mockito::Server::new_async().await;
    let body = |assertion: &str| {
        format!(
            "grant_type=client_credentials&client_id=app-id&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        )
    };
    let mut mocks = Vec::new();
    for assertion in [FEDERATED_1, FEDERATED_2] {
        mocks.push(
            server
                .mock("POST", PATH)
                .match_header("content-type", FORM)
                .match_header("authorization", Matcher::Missing)
                .match_body(Matcher::Exact(body(assertion)))
                .with_status(200)
                .with_body(TOKEN)
                .expect(1)
                .create_async()
                .await,
        );
    }
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_CLIENT_ID", "app-id".to_owned()),
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
        ("AZURE_AUTHORITY_HOST", server.url()),
    ]);
    let preset = MicrosoftEntra::from_lookup(|k| vars.get(k).cloned())
        .unwrap()
        .resource("https://graph.microsoft.com");
    assert!(!format!("{preset:?}").contains(FEDERATED_1));
    let clock = ManualClock::at_fixed_epoch();
    let manager = preset
        .builder()
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    manager.token().await.unwrap();
    std::fs::write(&file, FEDERATED_2).unwrap();
    clock.advance(std::time::Duration::from_secs(3600));
    manager.token().await.unwrap();
    for mock in mocks {
        mock.assert_async().await;
    }

    // The same from a profile; a missing file fails the renewal naming it.
    let toml = format!(
        "[profiles.p]\npreset = \"microsoft-entra\"\ntenant = \"{TENANT}\"\nclient_id = \"app-id\"\nscope = \"https://graph.microsoft.com/.default\"\nfederated_token_file = \"{}\"\ntoken_url = \"{}{PATH}\"",
        file.display(),
        server.url()
    );
    std::fs::remove_file(&file).unwrap();
    let manager = grantkit::config::Config::from_toml(&toml)
        .unwrap()
        .manager(None)
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), grantkit::ErrorKind::Config);
    assert_eq!(
        e.to_string(),
        format!(
            "Microsoft Entra: field `federated_token_file`: cannot read the assertion from file {}",
            file.display()
        )
    );
}

/// `client_secret_file`: the secret is read at each renewal.
#[tokio::test]
async fn entra_reads_a_client_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client-secret");
    std::fs::write(&file, "s3cret\n").unwrap();
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(&mut server, PATH, FORM, None, TOKEN).await;
    let toml = format!(
        "[profiles.p]\npreset = \"microsoft-entra\"\ntenant = \"{TENANT}\"\nclient_id = \"app-id\"\nscope = \"https://graph.microsoft.com/.default\"\nclient_secret_file = \"{}\"\ntoken_url = \"{}{PATH}\"",
        file.display(),
        server.url()
    );
    let builder = grantkit::config::Config::from_toml(&toml)
        .unwrap()
        .builder(None)
        .unwrap();
    assert_eq!(fetch_one(builder, mock, &bodies).await, BODY);
}
