//! Faults, end to end: a real grant and the reqwest client against the in-process token
//! endpoint, a real Redis, real files. For each fault: what callers see (a typed error,
//! or a token that is still valid), that nothing panics or hangs (every call is bounded),
//! and that the next call succeeds once the fault clears.
//!
//! Store-level damage (garbage, unreadable records, crashed writers, Redis timeouts) is
//! covered in `crates/stores/tests`; here the stores are damaged *while a manager uses
//! them*. See `docs/reliability.md` for the table of faults and behaviours.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grantkit::{
    ClientCredentials, ErrorKind, Token, TokenManager, TokenManagerBuilder,
    policy::RetryPolicy,
    store::{FileStore, RedisStore, TokenStore as _},
    time::{Clock as _, ManualClock},
};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{Fault, TestServer};

/// The attempts of [`fast_retry`].
const ATTEMPTS: usize = 3;

/// Three attempts, a few milliseconds apart, `Retry-After` honoured up to 2 s.
fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(ATTEMPTS as u32)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(40))
        .with_max_retry_after(Duration::from_secs(2))
}

/// A client-credentials manager aimed at `server`, on `clock`, with short timeouts.
fn builder(server: &TestServer, clock: &ManualClock) -> TokenManagerBuilder {
    TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .clock(clock.clone())
        .retry(fast_retry())
        .attempt_timeout(Duration::from_millis(500))
}

/// `fut`, or a failure naming `what` if it takes longer than 20 s: nothing may hang.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after 20 s"))
}

/// What a caller must see when a fault outlasts the retries and no valid token exists.
struct Expect {
    kind: ErrorKind,
    status: Option<u16>,
    /// Whether the manager retries this fault.
    retried: bool,
    /// Text the error's message must contain.
    says: &'static str,
}

/// The fault on every attempt: the caller gets the typed error after the retries (or at
/// once when the fault is not retryable); then the fault clears and the next call gets a
/// token. Also checks that a single occurrence is absorbed by a retry when retryable.
async fn persistent_then_recovers(fault: impl Fn() -> Fault, expect: Expect) {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let manager = builder(&server, &clock).build().unwrap();
    let attempts = if expect.retried { ATTEMPTS } else { 1 };
    for _ in 0..attempts {
        server.push_fault(fault());
    }
    let error = bounded("the failing call", manager.token())
        .await
        .expect_err("a token out of a failing endpoint");
    assert_eq!(error.kind(), expect.kind, "{}", error.report());
    assert_eq!(error.status(), expect.status, "{}", error.report());
    assert_eq!(error.is_retryable(), expect.retried, "{}", error.report());
    assert!(
        error.report().to_string().contains(expect.says),
        "{:?} does not say {:?}",
        error.report().to_string(),
        expect.says
    );
    assert_eq!(server.token_requests(), attempts, "one request per attempt");
    assert_eq!(
        error.attempts(),
        Some(attempts as u32),
        "{}",
        error.report()
    );
    assert_eq!(manager.stats().renewal_failures, 1);
    assert!(manager.cached().is_none());

    // For the failure cool-down (1 s by the manager's clock) calls get the same error
    // without a request; then the fault has cleared and the next call succeeds, and the
    // one after comes from memory.
    let repeated = manager.token().await.unwrap_err();
    assert_eq!(repeated.to_string(), error.to_string());
    assert_eq!(
        server.token_requests(),
        attempts,
        "no request during the cool-down"
    );
    clock.advance(Duration::from_secs(1));
    let token = bounded("the call after the fault", manager.token())
        .await
        .unwrap();
    assert!(!token.is_expired(clock.now()));
    assert!(
        manager.token().await.unwrap().same_access_token(&token),
        "cached again"
    );
    assert_eq!(server.token_requests(), attempts + 1);

    if expect.retried {
        // Once only: absorbed by the retry, the caller never notices.
        manager.invalidate(&token).await;
        server.push_fault(fault());
        let again = bounded("a retried call", manager.token()).await.unwrap();
        assert!(!again.same_access_token(&token));
        assert_eq!(server.token_requests(), attempts + 3);
    }
}

#[tokio::test]
async fn http_500_is_retried_then_a_status_error() {
    persistent_then_recovers(
        || Fault::Status(500),
        Expect {
            kind: ErrorKind::Status,
            status: Some(500),
            retried: true,
            says: "token endpoint answered an error (HTTP 500, after 3 attempts): empty body",
        },
    )
    .await;
}

