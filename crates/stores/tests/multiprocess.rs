//! Several OS processes sharing one store, all asking for the same token at the same
//! moment, make exactly one token request.
//!
//! The processes are this test binary itself, re-run with `--exact child` and the
//! environment variable `GRANTKIT_MP_ROLE` set: the `child` test then builds a
//! `TokenManager` against the shared test server and store, waits for the agreed start
//! instant, asks for a token and prints it. Run normally, `child` does nothing.
#![cfg(any(feature = "file", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use grantkit_core::{
    ClientSecret, Clock as _, GrantIdentity, SharedTokenStore, SystemClock, TokenManager,
    TokenRequest, grant_fn,
};
use grantkit_testkit::server::{Fault, TestServer};

const ROLE: &str = "GRANTKIT_MP_ROLE";
const PROCESSES: usize = 6;

fn now_ms() -> u64 {
    let since = SystemClock::new()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap()
}

/// The child process's part; a no-op unless `GRANTKIT_MP_ROLE` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let store: SharedTokenStore = match role.as_str() {
        #[cfg(feature = "file")]
        "file" => SharedTokenStore::new(grantkit_stores::FileStore::new(var("GRANTKIT_MP_DIR"))),
        #[cfg(feature = "redis")]
        "redis" => SharedTokenStore::new(
            grantkit_stores::RedisStore::from_url(&var("GRANTKIT_MP_REDIS_URL"))
                .unwrap()
                .prefix(var("GRANTKIT_MP_PREFIX")),
        ),
        other => panic!("unknown role {other}"),
    };
    let token_url = var("GRANTKIT_MP_TOKEN_URL");
    let url = token_url.clone();
    let grant = grant_fn(
        GrantIdentity::new("client_credentials", &token_url).with_client_id(TestServer::CLIENT_ID),
        move |cx| {
            let url = url.clone();
            async move {
                let request = TokenRequest::post(&url)
                    .basic_auth(
                        TestServer::CLIENT_ID,
                        &ClientSecret::new(TestServer::CLIENT_SECRET),
                    )
                    .form([("grant_type", "client_credentials")])
                    .build()?;
                cx.exchange(request).await
            }
        },
    );
    let manager = TokenManager::builder()
        .grant(grant)
        .store_shared(store)
        .lock_ttl(Duration::from_secs(20))
        .build()
        .unwrap();
    let go_at: u64 = var("GRANTKIT_MP_GO_AT_MS").parse().unwrap();
    let wait = go_at.saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let token = manager.token().await.unwrap();
    let stats = manager.stats();
    // A test token from the test server: printing it is the point.
    println!(
        "\nGRANTKIT_MP_RESULT token={} fetched={} from_store={}",
        token.access_token().secret(),
        stats.tokens_fetched,
        stats.tokens_from_store
    );
}

/// Runs `PROCESSES` children with `envs`, all starting at the same instant; returns the
/// tokens they printed and how many fetched from the endpoint.
async fn run_children(role: &str, envs: Vec<(&'static str, String)>) -> (Vec<String>, u64) {
    let exe = std::env::current_exe().unwrap();
    let role = role.to_owned();
    tokio::task::spawn_blocking(move || {
        let go_at = now_ms() + 1_500;
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                Command::new(&exe)
                    .args(["child", "--exact", "--nocapture", "--test-threads", "1"])
                    .env(ROLE, &role)
                    .env("GRANTKIT_MP_GO_AT_MS", go_at.to_string())
                    .envs(envs.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut tokens = Vec::new();
        let mut fetched = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "a child failed: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("GRANTKIT_MP_RESULT ").map(|(_, r)| r))
                .unwrap_or_else(|| panic!("no result from a child:\n{stdout}"));
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap()
                    .to_owned()
            };
            tokens.push(field("token="));
            fetched += field("fetched=").parse::<u64>().unwrap();
        }
        (tokens, fetched)
    })
    .await
    .unwrap()
}

async fn slow_server() -> TestServer {
    let server = TestServer::start().await;
    // The one request takes a while, so that every other process finds the lock taken
    // and has to wait for the holder's token.
    server.push_fault(Fault::Delay(Duration::from_millis(400)));
    server
}

fn assert_one_token(tokens: &[String], fetched: u64, server: &TestServer) {
    assert_eq!(tokens.len(), PROCESSES);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "processes got different tokens: {tokens:?}"
    );
    assert_eq!(server.token_requests(), 1, "token requests");
    assert_eq!(fetched, 1, "processes that fetched");
}

#[cfg(feature = "file")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_file_store_make_one_token_request() {
    let server = slow_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (tokens, fetched) = run_children(
        "file",
        vec![
            ("GRANTKIT_MP_TOKEN_URL", server.token_url()),
            (
                "GRANTKIT_MP_DIR",
                dir.path().join("tokens").display().to_string(),
            ),
        ],
    )
    .await;
    assert_one_token(&tokens, fetched, &server);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_redis_store_make_one_token_request() {
    use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
    let redis = RedisServer::start();
    let server = slow_server().await;
    let (tokens, fetched) = run_children(
        "redis",
        vec![
            ("GRANTKIT_MP_TOKEN_URL", server.token_url()),
            ("GRANTKIT_MP_REDIS_URL", redis.url().to_owned()),
            ("GRANTKIT_MP_PREFIX", unique_prefix("multiprocess")),
        ],
    )
    .await;
    assert_one_token(&tokens, fetched, &server);
}
