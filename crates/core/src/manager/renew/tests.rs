//! Renewal: the store, the fleet lock, fallbacks, shared failures and cool-downs.

use crate::manager::test_support::*;

#[tokio::test]
async fn endpoint_down_serves_the_valid_token_then_fails_clearly_after_expiry() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n == 1 {
                let now = cx.now();
                Ok(Token::new("only", now, now + Duration::from_secs(300)))
            } else {
                Err(Error::new(
                    ErrorKind::Connect,
                    "could not connect to the token endpoint",
                ))
            }
        }
    });
    let manager = builder(&clock)
        .grant(grant)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    manager.token().await.unwrap();
    clock.advance(Duration::from_secs(250)); // inside the window
    for _ in 0..10 {
        let t = manager.token().await.unwrap();
        assert_eq!(t.access_token().secret(), "only");
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
    }
    let failed_renewals = calls.load(Ordering::SeqCst) - 1;
    assert_eq!(
        failed_renewals, 1,
        "a failed renewal backs off instead of hammering"
    );
    assert_eq!(manager.stats().renewal_failures, 1);

    clock.advance(Duration::from_secs(51)); // past expiry
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    // Retries are off: one attempt, and the error says so.
    assert_eq!(e.attempts(), Some(1));
    assert_eq!(
        e.to_string(),
        "could not connect to the token endpoint (after 1 attempt)"
    );
}

#[tokio::test]
async fn managers_sharing_a_store_share_the_token() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let (grant_a, calls_a) = counting_grant(Duration::from_secs(3600));
    let (grant_b, calls_b) = counting_grant(Duration::from_secs(3600));
    let a = builder(&clock)
        .grant(grant_a)
        .store(store.clone())
        .build()
        .unwrap();
    let b = builder(&clock)
        .grant(grant_b)
        .store(store.clone())
        .build()
        .unwrap();
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert!(ta.same_access_token(&tb));
    assert_eq!(
        (
            calls_a.load(Ordering::SeqCst),
            calls_b.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    assert_eq!(b.stats().tokens_from_store, 1);
    assert_eq!(b.stats().token_requests, 0);
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_makes_waiters_poll_the_store_and_take_over_when_it_expires() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .lock_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    // Another process holds the lock and delivers after 2 s.
    let held = match store
        .try_lock(manager.cache_key(), Duration::from_secs(10))
        .await
        .unwrap()
    {
        LockAttempt::Acquired(l) => l,
        other => panic!("{other:?}"),
    };
    let key = manager.cache_key().to_owned();
    let s = store.clone();
    let now = clock.now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        s.save(
            &key,
            &Token::new("from-peer", now, now + Duration::from_secs(3600)),
        )
        .await
        .unwrap();
        held.release().await.unwrap();
    });
    let t = manager.token().await.unwrap();
    assert_eq!(t.access_token().secret(), "from-peer");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A peer that takes the lock and dies: the waiter takes over after the lock's TTL.
    let other_key = "dead-peer";
    let _ = other_key;
    let (grant2, calls2) = counting_grant(Duration::from_secs(3600));
    let store2 = MemoryStore::new();
    let m2 = builder(&clock)
        .grant(grant2)
        .store(store2.clone())
        .lock_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let dead = store2
        .try_lock(m2.cache_key(), Duration::from_secs(10))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let t = m2.token().await.unwrap();
    assert_eq!(t.access_token().secret(), "tok-1");
    assert_eq!(calls2.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() >= Duration::from_secs(10));
    drop(dead);
}

#[tokio::test]
async fn a_failing_store_never_fails_callers() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock)
        .grant(grant)
        .store(BrokenStore)
        .build()
        .unwrap();
    let t = manager.token().await.unwrap();
    assert_eq!(t.access_token().secret(), "tok-1");
    assert!(manager.token().await.unwrap().same_access_token(&t));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(manager.stats().store_errors, 3, "load, lock, save");
}

