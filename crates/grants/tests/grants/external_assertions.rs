//! Assertions made elsewhere, read at each use: a client assertion (a Kubernetes
//! projected service-account token, `AZURE_FEDERATED_TOKEN_FILE`) from a file or a
//! function, sent with `client_id`, and the JWT-bearer grant's own assertion from a file;
//! each rotated between two requests and sent exactly; refused where it would be ignored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grantkit_core::{ErrorKind, Grant};
use grantkit_grants::{
    ClientAuth, ClientCredentials, ClientGrant, ClientOptions, JwtBearer, JwtSigningKey,
};
use mockito::Matcher;

use crate::sources::{
    ASSERTION_TYPE, JWT_BEARER, SA_TOKEN_1, SA_TOKEN_2, exact_mock, manager, secret_file,
};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_client_assertion_rotated_between_two_renewals_is_sent_exactly() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for (assertion, access) in [(SA_TOKEN_1, "at-1"), (SA_TOKEN_2, "at-2")] {
        mocks.push(
            exact_mock(
                &mut server,
                Matcher::Missing,
                &format!(
                    "grant_type=client_credentials&client_id=00000000-aaaa-bbbb-cccc-000000000000&scope=api%3A%2F%2Fapp%2F.default&{ASSERTION_TYPE}&client_assertion={assertion}"
                ),
                access,
            )
            .await,
        );
    }
    let (_dir, path) = secret_file(&format!("{SA_TOKEN_1}\n"));
    let clock = clock();
    let options =
        ClientOptions::new("00000000-aaaa-bbbb-cccc-000000000000").client_assertion_file(&path);
    assert_eq!(options.client_auth_method(), ClientAuth::PrivateKeyJwt);
    let grant = ClientCredentials::new(format!("{}/token", server.url()), options)
        .scope("api://app/.default");
    grant.validate().unwrap();
    let manager = manager(grant, &clock);
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-1"
    );
    std::fs::write(&path, SA_TOKEN_2).unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    for mock in mocks {
        mock.assert_async().await;
    }
    let shown = format!("{manager:?} {:?}", manager.identity());
    assert_no_secret(&shown, &[SA_TOKEN_1, SA_TOKEN_2, "c2lnL"]);

    // Gone: the renewal fails naming the field and the path.
    std::fs::remove_file(&path).unwrap();
    clock.advance(Duration::from_secs(3600));
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(
        error.to_string(),
        format!("cannot read the assertion from file {}", path.display())
    );
}

#[tokio::test]
async fn an_external_client_assertion_from_a_function_is_asked_for_at_each_request() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for assertion in [SA_TOKEN_1, SA_TOKEN_2] {
        mocks.push(
            exact_mock(
                &mut server,
                Matcher::Missing,
                &format!(
                    "grant_type=client_credentials&client_id=app&{ASSERTION_TYPE}&client_assertion={assertion}"
                ),
                "at",
            )
            .await,
        );
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let grant = ClientCredentials::new(
        format!("{}/token", server.url()),
        ClientOptions::new("app")
            .client_auth(ClientAuth::PrivateKeyJwt)
            .client_assertion_fn(move || {
                Ok([SA_TOKEN_1, SA_TOKEN_2][counter.fetch_add(1, Ordering::SeqCst) % 2])
            }),
    );
    let cx = cx(&clock());
    grant.fetch_token(&cx).await.unwrap();
    grant.fetch_token(&cx).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    for mock in mocks {
        mock.assert_async().await;
    }
    assert!(format!("{grant:?}").contains("client_assertion: Some(Assertion(fn))"));
}

#[tokio::test]
async fn the_jwt_bearer_assertion_can_come_from_a_file_read_at_each_request() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for (assertion, access) in [(SA_TOKEN_1, "at-1"), (SA_TOKEN_2, "at-2")] {
        mocks.push(
            exact_mock(
                &mut server,
                Matcher::Missing,
                &format!("assertion={assertion}&{JWT_BEARER}&scope=openid"),
                access,
            )
            .await,
        );
    }
    let (_dir, path) = secret_file(&format!("{SA_TOKEN_1}\n"));
    let grant = JwtBearer::assertion_file(format!("{}/token", server.url()), &path).scope("openid");
    let cx = cx(&clock());
    assert_eq!(
        grant.fetch_token(&cx).await.unwrap().authorization_header(),
        "Bearer at-1"
    );
    std::fs::write(&path, format!("{SA_TOKEN_2}\n")).unwrap();
    assert_eq!(
        grant.fetch_token(&cx).await.unwrap().authorization_header(),
        "Bearer at-2"
    );
    for mock in mocks {
        mock.assert_async().await;
    }
    let identity = grant.identity();
    assert_eq!(identity.kind(), "jwt_bearer");
    assert_eq!(
        identity.params().get("assertion_file").map(String::as_str),
        Some(path.to_str().unwrap())
    );
    let other = JwtBearer::assertion_file(format!("{}/token", server.url()), "/elsewhere");
    assert_ne!(
        identity.cache_key(),
        other.scope("openid").identity().cache_key()
    );
    let shown = format!("{grant:?} {grant:#?} {identity:?}");
    assert_no_secret(&shown, &[SA_TOKEN_1, SA_TOKEN_2]);
    assert!(shown.contains("Assertion(file "), "{shown}");
}

#[test]
fn external_assertions_are_refused_where_they_would_be_ignored() {
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/test-only-rsa-pkcs8.pem"
    ))
    .unwrap();
    let url = "https://a.example/token";
    let cases = [
        (
            ClientCredentials::new(
                url,
                ClientOptions::form("app", "s")
                    .client_auth(ClientAuth::Basic)
                    .client_assertion_file("/f"),
            )
            .validate(),
            "a client assertion made elsewhere is sent with client authentication private_key_jwt, not basic",
        ),
        (
            ClientCredentials::new(
                url,
                ClientOptions::form("app", "s")
                    .client_auth(ClientAuth::ClientSecretJwt)
                    .client_assertion_file("/f"),
            )
            .validate(),
            "a client assertion made elsewhere is sent with client authentication private_key_jwt, not client_secret_jwt",
        ),
        (
            ClientCredentials::new(
                url,
                ClientOptions::new("app")
                    .private_key(JwtSigningKey::from_pem("RS256", key).unwrap())
                    .client_assertion_file("/f"),
            )
            .validate(),
            "give a private key to sign client assertions or a client assertion made elsewhere, not both",
        ),
        (
            JwtBearer::assertion_file(url, "/f")
                .subject("me")
                .validate(),
            "the assertion is made elsewhere and sent as read; subject applies only to assertions grantkit signs",
        ),
        (
            JwtBearer::assertion_file(url, "/f")
                .claim("scope", "x")
                .validate(),
            "the assertion is made elsewhere and sent as read; claim applies only to assertions grantkit signs",
        ),
    ];
    for (result, message) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(error.to_string(), message);
    }
}
