//! The hot path (a test-only module: `#[cfg(test)] mod tests;` in `cache.rs`).

use crate::manager::test_support::*;

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

/// A thread remembers eight managers in its slots; with more, and with managers dropped
/// and made between calls, each manager still hands out its own token, from memory.
#[tokio::test]
async fn one_thread_serves_more_managers_than_it_has_slots() {
    let clock = ManualClock::at_fixed_epoch();
    let make = |name: String| {
        let grant = grant_fn(identity(), move |cx| {
            let name = name.clone();
            async move {
                let now = cx.now();
                Ok(Token::new(name, now, now + Duration::from_secs(3600)))
            }
        });
        builder(&clock).grant(grant).build().unwrap()
    };
    let mut managers: Vec<_> = (0..12)
        .map(|i| (format!("m{i}"), make(format!("m{i}"))))
        .collect();
    for round in 0..3 {
        for (name, manager) in &managers {
            let token = manager.token().await.unwrap();
            assert_eq!(token.access_token().secret(), name, "round {round}");
        }
    }
    for (_, manager) in &managers {
        assert_eq!(
            manager.stats().grant_calls,
            1,
            "one fetch each, then memory"
        );
        assert_eq!(manager.stats().cache_hits, 2);
    }
    // Half of them go, and new ones take their place.
    managers.truncate(6);
    managers.extend((12..18).map(|i| (format!("m{i}"), make(format!("m{i}")))));
    for _ in 0..2 {
        for (name, manager) in &managers {
            assert_eq!(manager.token().await.unwrap().access_token().secret(), name);
        }
    }
    assert_eq!(managers[0].1.stats().cache_hits, 4);
    assert_eq!(managers[11].1.stats().cache_hits, 1);
}