#[tokio::test]
async fn http_502_is_retried_then_a_status_error() {
    persistent_then_recovers(
        || Fault::Status(502),
        Expect {
            kind: ErrorKind::Status,
            status: Some(502),
            retried: true,
            says: "(HTTP 502, after 3 attempts)",
        },
    )
    .await;
}

#[tokio::test]
async fn http_503_is_retried_then_a_status_error() {
    persistent_then_recovers(
        || Fault::Status(503),
        Expect {
            kind: ErrorKind::Status,
            status: Some(503),
            retried: true,
            says: "(HTTP 503, after 3 attempts)",
        },
    )
    .await;
}

#[tokio::test]
async fn http_429_without_retry_after_backs_off_then_a_status_error() {
    persistent_then_recovers(
        || Fault::Status(429),
        Expect {
            kind: ErrorKind::Status,
            status: Some(429),
            retried: true,
            says: "(HTTP 429, after 3 attempts)",
        },
    )
    .await;
}

#[tokio::test]
async fn an_html_500_page_is_retried_then_an_error_with_an_excerpt() {
    persistent_then_recovers(
        || Fault::Html(500),
        Expect {
            kind: ErrorKind::Status,
            status: Some(500),
            retried: true,
            says: "Something went wrong",
        },
    )
    .await;
}

#[tokio::test]
async fn an_html_page_with_200_is_an_invalid_response_not_retried() {
    persistent_then_recovers(
        || Fault::Html(200),
        Expect {
            kind: ErrorKind::InvalidResponse,
            status: Some(200),
            retried: false,
            says: "token response is not JSON",
        },
    )
    .await;
}

#[tokio::test]
async fn truncated_json_is_an_invalid_response_not_retried() {
    persistent_then_recovers(
        || {
            Fault::Body(
                200,
                "application/json",
                r#"{"access_token":"at-trunc","expires_in":36"#.into(),
            )
        },
        Expect {
            kind: ErrorKind::InvalidResponse,
            status: Some(200),
            retried: false,
            says: "token response is not JSON",
        },
    )
    .await;
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_retried_then_a_connect_error() {
    persistent_then_recovers(
        || Fault::CloseMidBody,
        Expect {
            kind: ErrorKind::Connect,
            status: None,
            retried: true,
            says: "the exchange with the token endpoint failed",
        },
    )
    .await;
}

#[tokio::test]
async fn a_10_mb_body_is_refused_unread_and_not_retried() {
    persistent_then_recovers(
        || Fault::Huge(10 * 1024 * 1024),
        Expect {
            kind: ErrorKind::InvalidResponse,
            status: Some(200),
            retried: false,
            says: "exceeds 1048576 bytes",
        },
    )
    .await;
}

#[tokio::test]
async fn invalid_grant_is_typed_and_not_retried() {
    persistent_then_recovers(
        || {
            Fault::Body(
                400,
                "application/json",
                r#"{"error":"invalid_grant","error_description":"the grant was revoked"}"#.into(),
            )
        },
        Expect {
            kind: ErrorKind::OAuth,
            status: Some(400),
            retried: false,
            says: "invalid_grant: the grant was revoked",
        },
    )
    .await;
}

/// A hung endpoint: each attempt is cut at `attempt_timeout` (500 ms here), so the caller
/// gets a timeout after three attempts, about 1.5 s, instead of waiting forever.
#[tokio::test]
async fn a_hanging_endpoint_times_out_each_attempt() {
    let started = Instant::now();
    persistent_then_recovers(
        || Fault::Hang,
        Expect {
            kind: ErrorKind::Timeout,
            status: None,
            retried: true,
            says: "the token request did not complete within the attempt timeout of 500ms",
        },
    )
    .await;
    // Three timed-out attempts, then one more once absorbed by a retry.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// `Retry-After: 1` is waited for exactly; a `Retry-After` beyond `max_retry_after` ends
/// the retries at once (the caller is not held for an hour).
#[tokio::test]
async fn retry_after_is_honoured_and_a_long_one_is_not_waited_for() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let manager = builder(&server, &clock).build().unwrap();

    server.push_fault(Fault::RetryAfter(1));
    let started = Instant::now();
    let token = bounded("a 429 then a token", manager.token())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.token_requests(), 2);

    manager.invalidate(&token).await;
    server.push_fault(Fault::RetryAfter(3600));
    let started = Instant::now();
    let error = bounded("a 429 asking for an hour", manager.token())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.token_requests(), 3, "not retried");
    // The server asked for an hour; new calls hold back for at most a minute.
    clock.advance(Duration::from_secs(59));
    assert_eq!(manager.token().await.unwrap_err().status(), Some(429));
    assert_eq!(
        server.token_requests(),
        3,
        "Retry-After honoured across calls"
    );
    clock.advance(Duration::from_secs(1));
    bounded("recovery", manager.token()).await.unwrap();
}

