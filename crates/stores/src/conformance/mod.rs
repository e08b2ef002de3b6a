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
//! Enable the `conformance` feature of `grantkit-stores` (or of `grantkit`, where this
//! module is `grantkit::store::conformance`) in your store's dev-dependencies and call it
//! from a test:
//!
//! ```no_run
//! # #![allow(unused_imports)] // outside `cargo test`, the test function is compiled away
//! use grantkit_stores::{MemoryStore, conformance};
//!
//! #[tokio::test(start_paused = true)]
//! async fn memory_store_conforms() {
//!     conformance::all(&MemoryStore::new(), "memory:").await;
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

mod failures;
mod locks;

pub use failures::{failure_expiry, failure_round_trip};
pub use locks::{lock_exclusion, lock_expiry, stale_release_is_harmless};

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
