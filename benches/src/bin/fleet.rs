//! The fleet harness: M processes × T tasks sharing one Redis store, tokens living 2 s, for
//! a fixed number of seconds. Prints the token requests made, the requests expected, the
//! expired tokens handed out (must be 0) and the errors.
//!
//! Run: `cargo run --release -p grantkit-benches --bin fleet -- --processes 8 --tasks 16 --seconds 30`
//!
//! The parent starts a Redis (`REDIS_URL` if set, else its own `redis-server`) and the
//! in-process authorization server, then runs M copies of itself in child mode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a harness: a failure stops the run

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grantkit::{
    store::RedisStore,
    time::{Clock, SystemClock},
};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{ServerConfig, TestServer};

struct Args {
    processes: usize,
    tasks: usize,
    seconds: u64,
    lifetime_ms: u64,
    child: Option<(String, String, String)>,
}

fn parse_args() -> Args {
    let mut a = Args {
        processes: 8,
        tasks: 16,
        seconds: 30,
        lifetime_ms: 2000,
        child: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: usize| {
        argv.get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{} needs a value", argv[i]))
    };
    while i < argv.len() {
        match argv[i].as_str() {
            "--processes" => a.processes = value(i).parse().unwrap(),
            "--tasks" => a.tasks = value(i).parse().unwrap(),
            "--seconds" => a.seconds = value(i).parse().unwrap(),
            "--lifetime-ms" => a.lifetime_ms = value(i).parse().unwrap(),
            "--child" => {
                a.child = Some((value(i), argv[i + 2].clone(), argv[i + 3].clone()));
                i += 2;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

/// One member of the fleet: T tasks calling `token()` until the deadline. Prints
/// `calls expired errors grant_requests` on one line.
fn child(args: &Args, redis_url: &str, token_url: &str, prefix: &str) {
    let rt = grantkit_benches::runtime();
    let server_url = token_url.to_owned();
    let store = RedisStore::from_url(redis_url).unwrap().prefix(prefix);
    let manager = grantkit::TokenManager::builder()
        .grant(grantkit::ClientCredentials::form(
            server_url,
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .store(store)
        .retry(
            grantkit::policy::RetryPolicy::default()
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let (calls, expired, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let until = Instant::now() + Duration::from_secs(args.seconds);
    rt.block_on(async {
        let tasks: Vec<_> = (0..args.tasks)
            .map(|_| {
                let (m, calls, expired, errors) = (
                    manager.clone(),
                    calls.clone(),
                    expired.clone(),
                    errors.clone(),
                );
                tokio::spawn(async move {
                    while Instant::now() < until {
                        match m.token().await {
                            Ok(t) => {
                                calls.fetch_add(1, Ordering::Relaxed);
                                // The precise clock: is the token still valid as it is handed out?
                                if t.expires_at() <= SystemClock::new().now() {
                                    expired.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!(
        "{} {} {} {}",
        calls.load(Ordering::Relaxed),
        expired.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        manager.stats().token_requests
    );
}

fn main() {
    let args = parse_args();
    if let Some((redis_url, token_url, prefix)) = &args.child {
        child(&args, redis_url, token_url, prefix);
        return;
    }
    let redis = RedisServer::start();
    let lifetime = Duration::from_millis(args.lifetime_ms);
    let mut config = ServerConfig::default();
    config.lifetime = Duration::from_secs(lifetime.as_secs().max(1));
    let server = TestServer::start_in_background(config, Arc::new(SystemClock::new()));
    if lifetime.subsec_millis() != 0 {
        eprintln!(
            "note: the test server issues whole seconds; lifetime {}s",
            lifetime.as_secs().max(1)
        );
    }
    let prefix = unique_prefix("fleet");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let children: Vec<_> = (0..args.processes)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--tasks",
                    &args.tasks.to_string(),
                    "--seconds",
                    &args.seconds.to_string(),
                    "--child",
                    redis.url(),
                    &server.token_url(),
                    &prefix,
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut calls, mut expired, mut errors, mut by_process) = (0u64, 0u64, 0u64, Vec::new());
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a fleet member failed");
        let line = String::from_utf8_lossy(&out.stdout);
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        calls += n[0];
        expired += n[1];
        errors += n[2];
        by_process.push(n[3]);
    }
    let elapsed = started.elapsed();
    let secs = lifetime.as_secs().max(1) as f64;
    let requests = server.token_requests();
    // The default policy renews between ½ and ⅝ of the way through a 2 s token's life.
    let per_lifetime = args.seconds as f64 / secs;
    let per_renewal = args.seconds as f64 / (secs * 0.5625);
    println!(
        "fleet: {} processes × {} tasks, {} s, tokens living {secs} s, one shared Redis",
        args.processes, args.tasks, args.seconds
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| token() calls | {calls} |");
    println!("| token requests made | {requests} |");
    println!(
        "| expected: one per lifetime / one per renewal interval | {per_lifetime:.1} / {per_renewal:.1} |"
    );
    println!("| requests per process | {by_process:?} |");
    println!("| expired tokens handed out | {expired} |");
    println!("| errors | {errors} |");
    println!("| wall time | {:.1} s |", elapsed.as_secs_f64());
    assert_eq!(expired, 0, "an expired token was handed out");
}
