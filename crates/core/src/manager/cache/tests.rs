//! The hot path.

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
