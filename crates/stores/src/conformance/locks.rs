//! The lock tests of the conformance suite.

use super::*;

/// A held lock excludes a second holder of the same key (from this or any other handle
/// on the store), not of other keys; released, it can be taken again.
pub async fn lock_exclusion(store: &dyn TokenStore, prefix: &str) {
    let test = "lock_exclusion";
    let key = format!("{prefix}lock_exclusion");
    let other = format!("{prefix}lock_exclusion_other");
    let first = match try_lock(store, &key, LONG_LOCK_TTL, test).await {
        Lock::Acquired(lock) => lock,
        Lock::Unsupported => return,
        Lock::Held => panic!("[{test}] a fresh key's lock was held"),
    };
    expect_held(store, &key, test, "second try_lock").await;
    // Concurrent attempts: none gets it.
    let attempts = (0..8).map(|_| try_lock(store, &key, LONG_LOCK_TTL, test));
    for outcome in join_all(attempts).await {
        assert!(
            matches!(outcome, Lock::Held),
            "[{test}] a concurrent try_lock got a held lock"
        );
    }
    let other_lock = acquire(store, &other, LONG_LOCK_TTL, test, "another key").await;
    release(first, test).await;
    let again = acquire(store, &key, LONG_LOCK_TTL, test, "after release").await;
    release(again, test).await;
    release(other_lock, test).await;

    // Of many simultaneous attempts on a free lock, exactly one wins.
    let attempts = (0..8).map(|_| try_lock(store, &key, LONG_LOCK_TTL, test));
    let mut winners = Vec::new();
    for outcome in join_all(attempts).await {
        if let Lock::Acquired(lock) = outcome {
            winners.push(lock);
        }
    }
    assert_eq!(winners.len(), 1, "[{test}] simultaneous try_lock winners");
    for lock in winners {
        release(lock, test).await;
    }
}

/// A lock expires by itself after its TTL: someone else can then take it.
pub async fn lock_expiry(store: &dyn TokenStore, prefix: &str) {
    let test = "lock_expiry";
    let key = format!("{prefix}lock_expiry");
    let first = match try_lock(store, &key, SHORT_LOCK_TTL, test).await {
        Lock::Acquired(lock) => lock,
        Lock::Unsupported => return,
        Lock::Held => panic!("[{test}] a fresh key's lock was held"),
    };
    expect_held(store, &key, test, "before the TTL").await;
    tokio::time::sleep(SHORT_LOCK_TTL * 2 + Duration::from_millis(100)).await;
    let second = acquire(store, &key, LONG_LOCK_TTL, test, "after the TTL").await;
    release(second, test).await;
    drop(first);
}

/// Releasing a lock that expired (and now belongs to someone else) does nothing.
pub async fn stale_release_is_harmless(store: &dyn TokenStore, prefix: &str) {
    let test = "stale_release_is_harmless";
    let key = format!("{prefix}stale_release");
    let first = match try_lock(store, &key, SHORT_LOCK_TTL, test).await {
        Lock::Acquired(lock) => lock,
        Lock::Unsupported => return,
        Lock::Held => panic!("[{test}] a fresh key's lock was held"),
    };
    tokio::time::sleep(SHORT_LOCK_TTL * 2 + Duration::from_millis(100)).await;
    let second = acquire(store, &key, LONG_LOCK_TTL, test, "after the first expired").await;
    release(first, test).await;
    expect_held(store, &key, test, "after the stale release").await;
    release(second, test).await;
    let third = acquire(store, &key, LONG_LOCK_TTL, test, "after the real release").await;
    release(third, test).await;
}
