//! Revocation (RFC 7009) against oidc-provider's revocation endpoint
//! (`features.revocation`): `TokenManager::revoke` with each client authentication
//! method, proven by the server's introspection endpoint (RFC 7662) answering
//! `active: true` before and `active: false` after; an unknown token is revoked
//! successfully (RFC 7009 §2.2); a wrong secret is `invalid_client`.

use grantkit::revocation::{RevocableToken, Revocation, Revoker};
use grantkit::secret::AccessToken;
use grantkit::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, ErrorKind, TokenManager,
};

use super::{Op, SECRET, op, pem_key};

impl Op {
    fn revocation_url(&self) -> String {
        format!("{}/token/revocation", self.issuer)
    }

    /// A client_credentials manager of `options` that revokes at the revocation endpoint.
    fn revoking_manager(&self, options: ClientOptions) -> TokenManager {
        let grant = ClientCredentials::new(self.token_url(), options);
        let revocation = grant.revocation(self.revocation_url());
        TokenManager::builder()
            .grant(grant)
            .revoker(revocation)
            .build()
            .unwrap()
    }

    /// Whether the server's introspection endpoint says `token` is active (asked by the
    /// Basic client, independently of grantkit's revocation code).
    async fn active(&self, token: &str) -> bool {
        let response = reqwest::Client::new()
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth("grantkit-basic", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            // oidc-provider's opaque tokens are base64url: nothing to escape.
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", self.log());
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        body["active"].as_bool().unwrap()
    }
}

#[tokio::test]
async fn revoke_ends_the_token_at_the_server_with_every_secret_and_assertion_method() {
    let Some(op) = op() else { return };
    let clients = [
        (
            "client_secret_basic",
            ClientOptions::form("grantkit-basic", SECRET),
        ),
        (
            "client_secret_post",
            ClientOptions::form("grantkit-post", SECRET).client_auth(ClientAuth::Body),
        ),
        (
            "client_secret_jwt",
            ClientOptions::form("grantkit-secret-jwt", SECRET)
                .client_auth(ClientAuth::ClientSecretJwt),
        ),
        (
            "private_key_jwt",
            ClientOptions::new("grantkit-pkjwt-es256")
                .client_auth(ClientAuth::PrivateKeyJwt)
                .private_key(pem_key("ES256", "test-only-ec-p256-pkcs8.pem")),
        ),
        (
            "none",
            ClientOptions::new("grantkit-none").client_auth(ClientAuth::None),
        ),
    ];
    for (what, options) in clients {
        let manager = op.revoking_manager(options);
        let token = match manager.token().await {
            Ok(token) => token,
            Err(e) => panic!("{what}: {}\n{}", e.report(), op.log()),
        };
        let secret = token.access_token().secret().to_owned();
        assert!(op.active(&secret).await, "{what}: active before");
        if let Err(e) = manager.revoke().await {
            panic!("{what}: {}\n{}", e.report(), op.log());
        }
        assert!(
            !op.active(&secret).await,
            "{what}: still active after revoke"
        );
        assert!(manager.cached().is_none(), "{what}");
        // The next token() obtains a new, active token.
        let next = manager.token().await.unwrap();
        assert_ne!(next.access_token().secret(), secret);
        assert!(
            op.active(next.access_token().secret()).await,
            "{what}: new token"
        );
    }
}

#[tokio::test]
async fn an_unknown_token_is_revoked_and_a_wrong_secret_is_invalid_client() {
    let Some(op) = op() else { return };
    let cx = grantkit::grant::GrantContext::new(
        std::sync::Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        std::sync::Arc::new(grantkit::time::SystemClock::new()),
    );
    let unknown = RevocableToken::Access(AccessToken::new("not-a-token-this-server-issued"));
    Revocation::new(
        op.revocation_url(),
        ClientOptions::form("grantkit-basic", SECRET),
    )
    .revoke(&cx, &unknown)
    .await
    .unwrap();
    let e = Revocation::new(
        op.revocation_url(),
        ClientOptions::form("grantkit-basic", "wrong"),
    )
    .revoke(&cx, &unknown)
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth, "{}", e.report());
    assert!(e.is_invalid_client(), "{}", e.report());
    assert_eq!(e.status(), Some(401));
    assert!(
        e.to_string()
            .starts_with("revocation endpoint refused the request (HTTP 401): invalid_client"),
        "{e}"
    );
}

/// tls_client_auth: the revocation request goes to the HTTPS listener with the client
/// certificate, the body naming the client alone.
#[tokio::test]
async fn revoke_with_mutual_tls_client_auth() {
    use grantkit::transport::{ClientCertificate, RootCertificates};
    use grantkit_testkit::certs;

    let Some(op) = op() else { return };
    let grant = ClientCredentials::new(
        format!("{}/token", op.mtls),
        ClientOptions::new("grantkit-tls").client_auth(ClientAuth::TlsClientAuth),
    );
    let revocation = grant.revocation(format!("{}/token/revocation", op.mtls));
    let manager = TokenManager::builder()
        .grant(grant)
        .revoker(revocation)
        .root_certificates(RootCertificates::from_pem_file(certs::CA).unwrap())
        .client_certificate(
            ClientCertificate::from_pem_files(certs::CLIENT, certs::CLIENT_KEY).unwrap(),
        )
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let secret = token.access_token().secret().to_owned();
    assert!(op.active(&secret).await);
    if let Err(e) = manager.revoke().await {
        panic!("{}\n{}", e.report(), op.log());
    }
    assert!(!op.active(&secret).await);
}

/// Both endpoints from the issuer's metadata: the token from its `token_endpoint`, the
/// revocation at its `revocation_endpoint`, one metadata request for the two.
#[tokio::test]
async fn revoke_at_the_discovered_revocation_endpoint() {
    let Some(op) = op() else { return };
    let grant =
        ClientCredentials::discover(&op.issuer, ClientOptions::form("grantkit-basic", SECRET));
    let endpoint = grant.token_endpoint();
    let revocation = Revocation::discover(
        endpoint.discovery().unwrap(),
        grant.client_options().clone(),
    );
    let manager = TokenManager::builder()
        .grant(grant)
        .revoker(revocation)
        .build()
        .unwrap();
    let token = manager
        .token()
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    let access = token.access_token().secret().to_owned();
    assert!(op.active(&access).await);
    manager
        .revoke()
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert!(!op.active(&access).await, "revoked at the server");
    assert_eq!(manager.stats().discovery_requests, 1);
}