#[tokio::test]
async fn on_token_runs_for_each_new_token() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, _) = counting_grant(Duration::from_secs(100));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let manager = builder(&clock)
        .grant(grant)
        .on_token(move |t| s.lock().unwrap().push(t.access_token().secret().to_owned()))
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    manager.token().await.unwrap();
    manager.invalidate(&first).await;
    manager.token().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["tok-1", "tok-2"]);
}

#[tokio::test]
async fn a_refusal_is_repeated_for_the_cooldown_instead_of_a_request_per_call() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        async {
            Err(Error::from_response(
                401,
                &[],
                br#"{"error":"invalid_client"}"#,
            ))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    for _ in 0..100 {
        let e = manager.token().await.unwrap_err();
        assert!(e.is_invalid_client());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one request for a hundred calls"
    );
    clock.advance(Duration::from_millis(1000));
    assert!(manager.token().await.unwrap_err().is_invalid_client());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "after the cooldown, one new attempt"
    );

    let no_cooldown = builder(&clock)
        .grant(grant_fn(identity(), |_| async {
            Err(Error::permanent("no"))
        }))
        .failure_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..3 {
        no_cooldown.token().await.unwrap_err();
    }
    assert_eq!(no_cooldown.stats().grant_calls, 3);
}

/// Issue 11, item 14 (the lock convoy): processes sharing a store with an endpoint that
/// refused (`invalid_client`) each waited a whole lock lifetime for a holder that had
/// already failed, then asked the endpoint again themselves. Now the holder leaves its
/// failure in the store before it unlocks and the waiter returns it at its next look.
#[tokio::test(start_paused = true)]
async fn a_waiter_returns_the_lock_holders_failure_at_once_without_a_request() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let holder = builder(&clock)
        .grant(grant_fn(identity(), move |_| {
            let g = Arc::clone(&g);
            async move {
                let _permit = g.acquire().await;
                Err(Error::from_response(
                    401,
                    &[],
                    br#"{"error":"invalid_client","error_description":"bad secret"}"#,
                ))
            }
        }))
        .store(store.clone())
        .lock_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let (grant, waiter_calls) = counting_grant(Duration::from_secs(3600));
    let waiter = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .lock_ttl(Duration::from_secs(30))
        .build()
        .unwrap();

    let h = holder.clone();
    let holding = tokio::spawn(async move { h.token().await });
    tokio::time::sleep(Duration::from_millis(10)).await; // the holder now has the lock
    let w = waiter.clone();
    let waiting = tokio::spawn(async move { w.token().await });
    tokio::time::sleep(Duration::from_secs(2)).await; // the waiter polls, finds it held
    assert!(
        !waiting.is_finished(),
        "the waiter must wait for the holder"
    );

    let failed_at = tokio::time::Instant::now();
    gate.add_permits(1);
    let holder_error = holding.await.unwrap().unwrap_err();
    let error = waiting.await.unwrap().unwrap_err();
    let waited = failed_at.elapsed();
    assert!(
        waited <= Duration::from_millis(250),
        "the waiter returned {waited:?} after the failure (lock TTL 30 s)"
    );
    assert_eq!(error.to_string(), holder_error.to_string());
    assert_eq!(
        error.to_string(),
        "token endpoint refused the request (HTTP 401): invalid_client: bad secret"
    );
    assert!(error.is_invalid_client() && !error.is_retryable());
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        waiter_calls.load(Ordering::SeqCst),
        0,
        "no request of its own"
    );
    assert_eq!(waiter.stats().grant_calls, 0);
    assert_eq!(waiter.stats().renewal_failures, 1);

    // The holder released the lock.
    match store
        .try_lock(holder.cache_key(), Duration::from_secs(1))
        .await
        .unwrap()
    {
        LockAttempt::Acquired(l) => l.release().await.unwrap(),
        other => panic!("the failed holder kept the lock: {other:?}"),
    }
    // Within the cool-down (1 s by the managers' clock) the waiter repeats the error
    // without a request; after it, it asks the endpoint itself.
    clock.advance(Duration::from_millis(900));
    assert!(waiter.token().await.unwrap_err().is_invalid_client());
    assert_eq!(waiter_calls.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_millis(100));
    assert_eq!(
        waiter.token().await.unwrap().access_token().secret(),
        "tok-1"
    );
    assert_eq!(waiter_calls.load(Ordering::SeqCst), 1);
}

