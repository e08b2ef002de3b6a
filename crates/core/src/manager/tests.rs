use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;

use tokio::sync::Semaphore;

use super::*;
use crate::clock::ManualClock;
use crate::failure::FailureRecord;
use crate::grant::grant_fn;
use crate::http::TokenRequest;

const URL: &str = "https://auth.example.com/oauth/token";

fn identity() -> GrantIdentity {
    GrantIdentity::new("test", URL).client_id("client")
}

/// A grant that issues `tok-1`, `tok-2`, … living `lifetime`, counting its calls.
fn counting_grant(lifetime: Duration) -> (impl Grant, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::task::yield_now().await;
            let now = cx.now();
            Ok(Token::new(format!("tok-{n}"), now, now + lifetime))
        }
    });
    (grant, calls)
}

fn builder(clock: &ManualClock) -> TokenManagerBuilder {
    TokenManager::builder()
        .clock(clock.clone())
        .http_client(ScriptedHttp::default())
        .policy(RefreshBeforeExpiry::new(Duration::from_secs(60)).jitter(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_request() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            // Long enough that every caller arrives while the request is in flight.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = cx.now();
            Ok(Token::new("the-one", now, now + Duration::from_secs(3600)))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = manager.clone();
            let b = Arc::clone(&barrier);
            tokio::spawn(async move {
                b.wait().await;
                m.token().await
            })
        })
        .collect();
    for t in tasks {
        let token = t.await.unwrap().unwrap();
        assert_eq!(token.access_token().secret(), "the-one");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(manager.stats().tokens_fetched, 1);
    assert_eq!(manager.stats().grant_calls, 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_error() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let grant = grant_fn(identity(), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        let g = Arc::clone(&g);
        async move {
            let _permit = g.acquire().await;
            Err(Error::from_response(
                401,
                &[],
                br#"{"error":"invalid_client"}"#,
            ))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await })
        })
        .collect();
    tokio::task::yield_now().await;
    gate.add_permits(1);
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(e.is_invalid_client());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "not retried, not repeated per caller"
    );
}

#[tokio::test]
async fn fresh_tokens_come_from_memory() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock).grant(grant).build().unwrap();
    let first = manager.token().await.unwrap();
    for _ in 0..100 {
        clock.advance(Duration::from_secs(10));
        assert!(manager.token().await.unwrap().same_access_token(&first));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(manager.stats().cache_hits, 100);
}

#[tokio::test]
async fn inside_the_window_nobody_waits_for_the_endpoint() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    // The renewal (second call) cannot finish until the test opens the gate.
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let g = Arc::clone(&g);
        async move {
            if n > 1 {
                let _permit = g.acquire().await;
            }
            let now = cx.now();
            Ok(Token::new(
                format!("tok-{n}"),
                now,
                now + Duration::from_secs(600),
            ))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    let first = manager.token().await.unwrap();
    assert_eq!(first.access_token().secret(), "tok-1");

    // 60 s before expiry: the window opens. Every call returns at once with tok-1 while
    // exactly one renewal is blocked at the endpoint.
    clock.advance(Duration::from_secs(541));
    for _ in 0..20 {
        let t = tokio::time::timeout(Duration::from_secs(5), manager.token())
            .await
            .expect("a caller waited for the endpoint")
            .unwrap();
        assert_eq!(t.access_token().secret(), "tok-1");
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one background renewal");

    gate.add_permits(1);
    let renewed = loop {
        let t = manager.token().await.unwrap();
        if t.access_token().secret() != "tok-1" {
            break t;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(renewed.access_token().secret(), "tok-2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn short_tokens_are_renewed_half_way_not_on_every_call() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(2));
    let manager = builder(&clock).grant(grant).build().unwrap();
    manager.token().await.unwrap();
    for _ in 0..9 {
        clock.advance(Duration::from_millis(100));
        manager.token().await.unwrap();
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "0.9 s into a 2 s token: still fresh"
    );
    clock.advance(Duration::from_millis(200));
    manager.token().await.unwrap();
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "renewed after 1.1 s");
}

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
    assert_eq!(manager.stats().refresh_failures, 1);

    clock.advance(Duration::from_secs(51)); // past expiry
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert_eq!(e.to_string(), "could not connect to the token endpoint");
}

/// An in-memory token endpoint: answers from a script and records every request.
#[derive(Debug, Default, Clone)]
struct ScriptedHttp {
    script: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<(String, tokio::time::Instant)>>>,
}

#[derive(Debug)]
enum Scripted {
    Respond(u16, Vec<(&'static str, &'static str)>, &'static str),
    Hang,
}

impl ScriptedHttp {
    fn new(script: Vec<Scripted>) -> Self {
        ScriptedHttp {
            script: Arc::new(Mutex::new(script.into())),
            seen: Arc::default(),
        }
    }

    fn requests(&self) -> Vec<(String, tokio::time::Instant)> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl HttpClient for ScriptedHttp {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.seen.lock().unwrap().push((
            String::from_utf8_lossy(request.body()).into_owned(),
            tokio::time::Instant::now(),
        ));
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Scripted::Respond(status, headers, body)) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                Ok(b.body(body.as_bytes().to_vec()).unwrap())
            }
            Some(Scripted::Hang) => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            None => Err(Error::new(ErrorKind::Connect, "script exhausted")),
        }
    }
}

