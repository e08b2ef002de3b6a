//! The Redis store through Redis Sentinel (`redis+sentinel://`, `rediss+sentinel://`): a
//! real set-up of one master, one replica and three sentinels, made to fail over while a
//! fleet of managers keeps asking for tokens.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grantkit_core::{
    Clock as _, GrantIdentity, SystemClock, Token, TokenManager, TokenStore as _, grant_fn,
};
use grantkit_stores::{RedisOptions, RedisStore, conformance};
use grantkit_testkit::certs;
use grantkit_testkit::redis_server::unique_prefix;
use grantkit_testkit::redis_setups::RedisSentinel;

async fn spawn(tls: bool) -> RedisSentinel {
    tokio::task::spawn_blocking(move || RedisSentinel::spawn(tls))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_found_through_sentinel_conforms() {
    let setup = spawn(false).await;
    let store = RedisStore::from_url(&setup.url())
        .unwrap()
        .prefix(unique_prefix("sentinel"));
    let debug = format!("{store:?}");
    assert!(debug.contains("master: \"mymaster\""), "{debug}");
    conformance::all(&store, "").await;
}

/// The token endpoint of the fail-over test: each request takes 100 ms and hands out
/// `failover-{n}`; every request's start and end are recorded.
#[derive(Default)]
struct Endpoint {
    calls: AtomicUsize,
    spans: Mutex<Vec<(Instant, Instant)>>,
}

const LIFETIME: Duration = Duration::from_millis(1500);

fn manager(store: RedisStore, endpoint: &Arc<Endpoint>) -> TokenManager {
    let endpoint = Arc::clone(endpoint);
    let grant = grant_fn(
        GrantIdentity::new("client_credentials", "https://auth.example.com/token")
            .with_client_id("fleet"),
        move |cx| {
            let endpoint = Arc::clone(&endpoint);
            async move {
                let start = Instant::now();
                let n = endpoint.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                endpoint.spans.lock().unwrap().push((start, Instant::now()));
                let now = cx.now();
                Ok(Token::new(format!("failover-{n}"), now, now + LIFETIME))
            }
        },
    );
    TokenManager::builder()
        .grant(grant)
        .store(store)
        .build()
        .unwrap()
}

/// What the fleet saw: every token each caller got (all must be unexpired when handed
/// out), and every error.
#[derive(Default)]
struct Seen {
    tokens: Mutex<BTreeSet<String>>,
    expired: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
    calls: AtomicUsize,
}

async fn run_fleet(setup: RedisSentinel, url_options: RedisOptions) {
    const MANAGERS: usize = 4;
    let prefix = unique_prefix("sentinel-failover");
    let endpoint = Arc::new(Endpoint::default());
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clock = SystemClock::new();
    let mut callers = Vec::new();
    let mut key = String::new();
    let started = Instant::now();
    for _ in 0..MANAGERS {
        // One store each: separate connections, as separate processes have.
        let store = RedisStore::from_url_with(&setup.url(), &url_options)
            .unwrap()
            .prefix(&prefix);
        let m = manager(store, &endpoint);
        key = m.cache_key().to_owned();
        // Connected (sentinels asked, TLS handshakes done) before the load starts.
        m.token().await.unwrap();
        let (seen, stop, clock) = (Arc::clone(&seen), Arc::clone(&stop), clock);
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                seen.calls.fetch_add(1, Ordering::SeqCst);
                let asked = clock.now();
                match m.token().await {
                    Ok(token) => {
                        let now = clock.now();
                        // Valid when asked for (the check after the call would also count
                        // the time this task waits for a core on a loaded machine).
                        if token.expires_at() <= asked {
                            let late = now.duration_since(token.expires_at()).unwrap_or_default();
                            seen.expired.lock().unwrap().push(format!(
                                "{} expired {late:?} before it was handed out, at {:?}",
                                token.access_token().secret(),
                                Instant::now() - started
                            ));
                        }
                        seen.tokens
                            .lock()
                            .unwrap()
                            .insert(token.access_token().secret().to_owned());
                    }
                    Err(e) => seen.errors.lock().unwrap().push(e.report().to_string()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failover_start = Instant::now();
    let (setup, agreed) = tokio::task::spawn_blocking(move || {
        let (_, agreed) = setup.failover();
        (setup, agreed)
    })
    .await
    .unwrap();
    let failover_end = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.unwrap();
    }
    let finished = Instant::now();
    // A renewal running in the background when the callers stopped ends (and saves) first.
    while endpoint.spans.lock().unwrap().len() < endpoint.calls.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Callers kept getting valid tokens: no error, nothing expired.
    let errors = seen.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "callers failed: {errors:?}");
    let expired = seen.expired.lock().unwrap().clone();
    assert!(expired.is_empty(), "{expired:?}");
    assert!(
        seen.calls.load(Ordering::SeqCst) > 100,
        "the fleet was not under load"
    );

    // The lock: two token requests overlap only around the fail-over, while the store was
    // unreachable or its writes were being lost: from its start until 2.5 s after the
    // sentinels named the new master (the 1 s master check, the 0.5 s outage back-off, a
    // reconnect), though the old master is demoted only later (docs/stores.md, "Redis
    // Sentinel").
    let window_end = agreed + Duration::from_millis(2500);
    let in_window = |(s, e): (Instant, Instant)| s < window_end && e > failover_start;
    let spans = endpoint.spans.lock().unwrap().clone();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let overlap = a.0 < b.1 && b.0 < a.1;
            assert!(
                !overlap || (in_window(*a) && in_window(*b)),
                "two renewals at once outside the fail-over window: {:?} and {:?} after the start \
                 (fail-over {:?}..{:?}, sentinels agreed at {:?})",
                (a.0 - started, a.1 - started),
                (b.0 - started, b.1 - started),
                failover_start - started,
                failover_end - started,
                agreed - started
            );
        }
    }
    // Single flight across the fleet outside the window: a renewal at most every half
    // lifetime (the refresh window), not one per manager.
    let outside = spans.iter().filter(|s| !in_window(**s)).count();
    let outside_secs =
        (finished - started).as_secs_f64() - (window_end - failover_start).as_secs_f64();
    let bound = (outside_secs / (LIFETIME.as_secs_f64() / 2.0)).ceil() as usize + 2;
    assert!(
        outside <= bound,
        "{outside} renewals outside the fail-over window in {outside_secs:.1} s (at most {bound})"
    );

    // Nothing lost: the new master holds the last token issued, and callers got tokens
    // issued after the fail-over.
    let check = RedisStore::from_url_with(&setup.url(), &url_options)
        .unwrap()
        .prefix(&prefix);
    let last = format!("failover-{}", endpoint.calls.load(Ordering::SeqCst));
    let stored = check
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .expect("a token in Redis");
    assert_eq!(stored.access_token().secret(), last);
    let after_failover = spans.iter().filter(|(s, _)| *s > window_end).count();
    assert!(after_failover >= 1, "no renewal after the fail-over");
    drop(setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_keeps_getting_tokens_through_a_sentinel_failover() {
    support::capture_logs();
    let setup = spawn(false).await;
    run_fleet(setup, RedisOptions::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_sentinel_setup_conforms_and_its_store_follows_a_failover() {
    let setup = spawn(true).await;
    let url = setup.url();
    assert!(url.starts_with("rediss+sentinel://"), "{url}");
    let options = RedisOptions::new().ca_file(certs::CA);
    let prefix = unique_prefix("sentinel-tls");
    let store = RedisStore::from_url_with(&url, &options)
        .unwrap()
        .prefix(&prefix);
    assert!(format!("{store:?}").contains("tls: true"), "{store:?}");
    conformance::round_trip(&store, "").await;
    conformance::lock_exclusion(&store, "").await;
    let now = SystemClock::new().now();
    let before = Token::new("before-failover", now, now + Duration::from_secs(600));
    store.save("k", &before).await.unwrap();
    let replica = tokio::task::spawn_blocking(move || {
        let (_, agreed) = setup.failover();
        (setup, agreed)
    });
    let (setup, _) = replica.await.unwrap();
    // The old master dropped this store's connection when it was demoted; within a few
    // operations the store is on the new master, which has the token saved before.
    let deadline = Instant::now() + Duration::from_secs(10);
    let loaded = loop {
        match store.load("k").await {
            Ok(token) => break token,
            Err(e) => {
                assert!(Instant::now() < deadline, "{}", e.report());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(
        loaded.map(|t| t.access_token().secret().to_owned()),
        Some("before-failover".to_owned())
    );
    let after = Token::new("after-failover", now, now + Duration::from_secs(601));
    store.save("k", &after).await.unwrap();
    let master = setup.master_port().unwrap();
    let mut raw = redis::Client::open(format!("redis://127.0.0.1:{master}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let value: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}k"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(value.unwrap().contains("after-failover"));
    conformance::lock_exclusion(&store, "").await;
}
