//! The Redis store under faults: Redis killed mid-run and restarted, unreachable or
//! unresponsive servers, garbage records; and its TTLs and key layout.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use grantkit_core::{
    Clock as _, ErrorKind, LockAttempt, ManualClock, Token, TokenManager, TokenStore,
};
use grantkit_stores::{EncryptionKey, RedisStore};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

/// A manager whose grant hands out `redis-token-{n}` living `lifetime`, and counts calls.
fn manager(
    store: RedisStore,
    clock: &ManualClock,
    calls: &Arc<AtomicUsize>,
    lifetime: Duration,
) -> TokenManager {
    let grant = support::counting_grant("redis-token", lifetime, calls);
    TokenManager::builder()
        .grant(grant)
        .store(store)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_keep_succeeding_while_redis_is_killed_and_restarted() {
    support::capture_logs();
    let mut redis = RedisServer::spawn();
    let clock = ManualClock::at_fixed_epoch();
    let prefix = unique_prefix("fault");
    let store = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .timeout(Duration::from_millis(500))
        .clock(clock.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let lifetime = Duration::from_secs(60);
    let m = manager(store.clone(), &clock, &calls, lifetime);
    let key = m.cache_key().to_owned();

    let first = m.token().await.unwrap();
    assert_eq!(
        store.load(&key).await.unwrap().unwrap(),
        first,
        "the token is in Redis"
    );

    // Callers hammer the manager for the whole test; none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (m, stop) = (m.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut served = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    m.token().await.expect("a caller failed during the outage");
                    assert!(
                        started.elapsed() < Duration::from_secs(5),
                        "a caller waited {:?}",
                        started.elapsed()
                    );
                    served += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                served
            })
        })
        .collect();

    // Kill Redis mid-run; let tokens expire so that renewals need the store.
    redis.stop();
    for _ in 0..5 {
        clock.advance(lifetime + Duration::from_secs(1));
        let started = Instant::now();
        let t = m.token().await.unwrap();
        assert!(!t.is_expired(clock.now()));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a renewal during the outage took {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(m.stats().store_errors > 0, "{:?}", m.stats());
    assert!(
        store
            .load(&key)
            .await
            .is_err_and(|e| e.kind() == ErrorKind::Store)
    );

    // Redis comes back (empty, on the same port): the store recovers by itself and the
    // next renewal lands in Redis again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        clock.advance(lifetime + Duration::from_secs(1));
        let t = m.token().await.unwrap();
        if let Ok(Some(stored)) = store.load(&key).await
            && stored == t
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    stop.store(true, Ordering::SeqCst);
    for c in callers {
        assert!(c.await.unwrap() > 0);
    }
    assert!(redis.is_up());
    let logs = support::all_logs();
    assert!(
        logs.contains("token store failed; continuing without it"),
        "the outage was not logged"
    );
    assert!(!logs.contains("redis-token-"), "a token reached the logs");
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_with_a_store_error() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = RedisStore::from_url(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .timeout(Duration::from_millis(300));
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let err = store
            .try_lock("k", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
    }
}

#[tokio::test]
async fn a_redis_that_never_answers_times_out() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let store = RedisStore::from_url(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = store.load("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Right after, calls fail at once instead of waiting again.
    let started = Instant::now();
    assert!(store.load("k").await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    drop(holder);
}

#[tokio::test]
async fn ttl_is_the_remaining_lifetime_and_expired_tokens_are_not_kept() {
    let redis = RedisServer::start();
    let clock = ManualClock::at_fixed_epoch();
    let prefix = unique_prefix("ttl");
    let store = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .clock(clock.clone());
    let now = clock.now();
    store
        .save(
            "k",
            &Token::new(
                "a",
                now - Duration::from_secs(10),
                now + Duration::from_secs(50),
            ),
        )
        .await
        .unwrap();
    let mut conn = raw(redis.url()).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((49_000..=50_000).contains(&pttl), "PTTL {pttl}");

    let with_extra = store.clone().extra_ttl(Duration::from_secs(100));
    with_extra
        .save("k2", &Token::new("b", now, now + Duration::from_secs(50)))
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k2"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((149_000..=150_000).contains(&pttl), "PTTL {pttl}");

    store
        .save(
            "old",
            &Token::new(
                "c",
                now - Duration::from_secs(100),
                now - Duration::from_secs(40),
            ),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.load("old").await.unwrap().is_none());
    // With extra_ttl, an expired token is kept for the rest of that extra time.
    with_extra
        .save(
            "old2",
            &Token::new(
                "d",
                now - Duration::from_secs(100),
                now - Duration::from_secs(40),
            ),
        )
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}old2"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((59_000..=60_000).contains(&pttl), "PTTL {pttl}");

    // The lock's TTL is the one asked for, on the lock key.
    let lock = match store.try_lock("k", Duration::from_secs(7)).await.unwrap() {
        LockAttempt::Acquired(lock) => lock,
        other => panic!("{other:?}"),
    };
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}lock:k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((6_000..=7_000).contains(&pttl), "PTTL {pttl}");
    lock.release().await.unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}lock:k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn garbage_records_are_ignored_logged_and_overwritten() {
    support::capture_logs();
    let redis = RedisServer::start();
    let prefix = unique_prefix("garbage");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let mut conn = raw(redis.url()).await;
    let now = grantkit_core::SystemClock::new().now();
    for garbage in [
        &b"\x00\xffnot json"[..],
        b"{\"issued_at_ms\":\"soon\"}",
        b"[]",
        b"",
    ] {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}k"))
            .arg(garbage)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(store.load("k").await.unwrap().is_none());
        store
            .save(
                "k",
                &Token::new("fresh", now, now + Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .load("k")
                .await
                .unwrap()
                .unwrap()
                .access_token()
                .secret(),
            "fresh"
        );
    }
    assert!(!support::logs_mentioning(&format!("{prefix}k")).is_empty());
}

#[tokio::test]
async fn encrypted_records_hold_no_token() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("encrypted");
    let (key, _) = EncryptionKey::generate();
    let store = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .encryption(key);
    let now = grantkit_core::SystemClock::new().now();
    let token = Token::new("bearer-secret", now, now + Duration::from_secs(60))
        .with_refresh_token("refresh-secret");
    store.save("k", &token).await.unwrap();
    let mut conn = raw(redis.url()).await;
    let stored: String = redis::cmd("GET")
        .arg(format!("{prefix}k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!stored.contains("secret"), "{stored}");
    let loaded = store.load("k").await.unwrap().unwrap();
    assert_eq!(loaded.access_token().secret(), "bearer-secret");
    assert_eq!(loaded.refresh_token().unwrap().secret(), "refresh-secret");
    // Another key, or none, reads nothing.
    let (other, _) = EncryptionKey::generate();
    let wrong = RedisStore::from_url(redis.url())
        .unwrap()
        .prefix(&prefix)
        .encryption(other);
    assert!(wrong.load("k").await.unwrap().is_none());
    let plain = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    assert!(plain.load("k").await.unwrap().is_none());
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let store = RedisStore::from_url("redis://user:hunter2@127.0.0.1:6390/3").unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("127.0.0.1:6390"), "{debug}");
    let err = RedisStore::from_url("redis://user:hunter2@[::1").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        !err.report().to_string().contains("hunter2"),
        "{}",
        err.report()
    );
}

#[tokio::test]
async fn reserved_keys_are_refused() {
    let store = RedisStore::from_url("redis://127.0.0.1:1").unwrap();
    let err = store.load("lock:x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
}
