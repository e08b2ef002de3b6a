//! Managers sharing a real file or Redis store, facing a token endpoint that refuses
//! (`invalid_client`) or is down: the one lock holder asks, fails and records its
//! failure; the others return that failure instead of queueing behind the lock one lock
//! lifetime after another and asking again (issue 11, item 14: the lock convoy).
#![cfg(any(feature = "file", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use grantkit_core::{
    ClientSecret, ErrorKind, GrantIdentity, RetryPolicy, SharedTokenStore, TokenManager,
    TokenRequest, grant_fn,
};
use grantkit_testkit::server::{Fault, TestServer};

const MANAGERS: usize = 8;
/// Long, so that a waiter that waits out the lock fails the test's time bound.
const LOCK_TTL: Duration = Duration::from_secs(30);

/// A manager of the test server's client, with `secret`, over its own store handle.
fn manager(token_url: &str, secret: &str, store: SharedTokenStore) -> TokenManager {
    let (url, secret) = (token_url.to_owned(), secret.to_owned());
    let grant = grant_fn(
        GrantIdentity::new("client_credentials", token_url).with_client_id(TestServer::CLIENT_ID),
        move |cx| {
            let (url, secret) = (url.clone(), secret.clone());
            async move {
                let request = TokenRequest::post(&url)
                    .basic_auth(TestServer::CLIENT_ID, &ClientSecret::new(secret))
                    .form([("grant_type", "client_credentials")])
                    .build()?;
                cx.exchange(request).await
            }
        },
    );
    TokenManager::builder()
        .grant(grant)
        .store_shared(store)
        .lock_ttl(LOCK_TTL)
        .danger_allow_http(true)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

/// Runs `MANAGERS` managers at once; returns their results' errors.
async fn all_at_once(managers: Vec<TokenManager>) -> Vec<grantkit_core::Error> {
    let barrier = Arc::new(tokio::sync::Barrier::new(managers.len()));
    let tasks: Vec<_> = managers
        .into_iter()
        .map(|m| {
            let b = Arc::clone(&barrier);
            tokio::spawn(async move {
                b.wait().await;
                m.token().await
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        // Well under the lock TTL: a convoy (or a waiter waiting out the lock) fails here.
        let result = tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("a manager waited out the lock")
            .unwrap();
        errors.push(result.expect_err("the endpoint refuses"));
    }
    errors
}

async fn refusal(stores: impl Fn() -> SharedTokenStore) {
    let server = TestServer::start().await;
    // The holder's request takes a while, so that every other manager finds the lock held.
    server.push_fault(Fault::Delay(Duration::from_millis(400)));
    let managers = (0..MANAGERS)
        .map(|_| manager(&server.token_url(), "wrong-secret", stores()))
        .collect::<Vec<_>>();
    let errors = all_at_once(managers.clone()).await;
    for e in &errors {
        assert!(e.is_invalid_client(), "{e}");
        assert_eq!(e.to_string(), errors[0].to_string());
        assert_eq!(e.status(), Some(401));
        assert!(!e.is_retryable());
    }
    assert_eq!(
        server.token_requests(),
        1,
        "one request for the whole group"
    );
    let grant_calls: u64 = managers.iter().map(|m| m.stats().grant_calls).sum();
    assert_eq!(grant_calls, 1);
    // The lock was released: a new manager gets it at once (and, within the cool-down,
    // returns the recorded failure without a request).
    let late = manager(&server.token_url(), "wrong-secret", stores());
    let e = tokio::time::timeout(Duration::from_secs(5), late.token())
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.is_invalid_client());
    assert_eq!(server.token_requests(), 1);
}

async fn dead_endpoint(stores: impl Fn() -> SharedTokenStore) {
    // A port that refuses connections: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/token");
    let managers = (0..MANAGERS)
        .map(|_| manager(&url, TestServer::CLIENT_SECRET, stores()))
        .collect::<Vec<_>>();
    let errors = all_at_once(managers.clone()).await;
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
        assert!(e.is_retryable());
    }
    // The holder's three attempts, nobody else's.
    let grant_calls: u64 = managers.iter().map(|m| m.stats().grant_calls).sum();
    assert_eq!(grant_calls, 3);
}

#[cfg(feature = "file")]
mod file {
    use grantkit_core::SharedTokenStore;
    use grantkit_stores::FileStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn managers_sharing_a_file_store_share_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        super::refusal(|| SharedTokenStore::new(FileStore::new(&path))).await;
        let failures: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".failure"))
            .collect();
        assert_eq!(failures.len(), 1, "one failure file");
        let text = std::fs::read_to_string(failures[0].path()).unwrap();
        assert!(text.contains("invalid_client") && !text.contains("wrong-secret"));
    }

    /// A damaged or planted failure file is logged and ignored, never an error.
    #[tokio::test]
    async fn unreadable_failure_files_are_ignored() {
        use grantkit_core::TokenStore as _;
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        // Private whatever the umask: the store refuses a directory others can write.
        let tokens = dir.path().join("tokens");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tokens)
            .unwrap();
        let store = FileStore::new(&tokens);
        let path = store.failure_path("k");
        for garbage in [
            &b"garbage"[..],
            br#"{"expires_at_ms":99999999999999,"record":"not a record"}"#,
            br#"{"expires_at_ms":1,"record":"{\"v\":1,\"kind\":\"oauth\",\"message\":\"m\",\"retryable\":false,\"until_ms\":1}"}"#,
        ] {
            let _ = std::fs::remove_file(&path);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            file.write_all(garbage).unwrap();
            assert!(store.load_failure("k").await.unwrap().is_none());
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(store.load_failure("k").await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn managers_sharing_a_file_store_share_a_dead_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        super::dead_endpoint(|| SharedTokenStore::new(FileStore::new(&path))).await;
    }
}

#[cfg(feature = "redis")]
mod redis {
    use grantkit_core::SharedTokenStore;
    use grantkit_stores::RedisStore;
    use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn managers_sharing_a_redis_store_share_a_refusal() {
        let redis = RedisServer::start();
        let prefix = unique_prefix("failure-sharing");
        super::refusal(|| {
            SharedTokenStore::new(RedisStore::from_url(redis.url()).unwrap().prefix(&prefix))
        })
        .await;
    }

    /// Garbage at the failure key is logged and ignored; a save replaces it.
    #[tokio::test]
    async fn unreadable_failure_records_are_ignored_and_replaced() {
        use grantkit_core::{Clock as _, Error, FailureRecord, SystemClock, TokenStore as _};
        use std::time::Duration;
        let redis = RedisServer::start();
        let store = RedisStore::from_url(redis.url())
            .unwrap()
            .prefix(unique_prefix("failure-garbage"));
        let client = ::redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("SET")
            .arg(store.failure_key("k"))
            .arg("garbage")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        assert!(store.load_failure("k").await.unwrap().is_none());
        let record = FailureRecord::from_error(
            &Error::permanent("no"),
            SystemClock::new().now() + Duration::from_secs(5),
        );
        store
            .save_failure("k", &record, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(store.load_failure("k").await.unwrap(), Some(record));
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(store.failure_key("k"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!((1..=5000).contains(&ttl), "PX = the cool-down: {ttl}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn managers_sharing_a_redis_store_share_a_dead_endpoint() {
        let redis = RedisServer::start();
        let prefix = unique_prefix("failure-sharing-dead");
        super::dead_endpoint(|| {
            SharedTokenStore::new(RedisStore::from_url(redis.url()).unwrap().prefix(&prefix))
        })
        .await;
    }
}
