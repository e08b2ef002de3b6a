//! Calling the grant: retries, the attempt timeout, the deadline, short-lived tokens.

use crate::manager::test_support::*;

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_with_backoff_and_retry_after() {
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
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(1)),
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
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_millis(100)),
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
        "no token within the renewal deadline of 10s (after 3 attempts)"
    );
    assert_eq!(error.attempts(), Some(3));
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
    // Retryable, yet tried once: the count says so.
    assert_eq!(error.attempts(), Some(1));
    assert_eq!(
        error.to_string(),
        "token endpoint answered an error (HTTP 503, after 1 attempt): empty body"
    );

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
    // One attempt, as for every refusal retrying cannot fix: not worth saying.
    assert_eq!(e.attempts(), Some(1));
    assert_eq!(
        e.to_string(),
        "token endpoint refused the request (HTTP 401): invalid_client: Client authentication failed"
    );
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
        .retry(RetryPolicy::default().with_max_attempts(3))
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(http.requests().len(), 3);
    assert_eq!(e.attempts(), Some(3));
    assert_eq!(
        e.to_string(),
        "token endpoint answered an error (HTTP 503, after 3 attempts): empty body"
    );
    assert_eq!(manager.stats().grant_calls, 3);
}

/// Retryable failures, then one that is not: the count covers them all.
#[tokio::test(start_paused = true)]
async fn the_attempts_before_a_permanent_refusal_are_counted() {
    let http = ScriptedHttp::new(vec![
        Scripted::Respond(503, vec![], ""),
        Scripted::Respond(400, vec![], r#"{"error":"invalid_scope"}"#),
    ]);
    let manager = TokenManager::builder()
        .clock(ManualClock::at_fixed_epoch())
        .http_client(http.clone())
        .grant(form_grant())
        .build()
        .unwrap();
    let e = manager.token().await.unwrap_err();
    assert_eq!(e.attempts(), Some(2));
    assert_eq!(
        e.to_string(),
        "token endpoint refused the request (HTTP 400, after 2 attempts): invalid_scope"
    );
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