/// A process that takes the lock just after a holder failed (the failure is still in its
/// cool-down) returns that failure instead of asking again; a manager with a valid token
/// keeps serving it; the record stops counting at the end of the cool-down.
#[tokio::test(start_paused = true)]
async fn a_recorded_failure_is_returned_by_the_next_lock_holder_within_the_cooldown() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .build()
        .unwrap();
    let refused = Error::from_response(429, &[("Retry-After", "5")], br#"{"error":"slow_down"}"#);
    let record = FailureRecord::from_error(&refused, clock.now() + Duration::from_secs(5));
    store
        .save_failure(manager.cache_key(), &record, Duration::from_secs(5))
        .await
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.to_string(), refused.to_string());
    assert!(e.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_secs(5));
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(manager.token().await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A record claiming to hold longer than any cool-down (60 s at most: a clock far
    // ahead, or a planted record) is not trusted; one within it is, except by a manager
    // with a zero cool-down.
    let store = MemoryStore::new();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let m = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .build()
        .unwrap();
    let year = Duration::from_secs(365 * 24 * 3600);
    let record = FailureRecord::from_error(&refused, clock.now() + year);
    store
        .save_failure(m.cache_key(), &record, year)
        .await
        .unwrap();
    assert!(m.token().await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let store = MemoryStore::new();
    let minute = Duration::from_secs(60);
    let record = FailureRecord::from_error(&refused, clock.now() + minute);
    store
        .save_failure(m.cache_key(), &record, minute)
        .await
        .unwrap();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let m = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .build()
        .unwrap();
    assert!(m.token().await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let no_cooldown = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .failure_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    assert!(no_cooldown.token().await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A grant that panics while its manager holds the store's lock: the lock is released
/// and the failure recorded, rather than the lock left to expire.
#[tokio::test(start_paused = true)]
async fn a_panicking_grant_releases_the_lock_and_records_its_failure() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    #[allow(clippy::panic)]
    let manager = builder(&clock)
        .grant(grant_fn(identity(), |_| async { panic!("grant bug") }))
        .store(store.clone())
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert!(matches!(
        store
            .try_lock(manager.cache_key(), Duration::from_secs(1))
            .await
            .unwrap(),
        LockAttempt::Acquired(_)
    ));
    let record = store
        .load_failure(manager.cache_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.message(), "the grant panicked");
}

/// A store whose reads take `delay` of the manager's clock (a fail-over, a slow network).
#[derive(Debug)]
struct SlowStore {
    inner: MemoryStore,
    clock: ManualClock,
    delay: Duration,
}

#[async_trait]
impl TokenStore for SlowStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        let token = self.inner.load(key).await;
        self.clock.advance(self.delay);
        token
    }
    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        self.inner.save(key, token).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.inner.remove(key).await
    }
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        self.inner.try_lock(key, ttl).await
    }
}

/// A stored token that was fresh when the read started but expired while the store took
/// its time is not handed out: the token is judged by the clock after the read.
#[tokio::test]
async fn a_stored_token_that_expired_during_a_slow_read_is_not_handed_out() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let now = clock.now();
    let (grant, calls) = counting_grant(Duration::from_secs(100));
    let manager = builder(&clock)
        .grant(grant)
        .store(SlowStore {
            inner: store.clone(),
            clock: clock.clone(),
            delay: Duration::from_secs(2),
        })
        .build()
        .unwrap();
    // Another process saved a token with 1.5 s left: fresh by the policy's window at the
    // start of a read (the window is capped at half its 3 s lifetime)…
    let stored = Token::new(
        "from-the-fleet",
        now - Duration::from_millis(1500),
        now + Duration::from_millis(1500),
    );
    store.save(manager.cache_key(), &stored).await.unwrap();
    let token = manager.token().await.unwrap();
    // …and expired 0.5 s before the read returned.
    assert_eq!(token.access_token().secret(), "tok-1");
    assert!(!token.is_expired(clock.now()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
