//! The `metrics` feature end to end: a manager and the reqwest middleware against the
//! in-process authorization server over real HTTP, with a debugging recorder installed for
//! the test's own thread (`metrics::with_local_recorder`, so tests run in parallel). Each
//! scenario asserts every grantkit counter exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should stop the test

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use grantkit::store::MemoryStore;
use grantkit::time::ManualClock;
use grantkit::{
    ClientCredentials, ErrorKind, TokenManager, TokenManagerBuilder, policy::RetryPolicy,
};
use grantkit_integration_tests::{authenticated_client, server_with_clock};
use grantkit_testkit::server::{Fault, TestServer};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The counters a recorder holds after `body` ran on a current-thread runtime (so that
/// the renewal tasks it spawns run on this thread, where the recorder is installed), as
/// `name{label=value,…}` → value.
fn counted<T>(body: impl Future<Output = T>) -> (T, BTreeMap<String, u64>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = metrics::with_local_recorder(&recorder, || rt.block_on(body));
    let mut counters = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            counters.insert(format!("{}{{{}}}", key.name(), labels.join(",")), n);
        }
    }
    (out, counters)
}

fn expect(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn builder(server: &TestServer, secret: &str, clock: &ManualClock) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            secret,
        ))
        .clock(clock.clone())
        .retry(
            RetryPolicy::default()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(5)),
        )
}

#[test]
fn one_fetch_then_cache_hits() {
    let (requests, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        let manager = builder(&server, TestServer::CLIENT_SECRET, &clock)
            .build()
            .unwrap();
        for _ in 0..5 {
            manager.token().await.unwrap();
        }
        manager.flush_metrics();
        server.token_requests()
    });
    assert_eq!(requests, 1);
    assert_eq!(
        counters,
        expect(&[
            ("grantkit.token.cache.hits{grant=client_credentials}", 4),
            (
                "grantkit.token.obtained{grant=client_credentials,source=endpoint}",
                1
            ),
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=ok}",
                1
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=ok}",
                1
            ),
        ])
    );
}

#[test]
fn a_refused_request() {
    let (error, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        let manager = builder(&server, "not-the-secret", &clock).build().unwrap();
        manager.token().await.unwrap_err()
    });
    assert!(error.is_invalid_client(), "{}", error.report());
    assert_eq!(
        counters,
        expect(&[
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=failed}",
                1
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=refused}",
                1
            ),
        ])
    );
}

#[test]
fn a_transient_failure_then_success() {
    let (requests, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        server.push_fault(Fault::Html(502));
        let manager = builder(&server, TestServer::CLIENT_SECRET, &clock)
            .build()
            .unwrap();
        manager.token().await.unwrap();
        server.token_requests()
    });
    assert_eq!(requests, 2);
    assert_eq!(
        counters,
        expect(&[
            (
                "grantkit.token.obtained{grant=client_credentials,source=endpoint}",
                1
            ),
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=ok}",
                1
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=ok}",
                1
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=transient}",
                1
            ),
        ])
    );
}

#[test]
fn both_attempts_failing_transiently() {
    let (error, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        server.push_fault(Fault::Html(500));
        server.push_fault(Fault::Status(503));
        let manager = builder(&server, TestServer::CLIENT_SECRET, &clock)
            .build()
            .unwrap();
        manager.token().await.unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::Status);
    assert_eq!(
        counters,
        expect(&[
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=failed}",
                1
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=transient}",
                2
            ),
        ])
    );
}

/// A second manager (another process, in effect) sharing the store finds the first one's
/// token there: no request, one token from the store.
#[test]
fn a_store_hit() {
    let (requests, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        let store = MemoryStore::new();
        let first = builder(&server, TestServer::CLIENT_SECRET, &clock)
            .store(store.clone())
            .build()
            .unwrap();
        let second = builder(&server, TestServer::CLIENT_SECRET, &clock)
            .store(store)
            .build()
            .unwrap();
        let a = first.token().await.unwrap();
        let b = second.token().await.unwrap();
        assert!(a.same_access_token(&b));
        server.token_requests()
    });
    assert_eq!(requests, 1);
    assert_eq!(
        counters,
        expect(&[
            (
                "grantkit.token.obtained{grant=client_credentials,source=endpoint}",
                1
            ),
            (
                "grantkit.token.obtained{grant=client_credentials,source=store}",
                1
            ),
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=ok}",
                2
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=ok}",
                1
            ),
        ])
    );
}

/// The API rejects a revoked token: the middleware renews and sends the request again,
/// once, and counts it with the status that rejected the token.
#[test]
fn a_middleware_retry() {
    let (api_requests, counters) = counted(async {
        let clock = ManualClock::at_fixed_epoch();
        let api = server_with_clock(&clock).await;
        let manager = builder(&api, TestServer::CLIENT_SECRET, &clock)
            .build()
            .unwrap();
        let client = authenticated_client(manager, &api);
        assert_eq!(
            client.get(api.api_url()).send().await.unwrap().status(),
            200
        );
        api.revoke_all();
        assert_eq!(
            client.get(api.api_url()).send().await.unwrap().status(),
            200
        );
        api.api_requests()
    });
    assert_eq!(api_requests, 3);
    assert_eq!(
        counters,
        expect(&[
            (
                "grantkit.middleware.retries{grant=client_credentials,status=401}",
                1
            ),
            // The second request's first token came from memory (then was rejected);
            // the renewal after the rejection handed that hit to the recorder.
            ("grantkit.token.cache.hits{grant=client_credentials}", 1),
            (
                "grantkit.token.obtained{grant=client_credentials,source=endpoint}",
                2
            ),
            (
                "grantkit.token.renewals{grant=client_credentials,outcome=ok}",
                2
            ),
            (
                "grantkit.token.requests{grant=client_credentials,outcome=ok}",
                2
            ),
        ])
    );
}
