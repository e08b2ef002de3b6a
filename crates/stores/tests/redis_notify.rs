//! The Redis store's change notifications (`TokenStore::watch`, pub/sub on
//! `{prefix}notify:{key}`): what is published, when, and a manager that waits for another
//! process's lock holder through them.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use grantkit_core::{
    Clock as _, Error, ErrorKind, FailureRecord, LockAttempt, SystemClock, Token, TokenManager,
    TokenStore,
};
use grantkit_stores::RedisStore;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

const KEY: &str = "client_credentials:notify:0af3";
/// Only guards against a hang; nothing here is timed.
const PATIENCE: Duration = Duration::from_secs(10);

fn fresh(name: &str) -> Token {
    let now = SystemClock::new().now();
    Token::new(name, now, now + Duration::from_secs(3600))
}

/// Subscribers to `channel`, as Redis counts them.
async fn subscribers(conn: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(conn)
        .await
        .unwrap();
    n
}

/// How many times Redis ran `command`, from `INFO commandstats`.
async fn calls(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("cmdstat_{command}:calls="))
                .map(str::to_owned)
        })
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn saves_failures_and_releases_are_announced_on_the_keys_channel_without_the_token() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("notify");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let channel = format!("{prefix}notify:{KEY}");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut listener = client.get_async_pubsub().await.unwrap();
    listener.subscribe(&channel).await.unwrap();
    let mut messages = listener.into_on_message();
    let mut watch = store.watch(KEY).await.unwrap().expect("Redis can watch");

    let mut next = async || {
        let msg = tokio::time::timeout(PATIENCE, messages.next())
            .await
            .expect("announced")
            .unwrap();
        assert!(
            tokio::time::timeout(PATIENCE, watch.changed())
                .await
                .expect("the watch woke"),
            "the subscription is alive"
        );
        (
            msg.get_channel_name().to_owned(),
            msg.get_payload::<String>().unwrap(),
        )
    };

    store.save(KEY, &fresh("secret-at-1")).await.unwrap();
    assert_eq!(next().await, (channel.clone(), "changed".to_owned()));

    let failure = FailureRecord::from_error(
        &Error::new(ErrorKind::Connect, "token endpoint unreachable"),
        SystemClock::new().now() + Duration::from_secs(5),
    );
    store
        .save_failure(KEY, &failure, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(next().await, (channel.clone(), "changed".to_owned()));

    let LockAttempt::Acquired(lock) = store.try_lock(KEY, Duration::from_secs(5)).await.unwrap()
    else {
        panic!("the lock is free")
    };
    lock.release().await.unwrap();
    assert_eq!(next().await, (channel.clone(), "changed".to_owned()));

    // Taking the lock is not announced, nor is releasing a lock that is no longer ours
    // (it expired and another holder took it): the next message is the save's.
    let LockAttempt::Acquired(lock) = store.try_lock(KEY, Duration::from_millis(1)).await.unwrap()
    else {
        panic!("the lock is free")
    };
    tokio::time::sleep(Duration::from_millis(20)).await; // the lock's 1 ms TTL runs out
    let LockAttempt::Acquired(other) = store.try_lock(KEY, Duration::from_secs(5)).await.unwrap()
    else {
        panic!("the expired lock is free")
    };
    lock.release().await.unwrap();
    store.save(KEY, &fresh("secret-at-2")).await.unwrap();
    assert_eq!(next().await, (channel.clone(), "changed".to_owned()));
    other.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_waiting_for_another_holder_watches_and_takes_its_token() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("notify-wait");
    let holder = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let calls = Arc::new(AtomicUsize::new(0));
    let manager = TokenManager::builder()
        .grant(support::counting_grant(
            "own-token",
            Duration::from_secs(3600),
            &calls,
        ))
        .store(RedisStore::from_url(redis.url()).unwrap().prefix(&prefix))
        .build()
        .unwrap();
    let key = manager.cache_key().to_owned();
    let channel = format!("{prefix}notify:{key}");
    let LockAttempt::Acquired(lock) = holder
        .try_lock(&key, Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("the lock is free")
    };
    let m = manager.clone();
    let waiter = tokio::spawn(async move { m.token().await });

    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let watching = tokio::time::timeout(PATIENCE, async {
        while subscribers(&mut conn, &channel).await != 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        watching.is_ok(),
        "the waiting manager subscribed to {channel}"
    );

    holder.save(&key, &fresh("holders-token")).await.unwrap();
    lock.release().await.unwrap();
    let got = tokio::time::timeout(PATIENCE, waiter)
        .await
        .expect("the waiter returned")
        .unwrap()
        .unwrap();
    assert_eq!(got.access_token().secret(), "holders-token");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no request of its own");
    assert_eq!(manager.stats().tokens_from_store, 1);
    // The wait is over; the store's subscriber stays for its next waits, and goes with
    // the store.
    assert_eq!(subscribers(&mut conn, &channel).await, 1);
    drop(manager);
    let unsubscribed = tokio::time::timeout(PATIENCE, async {
        while subscribers(&mut conn, &channel).await != 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        unsubscribed.is_ok(),
        "the dropped store closed its subscriber connection"
    );
}

/// Waits on one store share its subscriber connection: one `SUBSCRIBE` per key in the
/// connection's life, and no command at all for a wait after that.
#[tokio::test]
async fn every_wait_on_a_store_shares_one_subscription_per_key() {
    let mut redis = RedisServer::spawn();
    let prefix = unique_prefix("notify-shared");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let channel = format!("{prefix}notify:{KEY}");
    let other_channel = format!("{prefix}notify:{KEY}-other");
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let subscribes =
        async |conn: &mut redis::aio::MultiplexedConnection| calls(conn, "subscribe").await;
    // The harness's own start-up probes are PINGs.
    let pings_before = calls(&mut conn, "ping").await;

    let mut first = store.watch(KEY).await.unwrap().expect("Redis can watch");
    let mut second = store
        .clone()
        .watch(KEY)
        .await
        .unwrap()
        .expect("Redis can watch");
    let mut other = store.watch(&format!("{KEY}-other")).await.unwrap().unwrap();
    assert_eq!(subscribers(&mut conn, &channel).await, 1, "one subscriber");
    assert_eq!(subscribers(&mut conn, &other_channel).await, 1);
    assert_eq!(subscribes(&mut conn).await, 2, "one SUBSCRIBE per key");

    // A message wakes every wait on its key, and only those.
    store.save(KEY, &fresh("secret-shared")).await.unwrap();
    for watch in [&mut first, &mut second] {
        assert!(
            tokio::time::timeout(PATIENCE, watch.changed())
                .await
                .unwrap()
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(50), other.changed())
            .await
            .is_err(),
        "another key's wait sleeps on"
    );
    drop((first, second));
    let mut third = store.watch(KEY).await.unwrap().unwrap();
    assert_eq!(subscribes(&mut conn).await, 2, "a later wait sends nothing");
    assert_eq!(
        calls(&mut conn, "ping").await,
        pings_before,
        "a connection heard from within 30 s is not checked"
    );
    assert_eq!(subscribers(&mut conn, &channel).await, 1);

    // The connection is lost: the waits of the moment end, and the next wait connects
    // and subscribes again.
    redis.restart();
    for watch in [&mut third, &mut other] {
        assert!(
            !tokio::time::timeout(PATIENCE, watch.changed())
                .await
                .unwrap(),
            "the lost connection ends the wait"
        );
    }
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut again = tokio::time::timeout(PATIENCE, async {
        loop {
            // The store's outage back-off refuses for 0.5 s after a failure.
            if let Ok(Some(watch)) = store.watch(KEY).await {
                break watch;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a new subscriber connection");
    assert_eq!(subscribers(&mut conn, &channel).await, 1);
    // The store's own connection finds the restart at its next command, and reconnects.
    tokio::time::timeout(PATIENCE, async {
        while store
            .save(KEY, &fresh("secret-after-restart"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("saved after the restart");
    assert!(
        tokio::time::timeout(PATIENCE, again.changed())
            .await
            .unwrap()
    );
}

/// A failed attempt to connect the subscriber is not repeated by every wait queued behind
/// it: for a moment they fail at once (and poll); then a wait connects again.
#[tokio::test]
async fn waits_behind_a_failed_subscriber_connection_fail_at_once_then_retry() {
    let mut redis = RedisServer::spawn();
    let prefix = unique_prefix("notify-down");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    redis.stop();

    let first = store.watch(KEY).await.unwrap_err().to_string();
    assert!(
        first.contains("Redis subscriber connection failed"),
        "{first}"
    );
    let second = store.watch(KEY).await.unwrap_err().to_string();
    assert!(
        second.contains("the last attempt failed moments ago"),
        "{second}"
    );

    redis.restart();
    let mut watch = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(Some(watch)) = store.watch(KEY).await {
                break watch;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a subscriber connection once Redis is back");
    tokio::time::timeout(PATIENCE, async {
        while store
            .save(KEY, &fresh("secret-after-outage"))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("saved once Redis is back");
    assert!(
        tokio::time::timeout(PATIENCE, watch.changed())
            .await
            .unwrap()
    );
}

/// A TCP relay to Redis whose connections can be made silent, as a load balancer that
/// drops an idle connection without a word: bytes are swallowed both ways, sockets stay
/// open. Connections accepted after [`Relay::silence`] pass.
struct Relay {
    url: String,
    accepted: Arc<AtomicUsize>,
    silenced_below: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(redis_port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let silenced_below = Arc::new(AtomicUsize::new(0));
        let (counter, threshold) = (Arc::clone(&accepted), Arc::clone(&silenced_below));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = counter.fetch_add(1, Ordering::SeqCst);
                let server = tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
                    .await
                    .unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (mut from, mut to) in [(cr, sw), (sr, cw)].map(|(r, w)| (r, w)) {
                    let threshold = Arc::clone(&threshold);
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let mut buf = vec![0; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf).await {
                            if n == 0 {
                                return;
                            }
                            if id < threshold.load(Ordering::SeqCst) {
                                continue; // swallowed
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Relay {
            url,
            accepted,
            silenced_below,
        }
    }

    /// Silences every connection accepted so far.
    fn silence(&self) {
        self.silenced_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// A subscriber connection that went silent (dropped by something in between) is found by
/// the check of the next wait after the configured silence: the waits on it end (they
/// poll), and the wait after that connects again and is woken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_dropped_silently_is_found_by_the_next_waits_check() {
    let redis = RedisServer::spawn();
    let relay = Relay::start(redis.port().unwrap()).await;
    let prefix = unique_prefix("notify-silent");
    let store = RedisStore::from_url(&relay.url)
        .unwrap()
        .prefix(&prefix)
        .response_timeout(Duration::from_millis(300))
        .subscriber_check_after(Duration::from_millis(100));
    let mut first = store.watch(KEY).await.unwrap().unwrap();
    // Silent but healthy: the check is answered, and the connection kept.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut checked = store.watch(KEY).await.unwrap().unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pinged = tokio::time::timeout(PATIENCE, async {
        while calls(&mut conn, "ping").await == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(pinged.is_ok(), "the silent connection was checked");
    tokio::time::sleep(Duration::from_millis(400)).await; // past the check's timeout
    store
        .save(KEY, &fresh("secret-while-healthy"))
        .await
        .unwrap();
    for watch in [&mut first, &mut checked] {
        assert!(
            tokio::time::timeout(PATIENCE, watch.changed())
                .await
                .unwrap(),
            "an answered check keeps the connection"
        );
    }
    drop(checked);
    relay.silence();
    // Silent for longer than the check's threshold (real time: the relay is real).
    tokio::time::sleep(Duration::from_millis(150)).await;

    let mut second = store.watch(KEY).await.unwrap().unwrap();
    for watch in [&mut first, &mut second] {
        assert!(
            !tokio::time::timeout(PATIENCE, watch.changed())
                .await
                .unwrap(),
            "the unanswered check ends the waits on the silent connection"
        );
    }
    let mut third = store.watch(KEY).await.unwrap().unwrap();
    // The store's own command connection went silent too; another process saves.
    let other = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    other
        .save(KEY, &fresh("secret-after-silence"))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(PATIENCE, third.changed())
            .await
            .unwrap()
    );
}