fn form_grant() -> impl Grant {
    grant_fn(identity(), |cx| async move {
        let req = TokenRequest::post(URL)
            .form([("grant_type", "client_credentials")])
            .build()?;
        cx.exchange(req).await
    })
}

const OK_BODY: &str = r#"{"access_token":"good","token_type":"bearer","expires_in":3600}"#;

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_and_retry_after() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(vec![
        Scripted::Respond(500, vec![], "<html>Internal Server Error</html>"),
        Scripted::Hang,
        Scripted::Respond(429, vec![("Retry-After", "7")], ""),
        Scripted::Respond(200, vec![], OK_BODY),
    ]);
    let manager = TokenManager::builder()
        .clock(clock.clone())
        .http_client(http.clone())
        .grant(form_grant())
        .retry(
            RetryPolicy::default()
                .max_attempts(4)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(1)),
        )
        .attempt_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    assert_eq!(token.access_token().secret(), "good");
    let seen = http.requests();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|(body, _)| body == "grant_type=client_credentials")
    );
    let gap = |i: usize| seen[i + 1].1 - seen[i].1;
    assert!(
        gap(0) >= Duration::from_millis(50) && gap(0) <= Duration::from_millis(100),
        "{:?}",
        gap(0)
    );
    // The hung attempt is cut at 3 s, then backs off 100–200 ms.
    assert!(
        gap(1) >= Duration::from_millis(3100) && gap(1) <= Duration::from_millis(3200),
        "{:?}",
        gap(1)
    );
    assert_eq!(
        gap(2),
        Duration::from_secs(7),
        "Retry-After honoured exactly"
    );
    let stats = manager.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.grant_calls,
            stats.tokens_fetched
        ),
        (4, 4, 1)
    );
}

/// A silent endpoint kept `grantkit token` for 121 s (four 30 s attempts); the renewal
/// now ends at its deadline, the last attempt cut short by it.
#[tokio::test(start_paused = true)]
async fn a_silent_endpoint_fails_the_renewal_at_its_deadline() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new((0..10).map(|_| Scripted::Hang).collect());
    let manager = TokenManager::builder()
        .clock(clock.clone())
        .http_client(http.clone())
        .grant(form_grant())
        .retry(
            RetryPolicy::default()
                .max_attempts(10)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_millis(100)),
        )
        .attempt_timeout(Duration::from_secs(4))
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = manager.token().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(
        error.to_string(),
        "no token within the renewal deadline of 10s"
    );
    assert_eq!(took, Duration::from_secs(10), "{took:?}");
    // 4 s + backoff, 4 s + backoff, then what is left of the 10 s.
    assert_eq!(http.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_default_attempt_timeout_and_deadline_bound_a_renewal_to_30_s() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new((0..10).map(|_| Scripted::Hang).collect());
    let manager = TokenManager::builder()
        .clock(clock.clone())
        .http_client(http.clone())
        .grant(form_grant())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let seen = http.requests();
    assert_eq!(seen.len(), 3, "10 s, 10 s, and the rest of the 30 s");
    let gap = seen[1].1 - seen[0].1;
    assert!(
        gap >= Duration::from_secs(10) && gap <= Duration::from_millis(10_200),
        "{gap:?}"
    );
}

