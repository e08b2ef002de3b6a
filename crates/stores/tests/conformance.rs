//! The store conformance suite against every store of this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use grantkit_stores::MemoryStore;
use grantkit_stores::conformance;

#[tokio::test(start_paused = true)]
async fn memory_store_conforms() {
    conformance::all(&MemoryStore::new(), "memory:").await;
}

#[cfg(feature = "file")]
mod file {
    use grantkit_stores::conformance;
    use grantkit_stores::{EncryptionKey, FileStore};

    #[tokio::test(start_paused = true)]
    async fn file_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        conformance::all(&FileStore::new(dir.path().join("tokens")), "file:").await;
    }

    #[tokio::test(start_paused = true)]
    async fn encrypted_file_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = EncryptionKey::generate();
        let store = FileStore::new(dir.path().join("tokens")).encryption(key);
        conformance::all(&store, "file-encrypted:").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_handles_on_one_directory_conform_together() {
        // Locks and writes must exclude across handles (as across processes), not only
        // within one.
        let dir = tempfile::tempdir().unwrap();
        let a = FileStore::new(dir.path().join("tokens"));
        let b = FileStore::new(dir.path().join("tokens"));
        conformance::lock_exclusion(&a, "shared:").await;
        let lock =
            match grantkit_core::TokenStore::try_lock(&a, "shared:k", conformance::LONG_LOCK_TTL)
                .await
                .unwrap()
            {
                grantkit_core::LockAttempt::Acquired(lock) => lock,
                other => panic!("{other:?}"),
            };
        assert!(matches!(
            grantkit_core::TokenStore::try_lock(&b, "shared:k", conformance::LONG_LOCK_TTL)
                .await
                .unwrap(),
            grantkit_core::LockAttempt::Held
        ));
        lock.release().await.unwrap();
        conformance::concurrent_writers(&b, "shared:").await;
    }
}

#[cfg(feature = "redis")]
mod redis {
    use grantkit_stores::conformance;
    use grantkit_stores::{EncryptionKey, RedisStore};
    use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

    #[tokio::test]
    async fn redis_store_conforms() {
        let redis = RedisServer::start();
        let store = RedisStore::from_url(redis.url())
            .unwrap()
            .prefix(unique_prefix("conformance"));
        conformance::all(&store, "").await;
    }

    #[tokio::test]
    async fn encrypted_redis_store_conforms() {
        let redis = RedisServer::start();
        let (key, _) = EncryptionKey::generate();
        let store = RedisStore::from_url(redis.url())
            .unwrap()
            .prefix(unique_prefix("conformance-encrypted"))
            .encryption(key);
        conformance::all(&store, "").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_conforms_on_a_multi_thread_runtime() {
        let redis = RedisServer::start();
        let store = RedisStore::from_url(redis.url())
            .unwrap()
            .prefix(unique_prefix("conformance-mt"));
        conformance::concurrent_writers(&store, "").await;
        conformance::lock_exclusion(&store, "").await;
    }
}

#[cfg(feature = "redis-cluster")]
mod redis_cluster {
    use grantkit_stores::RedisStore;
    use grantkit_stores::conformance;
    use grantkit_testkit::redis_server::{RedisCluster, unique_prefix};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_cluster_store_conforms() {
        let cluster = tokio::task::spawn_blocking(RedisCluster::spawn)
            .await
            .unwrap();
        let store = RedisStore::cluster_from_urls(cluster.urls())
            .unwrap()
            .prefix(unique_prefix("cluster"));
        conformance::all(&store, "").await;
        drop(cluster);
    }

    /// A cluster reached over TLS only, whose nodes verify the client's certificate: the
    /// CA and the client certificate of `RedisOptions` reach every node, the ones named
    /// and the ones discovered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_cluster_over_tls_with_a_client_certificate_conforms() {
        use grantkit_stores::RedisOptions;
        use grantkit_testkit::certs;

        let cluster = tokio::task::spawn_blocking(|| RedisCluster::spawn_tls(true))
            .await
            .unwrap();
        let urls = cluster.tls_urls();
        assert_eq!(urls.len(), 3);
        let options = RedisOptions::new()
            .ca_file(certs::CA)
            .client_certificate_files(certs::CLIENT, certs::CLIENT_KEY);
        // Named by one node only: the others are found through it, over TLS.
        let store = RedisStore::cluster_from_urls_with(&urls[..1], &options)
            .unwrap()
            .prefix(unique_prefix("cluster-tls"));
        conformance::all(&store, "").await;

        // Without the client certificate the nodes refuse the handshake.
        let refused =
            RedisStore::cluster_from_urls_with(&urls[..1], &RedisOptions::new().ca_file(certs::CA))
                .unwrap()
                .prefix(unique_prefix("cluster-tls-refused"));
        let error = grantkit_core::TokenStore::load(&refused, "k")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), grantkit_core::ErrorKind::Store, "{error}");
        drop(cluster);
    }
}
