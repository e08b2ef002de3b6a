//! Properties of the refresh policy and of the manager that drives it, over random
//! lifetimes, clocks and call sequences (proptest).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grantkit_core::{
    Clock as _, Error, ErrorKind, Freshness, GrantIdentity, HttpClient, HttpRequest, HttpResponse,
    ManualClock, RefreshBeforeExpiry, RefreshPolicy, Token, TokenManager, async_trait, grant_fn,
};
use proptest::prelude::*;

/// An instant between 1970 and about 2100, to the nanosecond.
fn instant() -> impl Strategy<Value = SystemTime> {
    (0u64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

/// A lifetime from nothing to ten years, to the nanosecond, biased towards short ones.
fn lifetime() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        (0u64..7_200_000).prop_map(Duration::from_millis),
        (0u64..315_360_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn access_token() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 1..40)
        .prop_map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

proptest! {
    /// The default policy (60 s before expiry, at most half the lifetime, a quarter of the
    /// window as jitter) renews inside `[issued + lifetime / 2, expires]`, never more than
    /// 60 s ahead, at the same instant for the same token.
    #[test]
    fn default_policy_renews_in_the_second_half_of_the_lifetime(
        issued in instant(),
        lifetime in lifetime(),
        name in access_token(),
    ) {
        let policy = RefreshBeforeExpiry::default();
        let token = Token::new(name.as_str(), issued, issued + lifetime);
        let at = policy.refresh_at(&token);
        prop_assert!(at <= token.expires_at(), "{at:?} after expiry {:?}", token.expires_at());
        prop_assert!(at >= issued + lifetime / 2, "{at:?} before half-way {:?}", issued + lifetime / 2);
        prop_assert!(at + Duration::from_secs(60) >= token.expires_at());
        // Stable: the same token, a clone, or the same token received again.
        prop_assert_eq!(at, policy.refresh_at(&token));
        prop_assert_eq!(at, policy.refresh_at(&token.clone()));
        let again = Token::new(name.as_str(), issued, issued + lifetime);
        prop_assert_eq!(at, policy.refresh_at(&again));
        prop_assert_eq!(at, policy.clone().refresh_at(&again));
    }

    /// Any `before`, fraction and jitter: never after expiry, never before the window
    /// `min(before, lifetime × fraction)` opens, and freshness agrees with `refresh_at`.
    #[test]
    fn any_policy_stays_inside_its_window(
        issued in instant(),
        lifetime in lifetime(),
        before_ms in 0u64..10_000_000,
        fraction in 0.0f64..=1.0,
        jitter in 0.0f64..=1.0,
        name in access_token(),
        probe in 0.0f64..1.5,
    ) {
        let before = Duration::from_millis(before_ms);
        let policy = RefreshBeforeExpiry::new(before).max_fraction(fraction).jitter(jitter);
        let token = Token::new(name.as_str(), issued, issued + lifetime);
        let at = policy.refresh_at(&token);
        let window = before.min(lifetime.mul_f64(fraction));
        prop_assert!(at <= token.expires_at());
        prop_assert!(at >= token.expires_at() - window);
        let now = issued + lifetime.mul_f64(probe);
        let expected = if now >= token.expires_at() {
            Freshness::Expired
        } else if now >= at {
            Freshness::RefreshSoon
        } else {
            Freshness::Fresh
        };
        prop_assert_eq!(policy.freshness(&token, now), expected);
    }
}

/// Sends nothing: the grant under test never uses HTTP.
#[derive(Debug)]
struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> grantkit_core::Result<HttpResponse> {
        Err(Error::new(ErrorKind::Connect, "no HTTP in this test"))
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Move the clock forward by this part of the token lifetime.
    Advance(f64),
    /// Call `token()` this many times in a row.
    Call(u8),
    /// Let background renewals run.
    Settle,
    /// Call `token()` from several tasks at once.
    Concurrent(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0.0f64..0.8).prop_map(Op::Advance),
        1 => (0.8f64..2.0).prop_map(Op::Advance),
        4 => (1u8..5).prop_map(Op::Call),
        2 => Just(Op::Settle),
        1 => (2u8..20).prop_map(Op::Concurrent),
    ]
}

/// One grant call: when it happened, and the token it issued.
type Issued = Arc<Mutex<Vec<(SystemTime, Token)>>>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Over random sequences of clock moves and calls, a manager never hands out a token at
    /// or past its `expires_at`, and asks the grant for a new token only once the current
    /// one has reached its refresh instant: at most one renewal per refresh window.
    #[test]
    fn the_manager_never_serves_expired_tokens_and_renews_once_per_window(
        lifetime_ms in 1_000u64..86_400_000,
        before_s in 0u64..600,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let lifetime = Duration::from_millis(lifetime_ms);
        let clock = ManualClock::at_fixed_epoch();
        let policy = RefreshBeforeExpiry::new(Duration::from_secs(before_s));
        let issued: Issued = Arc::default();
        let grant = {
            let issued = Arc::clone(&issued);
            grant_fn(GrantIdentity::new("prop", "https://auth.example.com/token"), move |cx| {
                let mut issued = issued.lock().unwrap();
                let now = cx.now();
                let token = Token::new(format!("tok-{}", issued.len() + 1), now, now + lifetime);
                issued.push((now, token.clone()));
                async move { Ok(token) }
            })
        };
        let manager = TokenManager::builder()
            .grant(grant)
            .http_client(NoHttp)
            .clock(clock.clone())
            .policy(policy.clone())
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let served = runtime.block_on(async {
            let mut served = Vec::new();
            for op in ops {
                match op {
                    Op::Advance(part) => clock.advance(lifetime.mul_f64(part)),
                    Op::Call(n) => {
                        for _ in 0..n {
                            let token = manager.token().await.unwrap();
                            served.push((clock.now(), token));
                        }
                    }
                    Op::Settle => {
                        for _ in 0..8 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Op::Concurrent(n) => {
                        let tasks: Vec<_> = (0..n)
                            .map(|_| {
                                let m = manager.clone();
                                tokio::spawn(async move { m.token().await })
                            })
                            .collect();
                        for task in tasks {
                            served.push((clock.now(), task.await.unwrap().unwrap()));
                        }
                    }
                }
            }
            served
        });
        for (at, token) in &served {
            prop_assert!(!token.is_expired(*at), "{token:?} served at {at:?}");
        }
        let issued = issued.lock().unwrap();
        prop_assert!(!issued.is_empty() || served.is_empty());
        for pair in issued.windows(2) {
            let ((_, previous), (asked_at, _)) = (&pair[0], &pair[1]);
            let refresh_at = policy.refresh_at(previous);
            prop_assert!(
                *asked_at >= refresh_at,
                "renewed at {asked_at:?}, before {previous:?} was due at {refresh_at:?}"
            );
        }
        prop_assert_eq!(manager.stats().grant_calls, issued.len() as u64);
    }
}
