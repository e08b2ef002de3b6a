//! The handle's public API: invalidation, Debug, Send/Sync.

use crate::manager::test_support::*;

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
    let kept = store.load(manager.cache_key()).await.unwrap().unwrap();
    assert!(kept.same_access_token(&first), "the record stays");
    assert!(kept.is_expired(clock.now()), "but expired");
    assert_eq!(kept.refresh_token().map(|r| r.secret()), Some("ref-1"));
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

#[tokio::test]
async fn an_owned_token_future_is_static_and_can_be_spawned() {
    fn spawnable<F: std::future::Future + Send + 'static>(_: &F) {}
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let now = cx.now();
            Ok(Token::new("tok", now, now + Duration::from_secs(3600)))
        }
    });
    let manager = builder(&clock).grant(grant).build().unwrap();
    let owned = manager.token_owned();
    spawnable(&owned);
    // The first call renews (the slow path), the spawned ones are served from the cache.
    let first = tokio::spawn(owned).await.unwrap().unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(manager.token_owned()))
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().same_access_token(&first));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(manager.stats().cache_hits, 8);
    assert!(format!("{:?}", manager.token_owned()).starts_with("OwnedTokenFuture"));
}
