//! The fleet harness: P processes × M managers × T tasks sharing one Redis store, tokens
//! living 2 s, for a fixed number of seconds. Every manager has its own `RedisStore`, so
//! its own Redis connection: M managers in one process cost Redis what M processes would.
//! Prints the token requests made (one per renewal is the goal), the Redis commands the
//! fleet sent (deltas of `INFO commandstats`), how long after a token was issued (its
//! request sent) and after it was saved in the store the calls that had to wait for it got
//! it, the expired tokens handed out (must be 0) and the errors.
//!
//! Run: `cargo run --release -p grantkit-benches --bin fleet -- --processes 8 --managers 32 --tasks 1 --seconds 30`
//! (`--at-expiry` renews only at expiry, so that the whole fleet waits for every renewal;
//! `--no-watch` hides the store's change notifications, so that waiters poll).
//!
//! The parent starts a Redis (`REDIS_URL` if set, else its own `redis-server`) and the
//! in-process authorization server, then runs P copies of itself in child mode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a harness: a failure stops the run

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use grantkit::{
    Token,
    policy::RefreshPolicy,
    store::{FailureRecord, LockAttempt, RedisStore, SharedTokenStore, StoreWatch, TokenStore},
    time::{Clock, SystemClock},
};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{ServerConfig, TestServer};

struct Args {
    processes: usize,
    managers: usize,
    tasks: usize,
    seconds: u64,
    lifetime_ms: u64,
    at_expiry: bool,
    no_watch: bool,
    child: Option<(String, String, String)>,
}

