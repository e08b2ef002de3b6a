//! The conformance suite every [`TokenStore`] must pass.
//!
//! **Not API-stable**: functions may be added, renamed or tightened in any release.
//!
//! Each function takes the store as `&dyn TokenStore` and a key prefix unique to the
//! calling test (so that tests sharing a Redis or a directory do not interfere), runs
//! one property and panics with a message naming it when the store breaks the contract.
//! Keys used are `{prefix}{name}`; each function removes what it wrote.
//!
//! The lock tests use real lock TTLs of [`SHORT_LOCK_TTL`] and wait for them with
//! `tokio::time::sleep`: under `#[tokio::test(start_paused = true)]` that wait is instant
//! for stores whose locks expire on tokio's clock (memory, file); a store whose locks
//! expire on a server's clock (Redis) must run on real time, where it costs about a
//! second per run.
//!
//! ```no_run
//! use grantkit_core::MemoryStore;
//!
//! #[tokio::test(start_paused = true)]
//! async fn memory_store_conforms() {
//!     grantkit_testkit::conformance::all(&MemoryStore::new(), "memory:").await;
//! }
//! ```
//!
//! A store without locks ([`LockAttempt::Unsupported`]) passes the lock tests trivially,
//! and a store that keeps no failure records (the default
//! [`TokenStore::load_failure`] returns `None`) passes the failure tests trivially. Failure
//! records cannot be removed; those written here lapse with their TTL.

// Test support: failing loudly, with the property's name, is the point.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use grantkit_core::{
    Clock, Error, FailureRecord, LockAttempt, StoreLock, SystemClock, Token, TokenStore,
};
use serde_json::json;

/// The TTL of the locks the expiry tests let lapse.
pub const SHORT_LOCK_TTL: Duration = Duration::from_millis(300);
/// The TTL of locks that must not lapse during a test.
pub const LONG_LOCK_TTL: Duration = Duration::from_secs(60);

/// Runs every test of the suite, one after the other.
pub async fn all(store: &dyn TokenStore, prefix: &str) {
    round_trip(store, prefix).await;
    all_fields_survive(store, prefix).await;
    missing_key_is_none(store, prefix).await;
    keys_are_independent(store, prefix).await;
    overwrite(store, prefix).await;
    never_older_over_newer(store, prefix).await;
    remove(store, prefix).await;
    expired_tokens(store, prefix).await;
    concurrent_writers(store, prefix).await;
    lock_exclusion(store, prefix).await;
    lock_expiry(store, prefix).await;
    stale_release_is_harmless(store, prefix).await;
    failure_round_trip(store, prefix).await;
    failure_expiry(store, prefix).await;
}

