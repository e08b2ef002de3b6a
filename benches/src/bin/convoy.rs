//! The lock convoy benchmark: N processes sharing one store ask for a token at the same
//! instant from an endpoint that refuses the client (`invalid_client`) or is down
//! (connection refused). Prints when each process got its error, relative to the common
//! start, and how many token requests the group made.
//!
//! Run: `cargo run --release -p grantkit-benches --bin convoy -- --processes 32 --store file --endpoint refuse`
//! (`--store file|redis`, `--endpoint refuse|dead`; Redis from `REDIS_URL` or its own
//! `redis-server`). Every process uses the defaults of `TokenManager::builder()`: lock
//! TTL 30 s, failure cool-down 1 s, `RetryPolicy::default()` (4 attempts, 200 ms initial
//! backoff).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a harness: a failure stops the run

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use grantkit::{
    ClientCredentials, TokenManager,
    store::{FileStore, RedisStore},
    time::{Clock, SystemClock},
};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{ServerConfig, TestServer};

fn now_ms() -> u64 {
    let since = SystemClock::new()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap()
}

/// One process: waits for `go_at_ms`, asks once, prints `done_ms outcome grant_calls`.
fn child(store: &str, location: &str, token_url: &str, go_at_ms: u64) {
    let rt = grantkit_benches::runtime();
    rt.block_on(async {
        let builder = TokenManager::builder().grant(ClientCredentials::form(
            token_url,
            TestServer::CLIENT_ID,
            "not-the-secret",
        ));
        let builder = match store {
            "file" => builder.store(FileStore::new(location)),
            "redis" => {
                let (url, prefix) = location.split_once(' ').unwrap();
                builder.store(RedisStore::from_url(url).unwrap().prefix(prefix))
            }
            other => panic!("unknown store {other}"),
        };
        let manager = builder.build().unwrap();
        tokio::time::sleep(Duration::from_millis(go_at_ms.saturating_sub(now_ms()))).await;
        let outcome = match manager.token().await {
            Ok(_) => "token".to_owned(),
            Err(e) if e.is_invalid_client() => "invalid_client".to_owned(),
            Err(e) => format!("{:?}", e.kind()),
        };
        println!(
            "{} {outcome} {}",
            now_ms().saturating_sub(go_at_ms),
            manager.stats().grant_calls
        );
    });
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--child") {
        child(&argv[1], &argv[2], &argv[3], argv[4].parse().unwrap());
        return;
    }
    let (mut processes, mut store, mut endpoint) =
        (32usize, "file".to_owned(), "refuse".to_owned());
    for pair in argv.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--processes", Some(v)) => processes = v.parse().unwrap(),
            ("--store", Some(v)) => store = v.clone(),
            ("--endpoint", Some(v)) => endpoint = v.clone(),
            (other, _) => panic!("unknown argument {other}"),
        }
    }
    let server =
        TestServer::start_in_background(ServerConfig::default(), Arc::new(SystemClock::new()));
    let token_url = match endpoint.as_str() {
        "refuse" => server.token_url(),
        "dead" => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            format!("http://127.0.0.1:{port}/token")
        }
        other => panic!("unknown endpoint {other}"),
    };
    let redis = (store == "redis").then(RedisServer::start);
    let dir = std::env::temp_dir().join(unique_prefix("grantkit-convoy").replace(':', ""));
    let location = match &redis {
        Some(r) => format!("{} {}", r.url(), unique_prefix("convoy")),
        None => dir.display().to_string(),
    };
    let exe = std::env::current_exe().unwrap();
    // Time for every process to start and build its manager before the common instant.
    let go_at = now_ms() + 1_000 + 50 * processes as u64;
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args(["--child", &store, &location, &token_url, &go_at.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut done = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut grant_calls = 0u64;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a process failed");
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        done.push(fields[0].parse::<u64>().unwrap());
        *outcomes.entry(fields[1].to_owned()).or_default() += 1;
        grant_calls += fields[2].parse::<u64>().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    done.sort_unstable();
    let (first, last) = (done[0], done[done.len() - 1]);
    println!("convoy: {processes} processes, {store} store, endpoint {endpoint}");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| outcomes | {outcomes:?} |");
    println!(
        "| first / median / last error after the start | {first} / {} / {last} ms |",
        done[done.len() / 2]
    );
    println!("| last − first | {} ms |", last - first);
    println!(
        "| token requests (server) / grant attempts (all processes) | {} / {grant_calls} |",
        server.token_requests()
    );
}
