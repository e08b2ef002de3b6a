//! Single flight: one renewal for all callers, started or joined.

use crate::manager::test_support::*;

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

/// A caller that saw no token just before the renewal finished must not start a second
/// renewal: `start_or_join_renewal()` re-checks the cache under its lock. (Seen in the cold-start
/// benchmark: one of 10,000 callers read the empty cache, then the renewal installed its
/// token and cleared its slot before that caller reached `start_or_join_renewal()`.)
#[tokio::test]
async fn a_caller_racing_the_end_of_a_renewal_does_not_start_another() {
    let clock = ManualClock::at_fixed_epoch();
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(&clock).grant(grant).build().unwrap();
    let token = manager.token().await.unwrap();
    // What the late caller does next, having seen no token a moment ago:
    let late = manager.start_or_join_renewal().0.await.unwrap();
    assert!(late.same_access_token(&token));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
