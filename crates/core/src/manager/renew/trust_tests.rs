//! What the manager refuses to serve: stored records a skewed clock wrote, and tokens that
//! cannot go into an `Authorization` header, whoever built them.

use crate::manager::test_support::*;

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

fn identity() -> GrantIdentity {
    GrantIdentity::new("test", "https://auth.example.com/oauth/token").with_client_id("client")
}

/// A grant issuing `{prefix}-1`, `{prefix}-2`, … living an hour by its context's clock.
fn grant(prefix: &'static str) -> (impl Grant, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let now = cx.now();
            Ok(Token::new(format!("{prefix}-{n}"), now, now + HOUR))
        }
    });
    (grant, calls)
}

fn manager(clock: &ManualClock, store: &MemoryStore, grant: impl Grant + 'static) -> TokenManager {
    TokenManager::builder()
        .clock(clock.clone())
        .store(store.clone())
        .grant(grant)
        .build()
        .unwrap()
}

async fn stored(store: &MemoryStore, m: &TokenManager) -> Option<String> {
    store
        .load(m.cache_key())
        .await
        .unwrap()
        .map(|t| t.access_token().secret().to_owned())
}

/// A token stored by a process whose clock ran a day ahead was served a day later, long
/// after the server had expired it. Its `issued_at` lies in the future: not trusted, the
/// manager fetches and replaces it.
#[tokio::test]
async fn a_record_written_by_a_clock_a_day_ahead_is_not_served() {
    let store = MemoryStore::new();
    let ahead = ManualClock::at_fixed_epoch();
    ahead.advance(DAY);
    let (g, _) = grant("ahead");
    let skewed = manager(&ahead, &store, g);
    assert_eq!(
        skewed.token().await.unwrap().access_token().secret(),
        "ahead-1"
    );

    let clock = ManualClock::at_fixed_epoch();
    let (g, calls) = grant("right");
    let m = manager(&clock, &store, g);
    let token = m.token().await.unwrap();
    assert_eq!(token.access_token().secret(), "right-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(m.stats().tokens_from_store, 0);
    assert_eq!(
        stored(&store, &m).await.as_deref(),
        Some("right-1"),
        "replaced"
    );
}

/// Clocks of a fleet differ a little: a record up to a minute ahead (and at most a quarter
/// of its lifetime) is used; beyond that it is not.
#[tokio::test]
async fn a_record_slightly_ahead_is_used_and_one_beyond_the_tolerance_is_not() {
    for (ahead_by, trusted) in [
        (Duration::from_secs(30), true),
        (Duration::from_secs(60), true),
        (Duration::from_secs(61), false),
    ] {
        let store = MemoryStore::new();
        let ahead = ManualClock::at_fixed_epoch();
        ahead.advance(ahead_by);
        let (g, _) = grant("ahead");
        manager(&ahead, &store, g).token().await.unwrap();

        let clock = ManualClock::at_fixed_epoch();
        let (g, calls) = grant("right");
        let token = manager(&clock, &store, g).token().await.unwrap();
        let want = if trusted { "ahead-1" } else { "right-1" };
        assert_eq!(token.access_token().secret(), want, "{ahead_by:?}");
        assert_eq!(calls.load(Ordering::SeqCst), usize::from(!trusted));
    }
    // For a short token the tolerance is a quarter of its life: 2 s on an 8 s token.
    let store = MemoryStore::new();
    let clock = ManualClock::at_fixed_epoch();
    let (g, calls) = grant("right");
    let m = manager(&clock, &store, g);
    let issued = clock.now() + Duration::from_secs(3);
    let short = Token::new("short", issued, issued + Duration::from_secs(8));
    store.save(m.cache_key(), &short).await.unwrap();
    assert_eq!(m.token().await.unwrap().access_token().secret(), "right-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A record whose lifetime exceeds what the server's `expires_in` said (an edited or
/// mangled record) is not trusted either; records without the stated lifetime (written by
/// older versions) are.
#[tokio::test]
async fn a_record_living_longer_than_its_expires_in_said_is_not_trusted() {
    let clock = ManualClock::at_fixed_epoch();
    let issued_ms = clock.now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let record = |stated: &str| -> Token {
        serde_json::from_str(&format!(
            r#"{{"v":1,"access_token":"planted","token_type":"Bearer","issued_at_ms":{issued_ms},"expires_at_ms":{}{stated}}}"#,
            issued_ms + 3_600_000
        ))
        .unwrap()
    };
    for (stated, trusted) in [
        (r#","expires_in_ms":60000"#, false),
        (r#","expires_in_ms":3600000"#, true),
        ("", true),
    ] {
        let store = MemoryStore::new();
        let (g, calls) = grant("right");
        let m = manager(&clock, &store, g);
        store.save(m.cache_key(), &record(stated)).await.unwrap();
        let want = if trusted { "planted" } else { "right-1" };
        assert_eq!(
            m.token().await.unwrap().access_token().secret(),
            want,
            "{stated}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            usize::from(!trusted),
            "{stated}"
        );
    }
}

/// A grant that builds its token by hand with a line break in it gets an error, not a
/// served (or stored) token; a store that hands one out is ignored.
#[tokio::test]
async fn tokens_that_cannot_go_into_a_header_are_never_handed_out() {
    let clock = ManualClock::at_fixed_epoch();
    let store = MemoryStore::new();
    let bad = grant_fn(identity(), |cx| async move {
        let now = cx.now();
        Ok(Token::new("evil\r\nX-Injected: 1", now, now + HOUR))
    });
    let m = manager(&clock, &store, bad);
    let e = m.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(!e.is_retryable());
    assert_eq!(m.stats().grant_calls, 1, "not retried");
    assert!(!format!("{e} {e:?}").contains("Injected"), "{e:?}");
    assert!(stored(&store, &m).await.is_none(), "nothing stored");
    assert!(m.cached().is_none());

    // A fresh store: the one above holds the first manager's failure record for its
    // cool-down, which a manager sharing the store would (rightly) return.
    let store = MemoryStore::new();
    let (g, calls) = grant("right");
    let m = manager(&clock, &store, g);
    let now = clock.now();
    store
        .save(
            m.cache_key(),
            &Token::new("ok", now, now + HOUR).with_token_type("Bearer\nX-Injected: 1"),
        )
        .await
        .unwrap();
    assert_eq!(m.token().await.unwrap().access_token().secret(), "right-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Answers every request with one body.
#[derive(Debug)]
struct Answer(&'static str);

#[async_trait]
impl HttpClient for Answer {
    async fn execute(&self, _: HttpRequest) -> Result<HttpResponse> {
        Ok(http::Response::builder()
            .status(200)
            .body(self.0.as_bytes().to_vec())
            .unwrap())
    }
}

/// A grant opts in to a token type by setting it on its context before the exchange;
/// without that, the manager's callers get a clear error, not `DPoP abc` as a bearer.
#[tokio::test]
async fn a_grant_opts_in_to_other_token_types_on_its_context() {
    let grant = |accept: Option<&'static str>| {
        grant_fn(identity(), move |cx| async move {
            let req = crate::http::TokenRequest::post("https://auth.example.com/oauth/token")
                .form([("grant_type", "client_credentials")])
                .build()?;
            match accept {
                Some(t) => cx.clone().accept_token_type(t).exchange(req).await,
                None => cx.exchange(req).await,
            }
        })
    };
    let body = r#"{"access_token":"abc","token_type":"DPoP","expires_in":3600}"#;
    let clock = ManualClock::at_fixed_epoch();
    let build = |g| {
        TokenManager::builder()
            .clock(clock.clone())
            .http_client(Answer(body))
            .grant(g)
            .build()
            .unwrap()
    };
    let e = build(grant(None)).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(e.to_string().contains("token_type `DPoP`"), "{e}");
    let t = build(grant(Some("dpop"))).token().await.unwrap();
    assert_eq!(t.authorization_header(), "DPoP abc");
    let e = build(grant(Some("mac"))).token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
}