fn parse_args() -> Args {
    let mut a = Args {
        processes: 8,
        managers: 1,
        tasks: 16,
        seconds: 30,
        lifetime_ms: 2000,
        at_expiry: false,
        no_watch: false,
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
            "--managers" => a.managers = value(i).parse().unwrap(),
            "--tasks" => a.tasks = value(i).parse().unwrap(),
            "--seconds" => a.seconds = value(i).parse().unwrap(),
            "--lifetime-ms" => a.lifetime_ms = value(i).parse().unwrap(),
            "--at-expiry" => {
                a.at_expiry = true;
                i += 1;
                continue;
            }
            "--no-watch" => {
                a.no_watch = true;
                i += 1;
                continue;
            }
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

/// Renew only when the token has expired, so that every manager of the fleet needs the
/// new token at the same moment and all but the lock holder wait for it.
#[derive(Debug)]
struct AtExpiry;

impl RefreshPolicy for AtExpiry {
    fn refresh_at(&self, token: &Token) -> SystemTime {
        token.expires_at()
    }
}

/// The Redis store, recording when each token was saved (to time the waiters from it), and
/// without its change notifications when `watch` is off ([`TokenStore::watch`] left at its
/// default): waiters poll, as before notifications existed (`--no-watch`).
#[derive(Debug)]
struct Timed {
    redis: RedisStore,
    watch: bool,
    tally: Arc<Tally>,
}

#[grantkit::store::async_trait]
impl TokenStore for Timed {
    async fn load(&self, key: &str) -> grantkit::Result<Option<Token>> {
        self.redis.load(key).await
    }
    async fn save(&self, key: &str, token: &Token) -> grantkit::Result<()> {
        let saved = self.redis.save(key, token).await;
        self.tally
            .saves
            .lock()
            .unwrap()
            .push((micros(token.issued_at()), micros(SystemClock::new().now())));
        saved
    }
    async fn remove(&self, key: &str) -> grantkit::Result<()> {
        self.redis.remove(key).await
    }
    async fn try_lock(&self, key: &str, ttl: Duration) -> grantkit::Result<LockAttempt> {
        self.redis.try_lock(key, ttl).await
    }
    async fn save_failure(
        &self,
        key: &str,
        failure: &FailureRecord,
        ttl: Duration,
    ) -> grantkit::Result<()> {
        self.redis.save_failure(key, failure, ttl).await
    }
    async fn load_failure(&self, key: &str) -> grantkit::Result<Option<FailureRecord>> {
        self.redis.load_failure(key).await
    }
    async fn watch(&self, key: &str) -> grantkit::Result<Option<StoreWatch>> {
        if self.watch {
            self.redis.watch(key).await
        } else {
            Ok(None)
        }
    }
}

/// Microseconds since the Unix epoch: the clock every process of the fleet shares.
fn micros(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

#[derive(Debug, Default)]
struct Tally {
    calls: AtomicU64,
    /// Tokens that had expired before the call that returned them began (must be 0).
    expired: AtomicU64,
    /// Tokens that expired while their call ran: with renewal at expiry, a call that
    /// starts a moment before the expiry may return that token a moment after it.
    expired_in_call: AtomicU64,
    errors: AtomicU64,
    /// The lifetime of the tokens handed out, as the manager sees it (what the endpoint
    /// said, less the whole-second margin), in ms.
    lifetime_ms: AtomicU64,
    /// For each call that returned a token issued after it began (it waited for that
    /// renewal, its own or another process's): the token's issue (its request sent) and
    /// the call's return, in µs since the epoch.
    waits_us: Mutex<Vec<(u64, u64)>>,
    /// For each token this process saved: its issue and the save's completion, in µs
    /// since the epoch.
    saves: Mutex<Vec<(u64, u64)>>,
}

/// One member of the fleet: M managers × T tasks calling `token()` until the deadline.
/// Prints `calls expired expired_in_call errors token_requests lifetime_ms` and, after a `|`, the waits in µs.
fn child(args: &Args, redis_url: &str, token_url: &str, prefix: &str) {
    let rt = grantkit_benches::runtime();
    let tally = Arc::new(Tally::default());
    let managers: Vec<_> = (0..args.managers)
        .map(|_| {
            let store = SharedTokenStore::new(Timed {
                redis: RedisStore::from_url(redis_url).unwrap().prefix(prefix),
                watch: !args.no_watch,
                tally: Arc::clone(&tally),
            });
            let mut builder = grantkit::TokenManager::builder()
                .grant(grantkit::ClientCredentials::form(
                    token_url.to_owned(),
                    TestServer::CLIENT_ID,
                    TestServer::CLIENT_SECRET,
                ))
                .store_shared(store)
                .retry(
                    grantkit::policy::RetryPolicy::default()
                        .with_initial_backoff(Duration::from_millis(20)),
                );
            if args.at_expiry {
                builder = builder.policy(AtExpiry);
            }
            builder.build().unwrap()
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(args.seconds);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for m in &managers {
            for _ in 0..args.tasks {
                let (m, tally) = (m.clone(), Arc::clone(&tally));
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < until {
                        let began = SystemClock::new().now();
                        match m.token().await {
                            Ok(t) => {
                                tally.calls.fetch_add(1, Ordering::Relaxed);
                                let lifetime = t
                                    .expires_at()
                                    .duration_since(t.issued_at())
                                    .unwrap_or_default();
                                tally
                                    .lifetime_ms
                                    .fetch_max(lifetime.as_millis() as u64, Ordering::Relaxed);
                                // The precise clock: was the token still valid when asked for,
                                // and as it was handed out?
                                let now = SystemClock::new().now();
                                if t.expires_at() <= began {
                                    tally.expired.fetch_add(1, Ordering::Relaxed);
                                } else if t.expires_at() <= now {
                                    tally.expired_in_call.fetch_add(1, Ordering::Relaxed);
                                }
                                if t.issued_at() > began {
                                    tally
                                        .waits_us
                                        .lock()
                                        .unwrap()
                                        .push((micros(t.issued_at()), micros(now)));
                                }
                            }
                            Err(_) => {
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let requests: u64 = managers.iter().map(|m| m.stats().token_requests).sum();
    let pairs = |v: &Mutex<Vec<(u64, u64)>>| {
        v.lock()
            .unwrap()
            .iter()
            .map(|(a, b)| format!("{a}:{b}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{} {} {} {} {} {} | {} | {}",
        tally.calls.load(Ordering::Relaxed),
        tally.expired.load(Ordering::Relaxed),
        tally.expired_in_call.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        requests,
        tally.lifetime_ms.load(Ordering::Relaxed),
        pairs(&tally.waits_us),
        pairs(&tally.saves),
    );
}

/// Calls per command from `INFO commandstats`.
fn command_stats(rt: &tokio::runtime::Runtime, url: &str) -> BTreeMap<String, u64> {
    rt.block_on(async {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .unwrap();
        info.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    })
}

fn main() {
    let args = parse_args();
    if let Some((redis_url, token_url, prefix)) = &args.child {
        child(&args, redis_url, token_url, prefix);
        return;
    }
    let redis = RedisServer::start();
    let rt = grantkit_benches::runtime();
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
    let before = command_stats(&rt, redis.url());
    let started = Instant::now();
    let mut child_args = vec![
        "--managers".to_owned(),
        args.managers.to_string(),
        "--tasks".to_owned(),
        args.tasks.to_string(),
        "--seconds".to_owned(),
        args.seconds.to_string(),
    ];
    if args.at_expiry {
        child_args.push("--at-expiry".to_owned());
    }
    if args.no_watch {
        child_args.push("--no-watch".to_owned());
    }
    let children: Vec<_> = (0..args.processes)
        .map(|_| {
            Command::new(&exe)
                .args(&child_args)
                .args(["--child", redis.url(), &server.token_url(), &prefix])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut calls, mut expired, mut errors, mut by_process) = (0u64, 0u64, 0u64, Vec::new());
    let (mut returns, mut saved_at) = (Vec::new(), BTreeMap::new());
    let (mut lifetime_ms, mut expired_in_call) = (0u64, 0u64);
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a fleet member failed");
        let line = String::from_utf8_lossy(&out.stdout);
        let mut parts = line.split('|');
        let (counts, waited, saved) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let pairs = |text: &str| -> Vec<(u64, u64)> {
            text.split_whitespace()
                .map(|p| {
                    let (a, b) = p.split_once(':').unwrap();
                    (a.parse().unwrap(), b.parse().unwrap())
                })
                .collect()
        };
        returns.extend(pairs(waited));
        // Keyed by the issue's millisecond: the store keeps it in ms.
        for (issued, at) in pairs(saved) {
            let first = saved_at.entry(issued / 1000).or_insert(at);
            *first = (*first).min(at);
        }
        let n: Vec<u64> = counts
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        calls += n[0];
        expired += n[1];
        expired_in_call += n[2];
        errors += n[3];
        by_process.push(n[4]);
        lifetime_ms = lifetime_ms.max(n[5]);
    }
    let elapsed = started.elapsed();
    let after = command_stats(&rt, redis.url());
    // The harness's own INFO calls are not the fleet's.
    let commands: BTreeMap<&str, u64> = after
        .iter()
        .map(|(k, v)| (k.as_str(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(k, v)| *v > 0 && *k != "info")
        .collect();
    let total_commands: u64 = commands.values().sum();
    let secs = lifetime.as_secs().max(1) as f64;
    let requests = server.token_requests();
    // The manager takes a token to live `expires_in` less a whole-second margin; the
    // default policy renews between ½ and ⅝ of the way through that.
    let seen = lifetime_ms as f64 / 1000.0;
    let renewals = if args.at_expiry {
        format!("{:.1}", args.seconds as f64 / seen)
    } else {
        format!(
            "{:.1}–{:.1}",
            args.seconds as f64 / (seen * 0.625),
            args.seconds as f64 / (seen * 0.5)
        )
    };
    // From the token's issue (its request sent), and from its save in the store, to the
    // return of each call that waited for it.
    let mut from_issue: Vec<u64> = returns.iter().map(|(i, r)| r.saturating_sub(*i)).collect();
    let mut from_save: Vec<u64> = returns
        .iter()
        .filter_map(|(i, r)| Some(r.saturating_sub(*saved_at.get(&(i / 1000))?)))
        .collect();
    let percentiles = |waits: &mut Vec<u64>| {
        waits.sort_unstable();
        let pct = |p: f64| {
            if waits.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * waits.len() as f64).ceil() as usize;
            waits[rank.clamp(1, waits.len()) - 1] as f64 / 1000.0
        };
        format!("{:.1} / {:.1} / {:.1} ms", pct(50.0), pct(99.0), pct(100.0))
    };
    let managers = args.processes * args.managers;
    println!(
        "fleet: {} processes × {} managers × {} tasks ({managers} managers, each its own Redis connection), \
         {} s, tokens living {secs} s, {}, one shared Redis",
        args.processes,
        args.managers,
        args.tasks,
        args.seconds,
        if args.at_expiry {
            "renewal at expiry"
        } else {
            "refresh-ahead"
        }
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| token() calls | {calls} |");
    println!("| token requests made | {requests} |");
    println!(
        "| expected renewals (token lifetime as the manager sees it: {seen:.2} s) | {renewals} |"
    );
    println!(
        "| token requests per process (most) | {} |",
        by_process.iter().max().copied().unwrap_or(0)
    );
    println!("| Redis commands | {total_commands} |");
    println!(
        "| Redis commands per token request / per second / per manager and second | {:.0} / {:.0} / {:.2} |",
        total_commands as f64 / requests.max(1) as f64,
        total_commands as f64 / elapsed.as_secs_f64(),
        total_commands as f64 / elapsed.as_secs_f64() / managers as f64
    );
    println!("| Redis commands by name | {commands:?} |");
    println!(
        "| calls that waited for a new token: count; token issued (request sent) → call returned p50 / p99 / max | {}; {} |",
        from_issue.len(),
        percentiles(&mut from_issue)
    );
    println!(
        "| the same, token saved in the store → call returned p50 / p99 / max | {} |",
        percentiles(&mut from_save)
    );
    println!("| expired tokens handed out (expired before the call began) | {expired} |");
    println!("| tokens that expired during the call that returned them | {expired_in_call} |");
    println!("| errors | {errors} |");
    println!("| wall time | {:.1} s |", elapsed.as_secs_f64());
    assert_eq!(expired, 0, "an expired token was handed out");
}
