//! The failure-record tests of the conformance suite.

use super::*;

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
