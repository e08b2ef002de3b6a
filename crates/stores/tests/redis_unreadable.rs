//! Records the Redis store cannot read are replaced by the next save, whatever they
//! claim. Before, a value that could not be decoded but carried a numeric
//! `issued_at_ms` (`1e300`), a record encrypted under another key claiming a later issue
//! time, or a key of another Redis type stayed in place forever, and every run fetched a
//! new token. Against a real `redis-server`.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grantkit_core::{Clock as _, SystemClock, Token, TokenManager, TokenStore};
use grantkit_stores::{EncryptionKey, RedisStore};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn now() -> SystemTime {
    // Whole milliseconds, as stores keep them.
    let ms = SystemClock::new()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
}

fn ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn fresh(name: &str) -> Token {
    let now = now();
    Token::new(name, now, now + Duration::from_secs(600))
}

async fn loaded(store: &RedisStore, key: &str) -> Option<String> {
    store
        .load(key)
        .await
        .unwrap()
        .map(|t| t.access_token().secret().to_owned())
}

async fn set_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str, value: &[u8]) {
    let _: () = redis::cmd("DEL").arg(key).query_async(conn).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn undecodable_values_are_replaced_whatever_issued_at_ms_they_claim() {
    support::capture_logs();
    let redis = RedisServer::start();
    let prefix = unique_prefix("claims");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let mut conn = raw(redis.url()).await;
    let redis_key = format!("{prefix}k");
    let soon = ms(now()) + 30 * 60 * 1000; // half an hour ahead: believable, but unreadable
    let year_2100 = 4_102_444_800_000u64;
    let planted = [
        r#"{"v":1,"access_token":"planted","issued_at_ms":1e300}"#.to_owned(),
        r#"{"issued_at_ms":1e300}"#.to_owned(),
        r#"{"issued_at_ms":-1e300}"#.to_owned(),
        r#"{"issued_at_ms":9007199254740993}"#.to_owned(),
        // Redis's cjson also accepts these non-JSON numbers.
        r#"{"issued_at_ms":NaN}"#.to_owned(),
        r#"{"issued_at_ms":Infinity}"#.to_owned(),
        r#"{"issued_at_ms":0x1FFFFFFFFFFFFF}"#.to_owned(),
        format!(r#"{{"issued_at_ms":{year_2100}.5}}"#),
        format!(r#"{{"v":1,"issued_at_ms":{year_2100}}}"#),
        format!(r#"{{"issued_at_ms":{soon}}}"#),
        format!(r#"{{"v":1,"access_token":"planted","issued_at_ms":{soon}}}"#),
        format!(r#"[{soon}]"#),
        "\u{0}\u{ff}garbage".to_owned(),
    ];
    for (i, value) in planted.iter().enumerate() {
        set_raw(&mut conn, &redis_key, value.as_bytes()).await;
        assert_eq!(loaded(&store, "k").await, None, "{value}");
        let name = format!("fresh-{i}");
        let client_checks = || {
            support::logs_mentioning(&redis_key)
                .iter()
                .filter(|l| l.contains("replacing a stored record this store cannot read"))
                .count()
        };
        let before = client_checks();
        store.save("k", &fresh(&name)).await.unwrap();
        // The script replaces what has no sound `issued_at_ms` by itself; only a
        // believable later one goes back to the client, which cannot decode it.
        let believable = value.contains(&format!(":{soon}"));
        assert_eq!(client_checks() - before, usize::from(believable), "{value}");
        assert_eq!(
            loaded(&store, "k").await.as_deref(),
            Some(&*name),
            "{value}"
        );
    }
    let logs = support::logs_mentioning(&redis_key);
    assert!(logs.iter().any(|l| l.contains("WARN")), "{logs:#?}");
    assert!(logs.iter().all(|l| !l.contains("planted")), "{logs:#?}");
}

#[tokio::test]
async fn keys_of_another_redis_type_are_replaced() {
    support::capture_logs();
    let redis = RedisServer::start();
    let prefix = unique_prefix("wrongtype");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let mut conn = raw(redis.url()).await;
    let redis_key = format!("{prefix}k");
    let plants: [(&str, &[&str]); 4] = [
        ("RPUSH", &["a", "b"]),
        ("HSET", &["issued_at_ms", "99999999999999"]),
        ("SADD", &["x"]),
        ("ZADD", &["1", "x"]),
    ];
    for (command, args) in plants {
        let _: () = redis::cmd("DEL")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd(command)
            .arg(&redis_key)
            .arg(args)
            .query_async(&mut conn)
            .await
            .unwrap();
        // Not a store failure: no record of ours, logged, replaced by the next save.
        assert_eq!(loaded(&store, "k").await, None, "{command}");
        store
            .save("k", &fresh(&format!("over-{command}")))
            .await
            .unwrap();
        let kind: String = redis::cmd("TYPE")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(kind, "string", "{command}");
        assert_eq!(
            loaded(&store, "k").await,
            Some(format!("over-{command}")),
            "{command}"
        );
    }
    let logs = support::logs_mentioning(&redis_key);
    assert!(
        logs.iter()
            .any(|l| l.contains("WARN") && l.contains("another Redis type")),
        "{logs:#?}"
    );
}

#[tokio::test]
async fn a_record_encrypted_under_another_key_is_replaced_even_if_issued_later() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("otherkey");
    let (ours, _) = EncryptionKey::generate();
    let (theirs, _) = EncryptionKey::generate();
    let store = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .encryption(ours);
    let other = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .encryption(theirs);
    let plain = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);

    // Issued ten minutes after ours, under a key we do not have.
    let later = now() + Duration::from_secs(600);
    other
        .save(
            "k",
            &Token::new("theirs", later, later + Duration::from_secs(600)),
        )
        .await
        .unwrap();
    assert_eq!(loaded(&store, "k").await, None);
    store.save("k", &fresh("ours")).await.unwrap();
    assert_eq!(loaded(&store, "k").await.as_deref(), Some("ours"));

    // Same for a clear-text store facing an encrypted record, and the other way round.
    other
        .save(
            "k",
            &Token::new("theirs-again", later, later + Duration::from_secs(600)),
        )
        .await
        .unwrap();
    plain.save("k", &fresh("plain")).await.unwrap();
    assert_eq!(loaded(&plain, "k").await.as_deref(), Some("plain"));
    plain
        .save(
            "k",
            &Token::new("plain-later", later, later + Duration::from_secs(600)),
        )
        .await
        .unwrap();
    store.save("k", &fresh("ours-again")).await.unwrap();
    assert_eq!(loaded(&store, "k").await.as_deref(), Some("ours-again"));
}

#[tokio::test]
async fn a_readable_record_issued_later_is_still_kept() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("keepnewer");
    let (key, _) = EncryptionKey::generate();
    for store in [
        RedisStore::from_url(redis.url()).unwrap().prefix(&prefix),
        RedisStore::from_url(redis.url())
            .unwrap()
            .prefix(&prefix)
            .encryption(key),
    ] {
        let later = now() + Duration::from_secs(30 * 60);
        store
            .save(
                "k",
                &Token::new("newer", later, later + Duration::from_secs(600)),
            )
            .await
            .unwrap();
        store.save("k", &fresh("older")).await.unwrap();
        assert_eq!(loaded(&store, "k").await.as_deref(), Some("newer"));
        store.remove("k").await.unwrap();
    }
}

#[tokio::test]
async fn after_a_planted_record_each_run_reuses_the_token_of_the_first() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("reuse");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let calls = Arc::new(AtomicUsize::new(0));
    let manager = || {
        let grant = support::counting_grant("run-token", Duration::from_secs(3600), &calls);
        TokenManager::builder()
            .grant(grant)
            .store(store.clone())
            .build()
            .unwrap()
    };
    let key = manager().cache_key().to_owned();
    let mut conn = raw(redis.url()).await;
    set_raw(
        &mut conn,
        &store.redis_key(&key),
        br#"{"v":1,"access_token":"planted","issued_at_ms":1e300}"#,
    )
    .await;
    for _ in 0..3 {
        // A new process each time: an empty memory.
        let token = manager().token().await.unwrap();
        assert_eq!(token.access_token().secret(), "run-token-1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