/// Now on the wall clock, truncated to whole milliseconds (what stores keep).
fn now_ms() -> SystemTime {
    let since = SystemClock::new()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// A token `access` issued at `issued` that lives for `lifetime`.
fn token(access: &str, issued: SystemTime, lifetime: Duration) -> Token {
    Token::new(access, issued, issued + lifetime)
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

async fn load(store: &dyn TokenStore, key: &str, test: &str) -> Option<Token> {
    match store.load(key).await {
        Ok(t) => t,
        Err(e) => panic!("[{test}] load({key:?}) failed: {}", e.report()),
    }
}

async fn save(store: &dyn TokenStore, key: &str, token: &Token, test: &str) {
    if let Err(e) = store.save(key, token).await {
        panic!("[{test}] save({key:?}) failed: {}", e.report());
    }
}

async fn remove_key(store: &dyn TokenStore, key: &str, test: &str) {
    if let Err(e) = store.remove(key).await {
        panic!("[{test}] remove({key:?}) failed: {}", e.report());
    }
}

fn access(token: &Token) -> &str {
    token.access_token().secret()
}

fn assert_loaded(loaded: Option<&Token>, expected: &str, test: &str, what: &str) {
    match loaded {
        Some(t) if access(t) == expected => {}
        Some(t) => panic!(
            "[{test}] {what}: expected token {expected:?}, loaded {:?}",
            access(t)
        ),
        None => panic!("[{test}] {what}: expected token {expected:?}, loaded nothing"),
    }
}

enum Lock {
    Acquired(StoreLock),
    Held,
    Unsupported,
}

async fn try_lock(store: &dyn TokenStore, key: &str, ttl: Duration, test: &str) -> Lock {
    match store.try_lock(key, ttl).await {
        Ok(LockAttempt::Acquired(lock)) => Lock::Acquired(lock),
        Ok(LockAttempt::Held) => Lock::Held,
        Ok(LockAttempt::Unsupported) => Lock::Unsupported,
        Ok(other) => panic!("[{test}] try_lock({key:?}) returned an unknown outcome {other:?}"),
        Err(e) => panic!("[{test}] try_lock({key:?}) failed: {}", e.report()),
    }
}

async fn acquire(
    store: &dyn TokenStore,
    key: &str,
    ttl: Duration,
    test: &str,
    what: &str,
) -> StoreLock {
    match try_lock(store, key, ttl, test).await {
        Lock::Acquired(lock) => lock,
        Lock::Held => panic!("[{test}] {what}: the lock on {key:?} was held, expected to get it"),
        Lock::Unsupported => panic!("[{test}] {what}: try_lock became unsupported"),
    }
}

async fn expect_held(store: &dyn TokenStore, key: &str, test: &str, what: &str) {
    match try_lock(store, key, LONG_LOCK_TTL, test).await {
        Lock::Held => {}
        Lock::Acquired(_) => panic!("[{test}] {what}: a second holder got the lock on {key:?}"),
        Lock::Unsupported => panic!("[{test}] {what}: try_lock became unsupported"),
    }
}

async fn release(lock: StoreLock, test: &str) {
    if let Err(e) = lock.release().await {
        panic!("[{test}] release failed: {}", e.report());
    }
}

/// What was saved is loaded back.
pub async fn round_trip(store: &dyn TokenStore, prefix: &str) {
    let test = "round_trip";
    let key = format!("{prefix}round_trip");
    let t = token("rt-access", now_ms(), hour());
    save(store, &key, &t, test).await;
    let loaded = load(store, &key, test).await;
    assert_loaded(loaded.as_ref(), "rt-access", test, "after save");
    assert_eq!(
        loaded.as_ref(),
        Some(&t),
        "[{test}] the loaded token differs"
    );
    remove_key(store, &key, test).await;
}

/// Every field of a token survives the store: refresh token, type, scope, extra fields,
/// times (to the millisecond).
pub async fn all_fields_survive(store: &dyn TokenStore, prefix: &str) {
    let test = "all_fields_survive";
    let key = format!("{prefix}all_fields");
    let issued = now_ms();
    let t = Token::new(
        "af-access",
        issued,
        issued + Duration::from_millis(3_600_123),
    )
    .with_token_type("MAC")
    .with_refresh_token("af-refresh")
    .with_scope("read write")
    .with_extra("id_token", json!("x.y.z"))
    .with_extra("nested", json!({"a": [1, 2, {"b": null}], "ü": "✓"}));
    save(store, &key, &t, test).await;
    let loaded = load(store, &key, test)
        .await
        .unwrap_or_else(|| panic!("[{test}] nothing loaded"));
    assert_eq!(access(&loaded), "af-access", "[{test}] access token");
    assert_eq!(
        loaded.refresh_token().map(|r| r.secret().to_owned()),
        Some("af-refresh".to_owned()),
        "[{test}] refresh token"
    );
    assert_eq!(loaded.token_type(), "MAC", "[{test}] token type");
    assert_eq!(loaded.scope(), Some("read write"), "[{test}] scope");
    assert_eq!(loaded.issued_at(), t.issued_at(), "[{test}] issued_at");
    assert_eq!(loaded.expires_at(), t.expires_at(), "[{test}] expires_at");
    assert_eq!(loaded.extra(), t.extra(), "[{test}] extra fields");
    remove_key(store, &key, test).await;
}

/// A key never written loads as `None`; removing it is not an error.
pub async fn missing_key_is_none(store: &dyn TokenStore, prefix: &str) {
    let test = "missing_key_is_none";
    let key = format!("{prefix}never_written");
    assert!(
        load(store, &key, test).await.is_none(),
        "[{test}] a token appeared"
    );
    remove_key(store, &key, test).await;
}

/// Keys that differ only in case, in punctuation, or that are long or contain path
/// characters are kept apart.
pub async fn keys_are_independent(store: &dyn TokenStore, prefix: &str) {
    let test = "keys_are_independent";
    let long = "k".repeat(300);
    let names = [
        "client_credentials:app:0123456789abcdef".to_owned(),
        "client_credentials:APP:0123456789abcdef".to_owned(),
        "client_credentials_app_0123456789abcdef".to_owned(),
        "a/b/../c".to_owned(),
        "a%2Fb".to_owned(),
        "with space".to_owned(),
        long.clone(),
        format!("{long}x"),
    ];
    let keys: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();
    let issued = now_ms();
    for (i, key) in keys.iter().enumerate() {
        save(
            store,
            key,
            &token(&format!("ind-{i}"), issued, hour()),
            test,
        )
        .await;
    }
    for (i, key) in keys.iter().enumerate() {
        let loaded = load(store, key, test).await;
        assert_loaded(
            loaded.as_ref(),
            &format!("ind-{i}"),
            test,
            &format!("key {key:?}"),
        );
    }
    for key in &keys {
        remove_key(store, key, test).await;
    }
}

/// A later save replaces the token, also when issued at the same instant.
pub async fn overwrite(store: &dyn TokenStore, prefix: &str) {
    let test = "overwrite";
    let key = format!("{prefix}overwrite");
    let issued = now_ms();
    save(store, &key, &token("ow-1", issued, hour()), test).await;
    save(
        store,
        &key,
        &token("ow-2", issued + Duration::from_secs(1), hour()),
        test,
    )
    .await;
    let loaded = load(store, &key, test).await;
    assert_loaded(loaded.as_ref(), "ow-2", test, "after a newer save");
    let same_instant = issued + Duration::from_secs(1);
    save(store, &key, &token("ow-3", same_instant, hour()), test).await;
    let loaded = load(store, &key, test).await;
    assert_loaded(
        loaded.as_ref(),
        "ow-3",
        test,
        "after a save issued at the same instant",
    );
    remove_key(store, &key, test).await;
}

/// A token issued earlier never replaces one issued later (a slow writer must not undo
/// a rotated refresh token).
pub async fn never_older_over_newer(store: &dyn TokenStore, prefix: &str) {
    let test = "never_older_over_newer";
    let key = format!("{prefix}never_older");
    let issued = now_ms();
    let newer = token("no-newer", issued + Duration::from_secs(10), hour())
        .with_refresh_token("rotated-refresh");
    save(store, &key, &newer, test).await;
    save(store, &key, &token("no-older", issued, hour()), test).await;
    let loaded = load(store, &key, test).await;
    assert_loaded(
        loaded.as_ref(),
        "no-newer",
        test,
        "after saving an older token",
    );
    assert_eq!(
        loaded
            .as_ref()
            .and_then(|t| t.refresh_token())
            .map(|r| r.secret().to_owned()),
        Some("rotated-refresh".to_owned()),
        "[{test}] the rotated refresh token was lost"
    );
    save(
        store,
        &key,
        &token("no-newest", issued + Duration::from_secs(20), hour()),
        test,
    )
    .await;
    let loaded = load(store, &key, test).await;
    assert_loaded(
        loaded.as_ref(),
        "no-newest",
        test,
        "after saving a newer token",
    );
    remove_key(store, &key, test).await;
}

/// `remove` removes; a save after it works, whatever its issue time.
pub async fn remove(store: &dyn TokenStore, prefix: &str) {
    let test = "remove";
    let key = format!("{prefix}remove");
    let issued = now_ms();
    save(store, &key, &token("rm-1", issued, hour()), test).await;
    remove_key(store, &key, test).await;
    assert!(
        load(store, &key, test).await.is_none(),
        "[{test}] still there after remove"
    );
    remove_key(store, &key, test).await;
    save(
        store,
        &key,
        &token("rm-older", issued - Duration::from_secs(5), hour()),
        test,
    )
    .await;
    let loaded = load(store, &key, test).await;
    assert_loaded(loaded.as_ref(), "rm-older", test, "save after remove");
    remove_key(store, &key, test).await;
}

/// An expired token is either returned as it was saved or absent, never another token.
pub async fn expired_tokens(store: &dyn TokenStore, prefix: &str) {
    let test = "expired_tokens";
    let key = format!("{prefix}expired");
    let now = now_ms();
    let expired = token("exp-old", now - 2 * hour(), hour());
    save(store, &key, &expired, test).await;
    if let Some(t) = load(store, &key, test).await {
        assert_eq!(t, expired, "[{test}] an expired token came back changed");
    }
    // A valid token saved before an expired one issued later: the expired one wins or
    // the key is empty; the older valid token must not come back.
    let key2 = format!("{prefix}expired_over_valid");
    save(
        store,
        &key2,
        &token("exp-valid", now - 3 * hour(), 4 * hour()),
        test,
    )
    .await;
    let later_but_expired = token("exp-later", now - 2 * hour(), hour());
    save(store, &key2, &later_but_expired, test).await;
    if let Some(t) = load(store, &key2, test).await {
        assert_eq!(
            access(&t),
            "exp-later",
            "[{test}] an older token came back after an expired newer one was saved"
        );
    }
    // A fresh token replaces the expired one.
    save(store, &key, &token("exp-fresh", now, hour()), test).await;
    let loaded = load(store, &key, test).await;
    assert_loaded(loaded.as_ref(), "exp-fresh", test, "fresh after expired");
    remove_key(store, &key, test).await;
    remove_key(store, &key2, test).await;
}

/// Many concurrent writers of one key: readers only ever see whole tokens that were
/// written, and the last issued one is what remains.
pub async fn concurrent_writers(store: &dyn TokenStore, prefix: &str) {
    let test = "concurrent_writers";
    let key = format!("{prefix}concurrent");
    let base = now_ms();
    const WRITERS: u64 = 16;
    for round in 0..3u64 {
        // Issue times interleaved so that completion order and issue order differ.
        let order: Vec<u64> = (0..WRITERS)
            .map(|i| (i * 7 + round * 3) % WRITERS)
            .collect();
        let names: Vec<String> = (0..WRITERS).map(|i| format!("cw-{round}-{i}")).collect();
        let round_base = base + Duration::from_secs(round * 100);
        let writes = order.iter().map(|&i| {
            let t = token(
                &names[i as usize],
                round_base + Duration::from_millis(i),
                hour(),
            );
            let key = key.clone();
            async move { save(store, &key, &t, test).await }
        });
        let reads = (0..WRITERS).map(|_| {
            let key = key.clone();
            async move { load(store, &key, test).await }
        });
        let (_, seen) = futures_util::future::join(join_all(writes), join_all(reads)).await;
        for t in seen.into_iter().flatten() {
            let name = access(&t);
            assert!(
                name.starts_with("cw-"),
                "[{test}] a reader saw a token nobody wrote: {name:?}"
            );
        }
        let last = &names[(WRITERS - 1) as usize];
        let loaded = load(store, &key, test).await;
        assert_loaded(loaded.as_ref(), last, test, &format!("round {round}"));
    }
    remove_key(store, &key, test).await;
}

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

async fn save_failure(
    store: &dyn TokenStore,
    key: &str,
    record: &FailureRecord,
    ttl: Duration,
    test: &str,
) {
    if let Err(e) = store.save_failure(key, record, ttl).await {
        panic!("[{test}] save_failure({key:?}) failed: {}", e.report());
    }
}

async fn load_failure(store: &dyn TokenStore, key: &str, test: &str) -> Option<FailureRecord> {
    match store.load_failure(key).await {
        Ok(r) => r,
        Err(e) => panic!("[{test}] load_failure({key:?}) failed: {}", e.report()),
    }
}

/// A recorded failure is loaded back whole (kind, message, status, OAuth fields,
/// retryability, until), per key; a later record replaces it; tokens and locks of the
/// key neither see nor disturb it.
pub async fn failure_round_trip(store: &dyn TokenStore, prefix: &str) {
    let test = "failure_round_trip";
    let key = format!("{prefix}failure_round_trip");
    let other = format!("{prefix}failure_round_trip_other");
    assert!(
        load_failure(store, &key, test).await.is_none(),
        "[{test}] a failure appeared on a fresh key"
    );
    let refused = Error::from_response(
        401,
        &[],
        br#"{"error":"invalid_client","error_description":"Client authentication failed","error_uri":"https://idp.example/e"}"#,
    );
    let first = FailureRecord::from_error(&refused, now_ms() + LONG_LOCK_TTL);
    save_failure(store, &key, &first, LONG_LOCK_TTL, test).await;
    let Some(loaded) = load_failure(store, &key, test).await else {
        return; // the store keeps no failure records
    };
    assert_eq!(loaded, first, "[{test}] the loaded failure differs");
    assert_eq!(
        loaded.to_error().to_string(),
        refused.to_string(),
        "[{test}] the error rebuilt from the record"
    );
    assert!(
        load_failure(store, &other, test).await.is_none(),
        "[{test}] a failure leaked to another key"
    );
    assert!(
        load(store, &key, test).await.is_none(),
        "[{test}] a failure loaded as a token"
    );
    let lock = acquire(store, &key, LONG_LOCK_TTL, test, "with a failure recorded").await;
    release(lock, test).await;
    let t = token("fr-token", now_ms(), hour());
    save(store, &key, &t, test).await;
    assert_loaded(
        load(store, &key, test).await.as_ref(),
        "fr-token",
        test,
        "beside a failure",
    );

    let down = Error::new(
        grantkit_core::ErrorKind::Connect,
        "could not reach the token endpoint",
    );
    let second = FailureRecord::from_error(&down, now_ms() + LONG_LOCK_TTL);
    save_failure(store, &key, &second, LONG_LOCK_TTL, test).await;
    assert_eq!(
        load_failure(store, &key, test).await.as_ref(),
        Some(&second),
        "[{test}] a later failure did not replace the first"
    );
    assert!(second.is_retryable(), "[{test}] retryability");
    remove_key(store, &key, test).await;
}

/// A recorded failure is gone once its TTL has passed.
pub async fn failure_expiry(store: &dyn TokenStore, prefix: &str) {
    let test = "failure_expiry";
    let key = format!("{prefix}failure_expiry");
    let error = Error::from_response(503, &[], b"");
    let record = FailureRecord::from_error(&error, now_ms() + SHORT_LOCK_TTL);
    save_failure(store, &key, &record, SHORT_LOCK_TTL, test).await;
    if load_failure(store, &key, test).await.is_none() {
        return; // the store keeps no failure records
    }
    // On tokio's clock (memory) and on the wall clock (file, Redis), whether or not
    // tokio's clock is paused.
    let wait = SHORT_LOCK_TTL * 2 + Duration::from_millis(100);
    tokio::time::sleep(wait).await;
    tokio::task::spawn_blocking(move || std::thread::sleep(wait))
        .await
        .unwrap();
    assert!(
        load_failure(store, &key, test).await.is_none(),
        "[{test}] the failure outlived its TTL"
    );
}
