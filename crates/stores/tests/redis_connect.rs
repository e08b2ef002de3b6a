//! The Redis store against the servers of production: TLS (`rediss://`, with a CA file and
//! client certificates), a unix socket, and an ACL user; each against a real
//! `redis-server` this test starts, and each failure typed and free of secrets.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use grantkit_core::{ErrorKind, Password, Token, TokenStore};
use grantkit_stores::{RedisOptions, RedisStore, conformance};
use grantkit_testkit::certs;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

/// A store error from `load`, with everything that could show a secret: its report and
/// `Debug`, and the store's `Debug`.
async fn load_error(store: &RedisStore) -> (grantkit_core::Error, String) {
    let error = store
        .load("client_credentials:app:0")
        .await
        .expect_err("the load must fail");
    let shown = format!("{} | {error:?} | {store:?}", error.report());
    (error, shown)
}

#[tokio::test]
async fn rediss_verified_with_the_ca_file_conforms() {
    let redis = RedisServer::spawn_tls(false);
    let store = RedisStore::from_url_with(
        &redis.tls_url().unwrap(),
        &RedisOptions::new().ca_file(certs::CA),
    )
    .unwrap()
    .prefix(unique_prefix("tls"));
    assert!(format!("{store:?}").contains("tls: true"), "{store:?}");
    conformance::all(&store, "").await;
}

#[tokio::test]
async fn a_server_requiring_client_certificates_takes_ours_and_refuses_no_or_a_foreign_one() {
    let redis = RedisServer::spawn_tls(true);
    let url = redis.tls_url().unwrap();
    let prefix = unique_prefix("mtls");
    let ours = RedisStore::from_url_with(
        &url,
        &RedisOptions::new()
            .ca_file(certs::CA)
            .client_certificate_files(certs::CLIENT, certs::CLIENT_KEY),
    )
    .unwrap()
    .prefix(&prefix);
    conformance::round_trip(&ours, "").await;
    conformance::lock_exclusion(&ours, "").await;

    let none = RedisStore::from_url_with(&url, &RedisOptions::new().ca_file(certs::CA))
        .unwrap()
        .prefix(&prefix);
    let foreign = RedisStore::from_url_with(
        &url,
        &RedisOptions::new()
            .ca_file(certs::CA)
            .client_certificate_files(certs::SELF_SIGNED, certs::SELF_SIGNED_KEY),
    )
    .unwrap()
    .prefix(&prefix);
    for store in [none, foreign] {
        let (error, shown) = load_error(&store).await;
        assert_eq!(error.kind(), ErrorKind::Store, "{shown}");
        assert_eq!(
            error.to_string(),
            "Redis GET failed: the Redis server refused the TLS handshake (does it require a \
             client certificate?)",
            "{shown}"
        );
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}

#[tokio::test]
async fn a_server_whose_ca_is_not_trusted_is_a_store_error_that_names_the_certificate() {
    let redis = RedisServer::spawn_tls(false);
    let port = redis.tls_port().unwrap();
    let url = format!("rediss://app:tls-pw-SECRET@127.0.0.1:{port}/");
    // Trusts another certificate (self-signed, it issued nothing), then only the platform's.
    for options in [
        RedisOptions::new().ca_file(certs::OTHER_SELF_SIGNED),
        RedisOptions::new(),
    ] {
        let store = RedisStore::from_url_with(&url, &options)
            .unwrap()
            .prefix(unique_prefix("wrong-ca"));
        let (error, shown) = load_error(&store).await;
        assert_eq!(error.kind(), ErrorKind::Store, "{shown}");
        assert_eq!(
            error.to_string(),
            "Redis GET failed: the Redis server's TLS certificate is not trusted (check the CA \
             file and the host name)",
            "{shown}"
        );
        assert!(!shown.contains("tls-pw-SECRET"), "{shown}");
        // Saving and locking fail the same way: nothing reached the server.
        let token = Token::new(
            "t",
            std::time::SystemTime::UNIX_EPOCH,
            std::time::SystemTime::UNIX_EPOCH,
        );
        assert!(store.save("k", &token).await.is_err());
    }
}

#[tokio::test]
async fn redis_over_a_unix_socket_conforms() {
    let redis = RedisServer::spawn_unix();
    let url = redis.unix_url().unwrap();
    let store = RedisStore::from_url(&url)
        .unwrap()
        .prefix(unique_prefix("unix"));
    assert!(format!("{store:?}").contains("redis.sock"), "{store:?}");
    conformance::all(&store, "").await;
}

#[tokio::test]
async fn an_acl_user_from_the_url_or_the_options_conforms_and_a_wrong_password_is_refused() {
    let redis = RedisServer::spawn_acl("grantkit", "acl-pw-SECRET", "app:*");
    let port = redis.port().unwrap();
    let plain = format!("redis://127.0.0.1:{port}/");
    let in_url = RedisStore::from_url(&format!("redis://grantkit:acl-pw-SECRET@127.0.0.1:{port}/"))
        .unwrap()
        .prefix(format!("app:{}", unique_prefix("acl-url")));
    conformance::all(&in_url, "").await;
    let options = RedisOptions::new()
        .username("grantkit")
        .password(Password::new("acl-pw-SECRET"));
    let in_options = RedisStore::from_url_with(&plain, &options)
        .unwrap()
        .prefix(format!("app:{}", unique_prefix("acl-options")));
    conformance::round_trip(&in_options, "").await;
    conformance::lock_exclusion(&in_options, "").await;

    // The user may not touch keys outside `app:*`: the store really logged in as it.
    let outside = RedisStore::from_url_with(&plain, &options)
        .unwrap()
        .prefix(unique_prefix("acl-outside"));
    let (error, shown) = load_error(&outside).await;
    assert_eq!(
        error.to_string(),
        "Redis GET failed: Redis refused the credentials (check the user and password)",
        "{shown}"
    );

    let wrong = RedisOptions::new()
        .username("grantkit")
        .password(Password::new("wrong-pw-SECRET"));
    for store in [
        RedisStore::from_url_with(&plain, &wrong).unwrap(),
        RedisStore::from_url(&format!(
            "redis://grantkit:wrong-pw-SECRET@127.0.0.1:{port}/"
        ))
        .unwrap(),
        // No user at all: the default user is off.
        RedisStore::from_url(&plain).unwrap(),
    ] {
        let store = store.prefix(format!("app:{}", unique_prefix("acl-wrong")));
        let (error, shown) = load_error(&store).await;
        assert_eq!(error.kind(), ErrorKind::Store, "{shown}");
        assert_eq!(
            error.to_string(),
            "Redis GET failed: Redis refused the credentials (check the user and password)",
            "{shown}"
        );
        for secret in ["acl-pw-SECRET", "wrong-pw-SECRET"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
