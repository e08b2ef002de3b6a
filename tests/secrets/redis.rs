//! The Redis part of [`a_full_run_of_every_grant_leaks_no_secret`](super): the connection
//! set-ups of production, each on its failure path, with the password in the URL, in
//! `RedisOptions` or in a profile's `store.password`: an ACL user logging in with the right
//! and a wrong password (real `redis-server`), a TLS server whose CA is not trusted, a
//! Sentinel set-up that cannot be reached, and the profiles that configure them.

use grantkit::store::{RedisOptions, TokenStore as _};
use grantkit_testkit::certs;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

use super::*;

/// A password of the Redis user that is not its own.
const WRONG_REDIS_PASSWORD: &str = "redis-WRONG-Hb6Yt3Kq8";

fn manager(store: RedisStore, url: &str, clock: &ManualClock) -> TokenManager {
    builder(
        ClientCredentials::form(url, CLIENT_ID, CLIENT_SECRET),
        clock,
    )
    .store(store)
    .build()
    .unwrap()
}

pub(super) async fn run(audit: &mut Audit, url: &str, clock: &ManualClock) {
    audit.secret("wrong Redis password", WRONG_REDIS_PASSWORD);
    let acl = RedisServer::spawn_acl("hygiene", REDIS_PASSWORD, "*");
    let port = acl.port().unwrap();
    let plain = format!("redis://127.0.0.1:{port}/");

    // The right password, from the options: tokens land in Redis.
    let right = RedisOptions::new()
        .username("hygiene")
        .password(grantkit::secret::Password::new(REDIS_PASSWORD));
    audit.debug("redis options", &right);
    let store = RedisStore::from_url_with(&plain, &right)
        .unwrap()
        .prefix(unique_prefix("hygiene"));
    audit.debug("acl store", &store);
    let m = manager(store, url, clock);
    audit.token("acl redis", &m.token().await.unwrap());
    assert_eq!(m.stats().store_errors, 0);

    // A wrong password, in the options and in the URL: store errors, callers still served.
    let wrong = RedisOptions::new()
        .username("hygiene")
        .password(grantkit::secret::Password::new(WRONG_REDIS_PASSWORD));
    for store in [
        RedisStore::from_url_with(&plain, &wrong).unwrap(),
        RedisStore::from_url(&format!(
            "redis://hygiene:{WRONG_REDIS_PASSWORD}@127.0.0.1:{port}/"
        ))
        .unwrap(),
    ] {
        let store = store.prefix(unique_prefix("hygiene-wrong"));
        audit.debug("acl store, wrong password", &store);
        let error = store.load("k").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Store);
        audit.error("acl wrong password", &error);
        let m = manager(store, url, clock);
        audit.token("acl redis, wrong password", &m.token().await.unwrap());
        assert!(m.stats().store_errors > 0);
    }

    // TLS with a CA that did not issue the server's certificate; the password in the URL.
    let tls = RedisServer::spawn_tls(false);
    let tls_url = format!(
        "rediss://hygiene:{REDIS_PASSWORD}@127.0.0.1:{}/",
        tls.tls_port().unwrap()
    );
    let store = RedisStore::from_url_with(
        &tls_url,
        &RedisOptions::new().ca_file(certs::OTHER_SELF_SIGNED),
    )
    .unwrap();
    audit.debug("tls store", &store);
    let error = store.load("k").await.unwrap_err();
    audit.error("tls wrong CA", &error);

    // Sentinels that do not answer, the password in the URL.
    let sentinel =
        format!("rediss+sentinel://hygiene:{REDIS_PASSWORD}@127.0.0.1:1,127.0.0.1:2/mymaster");
    let store = RedisStore::from_url_with(&sentinel, &RedisOptions::new().ca_file(certs::CA))
        .unwrap()
        .timeout(Duration::from_millis(200));
    audit.debug("sentinel store", &store);
    audit.error("sentinel down", &store.load("k").await.unwrap_err());
    // Refused URLs and options name no secret either.
    for (label, result) in [
        (
            "sentinel URL with a query",
            RedisStore::from_url(&format!("{sentinel}?password={REDIS_PASSWORD}")),
        ),
        (
            "password twice",
            RedisStore::from_url_with(&tls_url, &right),
        ),
        (
            "TLS material without TLS",
            RedisStore::from_url_with(
                &format!("redis://:{REDIS_PASSWORD}@h/"),
                &RedisOptions::new().ca_file(certs::CA),
            ),
        ),
    ] {
        audit.error(label, &result.unwrap_err());
    }

    // Profiles: the password inline and in the URL, shown by `grantkit profiles` and Debug.
    let toml = format!(
        r#"
[profiles.sentinel]
grant = "client_credentials"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
store = {{ kind = "redis", url = "{sentinel}", ca_file = "{ca}", certificate_file = "{cert}", private_key_file = "{key}" }}
[profiles.acl]
grant = "client_credentials"
token_url = "{url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
store = {{ kind = "redis", url = "{plain}", username = "hygiene", password = "{REDIS_PASSWORD}" }}
"#,
        ca = certs::CA,
        cert = certs::CLIENT,
        key = certs::CLIENT_KEY,
    );
    let config = Config::from_toml(&toml).unwrap();
    audit.debug("redis config", &config);
    for name in ["sentinel", "acl"] {
        let (_, profile) = config.profile(Some(name)).unwrap();
        audit.debug(name, &profile.summary());
        let manager = config.builder(Some(name)).unwrap().build().unwrap();
        audit.debug(name, manager.store());
    }
    let twice = toml.replace(
        "username = \"hygiene\", ",
        &format!("username = \"hygiene\", password_file = \"/nonexistent/{REDIS_PASSWORD}\", "),
    );
    let refused = Config::from_toml(&twice)
        .and_then(|c| c.builder(Some("acl")).and_then(TokenManagerBuilder::build));
    audit.error("password and password_file", &refused.unwrap_err());
}
