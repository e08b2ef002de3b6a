//! `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2) against the test
//! server's HTTPS mode: the body carries `client_id` and nothing secret, no
//! `Authorization` header is sent, and the server sees the client certificate grantkit was
//! given (its SHA-256 thumbprint, recorded per request) and authenticates the client by it.

use std::sync::Arc;

use grantkit_core::{
    ClientCertificate, ErrorKind, RetryPolicy, RootCertificates, SystemClock, TokenManager,
};
use grantkit_grants::{BodyFormat, ClientAuth, ClientCredentials, ClientOptions};
use grantkit_testkit::certs;
use grantkit_testkit::server::{ServerConfig, TestServer};

use crate::support::{FORM, JSON};

async fn server() -> TestServer {
    TestServer::start_tls(ServerConfig::default(), Arc::new(SystemClock::new())).await
}

fn certificate(cert: &str, key: &str) -> ClientCertificate {
    ClientCertificate::from_pem_files(cert, key).unwrap()
}

/// A manager for client `id` authenticating with `auth`, presenting `cert`, trusting the
/// test CA; one attempt per renewal, so that a retry would show in the request count.
fn manager(
    server: &TestServer,
    id: &str,
    auth: ClientAuth,
    body: BodyFormat,
    cert: Option<ClientCertificate>,
) -> TokenManager {
    let options = ClientOptions::new(id).client_auth(auth).body(body);
    let mut builder = TokenManager::builder()
        .grant(ClientCredentials::new(server.token_url(), options))
        .root_certificates(RootCertificates::from_pem_file(certs::CA).unwrap())
        .retry(RetryPolicy::default().with_max_attempts(3));
    if let Some(cert) = cert {
        builder = builder.client_certificate(cert);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_client_auth_sends_the_id_and_the_ca_issued_certificate() {
    let server = server().await;
    assert!(server.token_url().starts_with("https://127.0.0.1:"));
    let manager = manager(
        &server,
        TestServer::TLS_CLIENT_ID,
        ClientAuth::TlsClientAuth,
        BodyFormat::Form,
        Some(certificate(certs::CLIENT, certs::CLIENT_KEY)),
    );
    let token = manager.token().await.unwrap();
    assert!(token.access_token().secret().starts_with("at-1-"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/oauth/token");
    assert_eq!(request.content_type.as_deref(), Some(FORM));
    assert_eq!(
        request.body,
        "grant_type=client_credentials&client_id=tls-client"
    );
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.client_certificate.as_deref(),
        Some(certs::thumbprint(certs::CLIENT).as_str())
    );
}

#[tokio::test]
async fn self_signed_tls_client_auth_sends_the_id_and_the_registered_certificate() {
    let server = server().await;
    let cert = certificate(certs::SELF_SIGNED, certs::SELF_SIGNED_KEY);
    assert_eq!(
        cert.sha256_thumbprint(),
        certs::thumbprint(certs::SELF_SIGNED)
    );
    let manager = manager(
        &server,
        TestServer::SELF_SIGNED_CLIENT_ID,
        ClientAuth::SelfSignedTlsClientAuth,
        BodyFormat::Json,
        Some(cert),
    );
    manager.token().await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].content_type.as_deref(), Some(JSON));
    assert_eq!(
        requests[0].body,
        r#"{"grant_type":"client_credentials","client_id":"self-signed-client"}"#
    );
    assert_eq!(requests[0].authorization, None);
    assert_eq!(
        requests[0].client_certificate.as_deref(),
        Some(certs::thumbprint(certs::SELF_SIGNED).as_str())
    );
}

/// A combined PEM (certificate and key in one file) works the same.
#[tokio::test]
async fn a_combined_pem_file_authenticates_too() {
    let server = server().await;
    let manager = manager(
        &server,
        TestServer::TLS_CLIENT_ID,
        ClientAuth::TlsClientAuth,
        BodyFormat::Form,
        Some(ClientCertificate::from_combined_pem_file(certs::CLIENT_COMBINED).unwrap()),
    );
    manager.token().await.unwrap();
    assert_eq!(
        server.requests()[0].client_certificate.as_deref(),
        Some(certs::thumbprint(certs::CLIENT).as_str())
    );
}

/// The wrong certificate, or none, is `invalid_client`: not retried, one request.
#[tokio::test]
async fn a_wrong_certificate_is_invalid_client_after_one_request() {
    let server = server().await;
    let cases = [
        // Issued by the CA, but another subject.
        (
            TestServer::TLS_CLIENT_ID,
            ClientAuth::TlsClientAuth,
            Some((certs::OTHER_CLIENT, certs::OTHER_CLIENT_KEY)),
        ),
        // The right kind of subject check, but not issued by the CA.
        (
            TestServer::TLS_CLIENT_ID,
            ClientAuth::TlsClientAuth,
            Some((certs::SELF_SIGNED, certs::SELF_SIGNED_KEY)),
        ),
        // Another self-signed certificate than the registered one.
        (
            TestServer::SELF_SIGNED_CLIENT_ID,
            ClientAuth::SelfSignedTlsClientAuth,
            Some((certs::OTHER_SELF_SIGNED, certs::OTHER_SELF_SIGNED_KEY)),
        ),
        // No certificate at all.
        (
            TestServer::SELF_SIGNED_CLIENT_ID,
            ClientAuth::SelfSignedTlsClientAuth,
            None,
        ),
    ];
    for (n, (id, auth, cert)) in cases.into_iter().enumerate() {
        let manager = manager(
            &server,
            id,
            auth,
            BodyFormat::Form,
            cert.map(|(c, k)| certificate(c, k)),
        );
        let e = manager.token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OAuth, "{n}: {}", e.report());
        assert!(e.is_invalid_client(), "{n}: {}", e.report());
        assert_eq!(e.status(), Some(401), "{n}");
        assert!(!e.is_retryable(), "{n}");
        assert_eq!(manager.stats().token_requests, 1, "{n}: retried");
        let requests = server.requests();
        assert_eq!(requests.len(), n + 1, "{n}");
        let seen = requests[n].client_certificate.clone();
        assert_eq!(seen, cert.map(|(c, _)| certs::thumbprint(c)), "{n}");
        assert_eq!(requests[n].authorization, None, "{n}");
    }
}

/// Without the test CA among its roots, the client refuses the server's certificate:
/// nothing is sent.
#[tokio::test]
async fn the_server_certificate_is_checked_against_the_given_roots() {
    let server = server().await;
    let options =
        ClientOptions::new(TestServer::TLS_CLIENT_ID).client_auth(ClientAuth::TlsClientAuth);
    // Trusting another CA (the self-signed client certificate) instead of the test CA.
    let manager = TokenManager::builder()
        .grant(ClientCredentials::new(server.token_url(), options))
        .client_certificate(certificate(certs::CLIENT, certs::CLIENT_KEY))
        .root_certificates(RootCertificates::from_pem_file(certs::SELF_SIGNED).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{}", e.report());
    assert!(server.requests().is_empty());
}