/// A `Retry-After: 30` loop kept `grantkit token` for 90 s. A wait that would end past
/// the deadline is not started: the server's error is returned at once.
#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_ends_the_renewal_at_once() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(vec![
        Scripted::Respond(503, vec![("Retry-After", "30")], ""),
        Scripted::Respond(200, vec![], OK_BODY),
    ]);
    let manager = TokenManager::builder()
        .clock(clock.clone())
        .http_client(http.clone())
        .grant(form_grant())
        .deadline(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = manager.token().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(http.requests().len(), 1);

    // A shorter wait fits, and is honoured.
    let http = ScriptedHttp::new(vec![
        Scripted::Respond(503, vec![("Retry-After", "5")], ""),
        Scripted::Respond(200, vec![], OK_BODY),
    ]);
    let manager = TokenManager::builder()
        .clock(clock.clone())
        .http_client(http.clone())
        .grant(form_grant())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        manager.token().await.unwrap().access_token().secret(),
        "good"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[cfg(feature = "reqwest")]
#[test]
fn a_proxy_with_a_client_of_ones_own_is_a_config_error() {
    let e = TokenManager::builder()
        .grant(form_grant())
        .http_client(ScriptedHttp::default())
        .proxy("http://proxy.internal:3128")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = TokenManager::builder()
        .grant(form_grant())
        .proxy("http://u:pw@[x")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.to_string().contains("pw"), "{e}");
    assert!(
        TokenManager::builder()
            .grant(form_grant())
            .proxy("http://proxy.internal:3128")
            .build()
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_client_is_not_retried_and_is_typed() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(vec![
        Scripted::Respond(
            401,
            vec![("Content-Type", "application/json")],
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        ),
        Scripted::Respond(200, vec![], OK_BODY),
    ]);
    let manager = TokenManager::builder()
        .clock(clock)
        .http_client(http.clone())
        .grant(form_grant())
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert_eq!(e.status(), Some(401));
    let oauth = e.oauth_error().unwrap();
    assert_eq!(oauth.error, "invalid_client");
    assert_eq!(
        oauth.error_description.as_deref(),
        Some("Client authentication failed")
    );
    assert_eq!(http.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(
        (0..10)
            .map(|_| Scripted::Respond(503, vec![], ""))
            .collect(),
    );
    let manager = TokenManager::builder()
        .clock(clock)
        .http_client(http.clone())
        .grant(form_grant())
        .retry(RetryPolicy::default().max_attempts(3))
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(http.requests().len(), 3);
}

#[tokio::test]
async fn expires_in_variants_through_the_manager() {
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let clock = ManualClock::at_fixed_epoch();
    let t0 = clock.now();
    let exp = t0 + Duration::from_secs(1234);
    let exp_secs = exp.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let jwt = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp_secs}}}"#))
    );
    let jwt_body: &'static str =
        Box::leak(format!(r#"{{"access_token":"{jwt}"}}"#).into_boxed_str());
    let cases: [(&'static str, SystemTime); 4] = [
        // One second early: `expires_in` counts whole seconds.
        (
            r#"{"access_token":"a","expires_in":3600}"#,
            t0 + Duration::from_secs(3599),
        ),
        (
            r#"{"access_token":"a","expires_in":"3600"}"#,
            t0 + Duration::from_secs(3599),
        ),
        (jwt_body, exp),
        (r#"{"access_token":"a"}"#, t0 + Duration::from_secs(900)),
    ];
    for (body, want) in cases {
        let manager = TokenManager::builder()
            .clock(clock.clone())
            .http_client(ScriptedHttp::new(vec![Scripted::Respond(
                200,
                vec![],
                body,
            )]))
            .grant(form_grant())
            .default_lifetime(Duration::from_secs(900))
            .build()
            .unwrap();
        assert_eq!(manager.token().await.unwrap().expires_at(), want, "{body}");
    }
}

#[tokio::test]
async fn invalidate_drops_only_the_current_token_and_keeps_its_refresh_token() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let previous_seen = Arc::new(Mutex::new(Vec::new()));
    let p = Arc::clone(&previous_seen);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        p.lock().unwrap().push(
            cx.previous()
                .and_then(|t| t.refresh_token())
                .map(|r| r.secret().to_owned()),
        );
        async move {
            let now = cx.now();
            Ok(
                Token::new(format!("tok-{n}"), now, now + Duration::from_secs(3600))
                    .with_refresh_token(format!("ref-{n}")),
            )
        }
    });
    let store = MemoryStore::new();
    let manager = builder(&clock)
        .grant(grant)
        .store(store.clone())
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    manager.invalidate(&first).await;
    assert!(manager.cached().is_none());
    assert!(
        store.load(manager.cache_key()).await.unwrap().is_none(),
        "removed from the store"
    );
    let second = manager.token().await.unwrap();
    assert_eq!(second.access_token().secret(), "tok-2");
    // Invalidating the old token again (a late 401) must not drop the new one.
    manager.invalidate(&first).await;
    assert!(manager.token().await.unwrap().same_access_token(&second));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        *previous_seen.lock().unwrap(),
        vec![None, Some("ref-1".to_owned())]
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

#[derive(Debug)]
struct BrokenStore;

#[async_trait]
impl TokenStore for BrokenStore {
    async fn load(&self, _: &str) -> Result<Option<Token>> {
        Err(Error::store("disk on fire"))
    }
    async fn save(&self, _: &str, _: &Token) -> Result<()> {
        Err(Error::store("disk on fire"))
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Err(Error::store("disk on fire"))
    }
    async fn try_lock(&self, _: &str, _: Duration) -> Result<LockAttempt> {
        Err(Error::store("disk on fire"))
    }
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

#[test]
fn build_checks_the_configuration() {
    let e = TokenManager::builder().build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("no grant"), "{e}");

    let plain = grant_fn(
        GrantIdentity::new("test", "http://auth.example.com/token"),
        |_| async { Err(Error::permanent("unused")) },
    );
    let e = TokenManager::builder()
        .http_client(ScriptedHttp::default())
        .grant(plain)
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("refusing to send credentials over plain http"),
        "{e}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_at_send_time_too() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(vec![Scripted::Respond(200, vec![], OK_BODY)]);
    let grant = grant_fn(identity(), |cx| async move {
        let req = TokenRequest::post("http://auth.example.com/token")
            .form([("grant_type", "client_credentials")])
            .build()?;
        cx.exchange(req).await
    });
    let manager = TokenManager::builder()
        .clock(clock)
        .http_client(http.clone())
        .grant(grant)
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(http.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let clock = ManualClock::at_fixed_epoch();
    let http = ScriptedHttp::new(vec![Scripted::Respond(
        200,
        vec![],
        r#"{"access_token":"AT-SECRET","refresh_token":"RT-SECRET","expires_in":60,"id_token":"ID-SECRET"}"#,
    )]);
    let secret = crate::secret::ClientSecret::new("CS-SECRET");
    let grant = grant_fn(identity(), move |cx| {
        let secret = secret.clone();
        async move {
            let req = TokenRequest::post(URL)
                .basic_auth("client", &secret)
                .form([("grant_type", "client_credentials")])
                .build()?;
            cx.exchange(req).await
        }
    });
    let manager = TokenManager::builder()
        .clock(clock)
        .http_client(http)
        .grant(grant)
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let outputs = [
        format!("{manager:?}"),
        format!("{manager:#?}"),
        format!("{token:?}"),
        format!("{:?}", TokenManager::builder()),
        format!("{:?}", manager.stats()),
    ];
    for out in outputs {
        for secret in ["AT-SECRET", "RT-SECRET", "ID-SECRET", "CS-SECRET"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
    }
}

#[test]
fn outside_a_runtime_a_renewal_is_a_clear_error_not_a_panic() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(60));
    let manager = builder(&clock).grant(grant).build().unwrap();
    let e = futures_util::FutureExt::now_or_never(manager.token())
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("tokio runtime"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Once a runtime has filled the cache, any executor can read it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(manager.token()).unwrap();
    let again = futures_util::FutureExt::now_or_never(manager.token())
        .unwrap()
        .unwrap();
    assert!(again.same_access_token(&t));
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TokenManager>();
    check::<Token>();
    check::<Error>();
    fn future_is_send<F: std::future::Future + Send>(_: F) {}
    let clock = ManualClock::at_fixed_epoch();
    let (grant, _) = counting_grant(Duration::from_secs(1));
    let manager = builder(&clock).grant(grant).build().unwrap();
    future_is_send(manager.token());
    future_is_send(manager.invalidate(&Token::new("x", UNIX_EPOCH, UNIX_EPOCH)));
}

/// A server answering `expires_in: 0` (or negative) issues tokens that are born expired.
/// Each goes to the callers of the renewal that obtained it and is never served from the
/// cache; the next token request waits until [`MIN_RENEWAL_INTERVAL`] after the one that
/// obtained it, so callers in a loop cause one request per interval, not one per call.
#[tokio::test(start_paused = true)]
async fn tokens_born_expired_are_used_once_and_do_not_hammer_the_endpoint() {
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, h) = (Arc::clone(&calls), Arc::clone(&healthy));
    let grant = grant_fn(identity(), move |cx| {
        let n = {
            let mut seen = c.lock().unwrap();
            seen.push(tokio::time::Instant::now());
            seen.len()
        };
        let lifetime = if h.load(Ordering::SeqCst) {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        };
        async move {
            let now = cx.now();
            Ok(Token::new(format!("tok-{n}"), now, now + lifetime))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    for i in 1..=5 {
        let t = manager.token().await.unwrap();
        assert_eq!(t.access_token().secret(), format!("tok-{i}"), "the newest");
        assert!(
            manager.cached().is_none(),
            "a born-expired token is not cached"
        );
    }
    let gaps: Vec<Duration> = calls
        .lock()
        .unwrap()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(gaps.len(), 4);
    assert!(
        gaps.iter().all(|g| *g >= MIN_RENEWAL_INTERVAL),
        "requests closer than {MIN_RENEWAL_INTERVAL:?}: {gaps:?}"
    );

    // Callers arriving while the next request waits share it.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().access_token().secret(), "tok-6");
    }
    assert_eq!(calls.lock().unwrap().len(), 6);

    // Once the server issues real lifetimes again, nothing waits any more.
    healthy.store(true, Ordering::SeqCst);
    let good = manager.token().await.unwrap();
    assert_eq!(good.access_token().secret(), "tok-7");
    assert!(manager.cached().is_some());
    manager.invalidate(&good).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        manager.token().await.unwrap().access_token().secret(),
        "tok-8"
    );
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no pause after a good token"
    );
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

/// A caller that saw no token just before the renewal finished must not start a second
/// renewal: `flight()` re-checks the cache under its lock. (Seen in the cold-start
/// benchmark: one of 10,000 callers read the empty cache, then the renewal installed its
/// token and cleared its slot before that caller reached `flight()`.)
#[tokio::test]
async fn a_caller_racing_the_end_of_a_renewal_does_not_start_another() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock).grant(grant).build().unwrap();
    let token = manager.token().await.unwrap();
    // What the late caller does next, having seen no token a moment ago:
    let late = manager.flight().await.unwrap();
    assert!(late.same_access_token(&token));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
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
    assert_eq!(waiter.stats().refresh_failures, 1);

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