/// With a valid token in hand, no fault reaches a caller: inside the refresh window every
/// call returns the current token at once while the failed renewal backs off; once the
/// fault clears, the next renewal replaces it.
#[tokio::test]
async fn faults_during_a_renewal_never_reach_callers_holding_a_valid_token() {
    // Each fault, and how many attempts it takes (retryable ones fail every attempt).
    let faults: Vec<(fn() -> Fault, usize)> = vec![
        (|| Fault::Status(503), ATTEMPTS),
        (|| Fault::Html(502), ATTEMPTS),
        (|| Fault::Hang, ATTEMPTS),
        (|| Fault::CloseMidBody, ATTEMPTS),
        (|| Fault::Huge(10 * 1024 * 1024), 1),
        (
            || Fault::Body(200, "application/json", "{\"access".into()),
            1,
        ),
        (
            || {
                Fault::Body(
                    401,
                    "application/json",
                    r#"{"error":"invalid_client"}"#.into(),
                )
            },
            1,
        ),
    ];
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let manager = builder(&server, &clock).build().unwrap();
    let mut current = manager.token().await.unwrap();
    for (i, (fault, attempts)) in faults.iter().enumerate() {
        // Into the window (it opens 60 to 45 s before expiry, with jitter), with every
        // attempt failing.
        clock.set(current.expires_at() - Duration::from_secs(44));
        for _ in 0..*attempts {
            server.push_fault(fault());
        }
        let failures = manager.stats().renewal_failures;
        let deadline = Instant::now() + Duration::from_secs(10);
        while manager.stats().renewal_failures == failures {
            let started = Instant::now();
            let served = manager.token().await.unwrap();
            assert!(served.same_access_token(&current), "fault {i}");
            assert!(started.elapsed() < Duration::from_millis(500), "fault {i}");
            assert!(
                Instant::now() < deadline,
                "fault {i}: the renewal never ended: {:?}, {} requests",
                manager.stats(),
                server.token_requests()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The fault has cleared; past the back-off (a quarter of the 44 s left), the
        // next call starts a renewal that succeeds.
        clock.advance(Duration::from_secs(12));
        assert!(manager.token().await.unwrap().same_access_token(&current));
        let renewed = bounded("the renewal after the fault", async {
            loop {
                let t = manager.token().await.unwrap();
                if !t.same_access_token(&current) {
                    break t;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(!renewed.is_expired(clock.now()));
        current = renewed;
    }
    assert_eq!(manager.stats().renewal_failures, faults.len() as u64);
}

/// `expires_in: 0` or negative: the token is handed to the callers of the renewal that
/// obtained it (born expired, `expires_at == issued_at`), never cached, and the next
/// request waits a second instead of every call fetching again.
#[tokio::test]
async fn expires_in_zero_or_negative_is_used_once_and_does_not_hammer() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let manager = builder(&server, &clock).build().unwrap();
    for expires_in in [0, -30] {
        server.push_fault(Fault::ExpiresIn(expires_in));
    }
    let started = Instant::now();
    // Sixteen callers at once share the first one.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await })
        })
        .collect();
    let mut first = None;
    for task in tasks {
        let token = bounded("a born-expired token", task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.expires_at(), token.issued_at(), "born expired");
        assert!(first.get_or_insert(token.clone()).same_access_token(&token));
    }
    assert_eq!(server.token_requests(), 1);
    assert!(manager.cached().is_none(), "not cached");

    let second = bounded("the negative one", manager.token()).await.unwrap();
    assert!(second.is_expired(clock.now()));
    let third = bounded("a normal token", manager.token()).await.unwrap();
    assert!(!third.is_expired(clock.now()));
    assert_eq!(server.token_requests(), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "requests after born-expired tokens are a second apart: {:?}",
        started.elapsed()
    );
    // A normal token is cached as usual.
    assert!(manager.token().await.unwrap().same_access_token(&third));
    assert_eq!(server.token_requests(), 3);
}

/// A fleet of three managers (three processes) sharing Redis, eight callers each, while
/// Redis is killed and restarted: no caller fails or receives an expired token; during the
/// outage each manager renews on its own (memory and the endpoint); once Redis is back,
/// the fleet shares one token per renewal again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_degrades_then_recovers() {
    let mut redis = RedisServer::spawn();
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let prefix = unique_prefix("faults_fleet");
    let lifetime = Duration::from_secs(60);
    server.set_lifetime(lifetime);
    let fleet: Vec<TokenManager> = (0..3)
        .map(|_| {
            let store = RedisStore::from_url(redis.url())
                .unwrap()
                .prefix(&prefix)
                .timeout(Duration::from_millis(300))
                .clock(clock.clone());
            builder(&server, &clock).store(store).build().unwrap()
        })
        .collect();
    let first = fleet[0].token().await.unwrap();
    for m in &fleet[1..] {
        assert!(m.token().await.unwrap().same_access_token(&first));
    }
    assert_eq!(server.tokens_issued(), 1, "one token for the fleet");

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..24)
        .map(|i| {
            let (m, stop, served, clock) = (
                fleet[i % 3].clone(),
                Arc::clone(&stop),
                Arc::clone(&served),
                clock.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    // The clock moves on while the call runs: the token must be valid at
                    // least at the instant the call began.
                    let asked_at = clock.now();
                    let token = tokio::time::timeout(Duration::from_secs(5), m.token())
                        .await
                        .expect("a caller waited more than 5 s")
                        .expect("a caller failed");
                    assert!(token.expires_at() > asked_at, "an expired token");
                    served.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();

    redis.stop();
    let before = server.tokens_issued();
    for round in 1..=3 {
        clock.advance(lifetime + Duration::from_secs(1));
        for m in &fleet {
            let t = bounded("a renewal during the outage", m.token())
                .await
                .unwrap();
            assert!(!t.is_expired(clock.now()), "round {round}");
        }
    }
    let during = server.tokens_issued() - before;
    assert!(
        (3..=9).contains(&during),
        "each manager renews on its own: {during} tokens for 3 managers × 3 expiries"
    );
    assert!(fleet.iter().all(|m| m.stats().store_errors > 0));

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        clock.advance(lifetime + Duration::from_secs(1));
        let issued_before = server.tokens_issued();
        let tokens: Vec<Token> = {
            let mut tokens = Vec::new();
            for m in &fleet {
                tokens.push(
                    bounded("a renewal after the restart", m.token())
                        .await
                        .unwrap(),
                );
            }
            tokens
        };
        let shared = tokens.iter().all(|t| t.same_access_token(&tokens[0]));
        if shared && server.tokens_issued() == issued_before + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet did not share one token again after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    stop.store(true, Ordering::SeqCst);
    for c in callers {
        bounded("a caller task", c).await.unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    let key = fleet[0].cache_key().to_owned();
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    assert!(store.load(&key).await.unwrap().is_some(), "back in Redis");
}

/// The token file of a running manager is deleted, truncated, replaced by a directory, or
/// its directory made read-only. The manager keeps serving from memory, renews through the
/// endpoint when it must, repairs the file when it can, and a restarted process reads the
/// repaired file.
mod file_store_in_use {
    use super::*;

    struct Running {
        _dir: tempfile::TempDir,
        clock: ManualClock,
        server: TestServer,
        store: FileStore,
        manager: TokenManager,
        path: std::path::PathBuf,
        token: Token,
    }

    async fn running() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at_fixed_epoch();
        let server = server_with_clock(&clock).await;
        let store = FileStore::new(dir.path().join("tokens"));
        let manager = builder(&server, &clock)
            .store(store.clone())
            .build()
            .unwrap();
        let token = manager.token().await.unwrap();
        let path = store.token_path(manager.cache_key());
        assert!(path.is_file());
        Running {
            _dir: dir,
            clock,
            server,
            store,
            manager,
            path,
            token,
        }
    }

    impl Running {
        /// Still served from memory, with no request.
        async fn still_serves_from_memory(&self) {
            let requests = self.server.token_requests();
            for _ in 0..10 {
                let t = bounded("a cached call", self.manager.token())
                    .await
                    .unwrap();
                assert!(t.same_access_token(&self.token));
            }
            assert_eq!(self.server.token_requests(), requests);
        }

        /// Past expiry: the manager renews through the endpoint and the caller gets a
        /// valid token; returns it.
        async fn renews(&self) -> Token {
            self.clock
                .set(self.token.expires_at() + Duration::from_secs(1));
            let t = bounded("a renewal", self.manager.token()).await.unwrap();
            assert!(!t.same_access_token(&self.token));
            assert!(!t.is_expired(self.clock.now()));
            t
        }

        /// A new process finds `token` in the file.
        async fn a_restarted_process_reads(&self, token: &Token) {
            let requests = self.server.token_requests();
            let restarted = builder(&self.server, &self.clock)
                .store(self.store.clone())
                .build()
                .unwrap();
            let t = bounded("a restarted process", restarted.token())
                .await
                .unwrap();
            assert!(t.same_access_token(token));
            assert_eq!(restarted.stats().tokens_from_store, 1);
            assert_eq!(self.server.token_requests(), requests);
        }
    }

    #[tokio::test]
    async fn deleted() {
        let r = running().await;
        std::fs::remove_file(&r.path).unwrap();
        r.still_serves_from_memory().await;
        let renewed = r.renews().await;
        assert!(r.path.is_file(), "written again");
        r.a_restarted_process_reads(&renewed).await;
    }

    #[tokio::test]
    async fn truncated() {
        let r = running().await;
        let bytes = std::fs::read(&r.path).unwrap();
        std::fs::write(&r.path, &bytes[..bytes.len() / 3]).unwrap();
        r.still_serves_from_memory().await;
        let renewed = r.renews().await;
        assert_eq!(
            r.manager.stats().store_errors,
            0,
            "an unreadable record is not an error"
        );
        r.a_restarted_process_reads(&renewed).await;
    }

    #[tokio::test]
    async fn replaced_by_a_directory() {
        let r = running().await;
        std::fs::remove_file(&r.path).unwrap();
        std::fs::create_dir(&r.path).unwrap();
        std::fs::write(r.path.join("not-ours"), b"keep").unwrap();
        r.still_serves_from_memory().await;
        // A directory that is not empty cannot be replaced: the save fails, the caller
        // does not.
        let renewed = r.renews().await;
        assert!(r.manager.stats().store_errors >= 1);
        assert_eq!(std::fs::read(r.path.join("not-ours")).unwrap(), b"keep");
        // Someone removes it: the next renewal writes the file again.
        std::fs::remove_dir_all(&r.path).unwrap();
        r.manager.invalidate(&renewed).await;
        let again = bounded("a renewal after the repair", r.manager.token())
            .await
            .unwrap();
        assert!(r.path.is_file());
        r.a_restarted_process_reads(&again).await;
    }

    #[cfg(unix)]
    /// Makes `dir` refuse new files: `chattr +i` as root (permissions do not stop root),
    /// mode 0500 otherwise. Undone on drop. `None` if neither works here.
    struct ReadOnly(std::path::PathBuf, bool);

    #[cfg(unix)]
    impl ReadOnly {
        fn make(dir: &std::path::Path) -> Option<Self> {
            use std::os::unix::fs::PermissionsExt as _;
            let probe = dir.join(".probe");
            let refuses = || std::fs::write(&probe, b"x").is_err();
            let chattr = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            if chattr && refuses() {
                return Some(ReadOnly(dir.to_owned(), true));
            }
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(dir)
                .status();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
            if refuses() {
                return Some(ReadOnly(dir.to_owned(), false));
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            let _ = std::fs::remove_file(&probe);
            None
        }
    }

    #[cfg(unix)]
    impl Drop for ReadOnly {
        fn drop(&mut self) {
            use std::os::unix::fs::PermissionsExt as _;
            if self.1 {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(&self.0)
                    .status();
            } else {
                let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
            }
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn made_read_only() {
        let r = running().await;
        let Some(read_only) = ReadOnly::make(r.store.dir()) else {
            eprintln!("made_read_only: cannot make a directory read-only here; skipped");
            return;
        };
        r.still_serves_from_memory().await;
        // Saving fails (no temporary file can be created); the caller gets its token.
        let renewed = r.renews().await;
        assert!(
            r.manager.stats().store_errors >= 1,
            "{:?}",
            r.manager.stats()
        );
        let on_disk = r.store.load(r.manager.cache_key()).await.unwrap().unwrap();
        assert!(
            on_disk.same_access_token(&r.token),
            "the old file is untouched"
        );
        assert!(r.manager.token().await.unwrap().same_access_token(&renewed));
        // Writable again: the next renewal lands in the file.
        drop(read_only);
        r.manager.invalidate(&renewed).await;
        let again = bounded("a renewal once writable", r.manager.token())
            .await
            .unwrap();
        r.a_restarted_process_reads(&again).await;
    }
}
