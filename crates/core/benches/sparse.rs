//! Sparse callers: `TokenManager::token()` called once per idle gap (about a millisecond,
//! the pattern of a service that asks for a token once per request), so each call meets
//! the hot path with cold CPU caches. Criterion reports means; this harness times every
//! call with `Instant` and prints the latency distribution (p50, p90, p99, p99.9, max),
//! beside the floor (cloning an `Arc<str>`) and two mutex caches measured the same way:
//! the seeds' `Mutex<Option<(String, Instant)>>` and a `Mutex<Option<Token>>` checked
//! against `SystemTime::now()` (Go x/oauth2's `ReuseTokenSource`).
//!
//! Run: `cargo bench -p grantkit-core --bench sparse` (about a minute); options
//! `-- --rounds 5 --calls 2000 --gap-us 1000 --tasks 1,16`. Results: docs/performance.md.
//!
//! Each round measures every subject once, in turn, so that a noisy moment of the machine
//! spreads over all of them; the table gives each round's figures (their range is the
//! noise) and the figures over all rounds pooled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a harness: a failure stops the run

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use grantkit_core::{
    GrantIdentity, HttpClient, HttpRequest, HttpResponse, Result, Token, TokenManager, async_trait,
    grant_fn,
};

#[derive(Debug)]
struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> Result<HttpResponse> {
        Err(grantkit_core::Error::permanent(
            "benchmarks make no requests",
        ))
    }
}

struct Args {
    rounds: usize,
    calls: usize,
    gap: Duration,
    tasks: Vec<usize>,
}

fn parse_args() -> Args {
    let mut a = Args {
        rounds: 3,
        calls: 2000,
        gap: Duration::from_millis(1),
        tasks: vec![1, 16],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = || argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--rounds" => a.rounds = value().parse().unwrap(),
            "--calls" => a.calls = value().parse().unwrap(),
            "--gap-us" => a.gap = Duration::from_micros(value().parse().unwrap()),
            "--tasks" => a.tasks = value().split(',').map(|t| t.parse().unwrap()).collect(),
            // `cargo bench` passes `--bench`; a filter or other flags are ignored.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn warm_manager(rt: &tokio::runtime::Runtime) -> TokenManager {
    let grant = grant_fn(
        GrantIdentity::new("bench", "https://auth.example.com/token"),
        |cx| async move {
            let now = cx.now();
            Ok(Token::new(
                "bench-token",
                now,
                now + Duration::from_secs(3600),
            ))
        },
    );
    let manager = TokenManager::builder()
        .grant(grant)
        .http_client(NoHttp)
        .build()
        .unwrap();
    rt.block_on(manager.token()).unwrap();
    manager
}

/// The seeds' cache: a mutex around the token string and its expiry, checked against the
/// monotonic clock; every call clones the string.
struct SeedCache(Mutex<Option<(String, Instant)>>);

impl SeedCache {
    fn get(&self) -> Option<String> {
        let guard = self.0.lock().unwrap();
        let now = Instant::now();
        guard
            .as_ref()
            .filter(|(_, expires)| now + Duration::from_secs(60) < *expires)
            .map(|(t, _)| t.clone())
    }
}

/// A mutex around a shared token, checked against the precise system clock (Go's
/// `ReuseTokenSource`: a lock, `time.Now()`, a pointer handed out).
struct MutexTokenCache(Mutex<Option<Token>>);

impl MutexTokenCache {
    fn get(&self) -> Option<Token> {
        let guard = self.0.lock().unwrap();
        #[allow(clippy::disallowed_methods)] // the baseline reads the system clock directly
        let now = SystemTime::now();
        guard
            .as_ref()
            .filter(|t| now + Duration::from_secs(60) < t.expires_at())
            .cloned()
    }
}

#[derive(Clone)]
enum Subject {
    Floor(Arc<str>),
    Seed(Arc<SeedCache>),
    MutexToken(Arc<MutexTokenCache>),
    Manager(TokenManager),
}

impl Subject {
    fn name(&self) -> &'static str {
        match self {
            Subject::Floor(_) => "floor: Arc<str>::clone",
            Subject::Seed(_) => "seed: Mutex<Option<(String, Instant)>>",
            Subject::MutexToken(_) => "Mutex<Option<Token>> + SystemTime::now",
            Subject::Manager(_) => "TokenManager::token()",
        }
    }

    /// One timed call.
    #[inline(never)]
    async fn timed_call(&self) -> Duration {
        let start = Instant::now();
        match self {
            Subject::Floor(s) => drop(black_box(Arc::clone(black_box(s)))),
            Subject::Seed(c) => drop(black_box(black_box(c).get())),
            Subject::MutexToken(c) => drop(black_box(black_box(c).get())),
            Subject::Manager(m) => drop(black_box(black_box(m).token().await)),
        }
        start.elapsed()
    }
}

/// `tasks` tasks on the multi-threaded runtime, each making `calls` calls one `gap` apart;
/// every call's latency.
fn run(
    rt: &tokio::runtime::Runtime,
    subject: &Subject,
    tasks: usize,
    calls: usize,
    gap: Duration,
) -> Vec<Duration> {
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let subject = subject.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(calls);
                    let mut tick = tokio::time::interval(gap);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    for _ in 0..calls {
                        tick.tick().await;
                        samples.push(subject.timed_call().await);
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::with_capacity(tasks * calls);
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ns(d: Duration) -> String {
    format!("{}", d.as_nanos())
}

fn summary(samples: &mut [Duration]) -> [Duration; 5] {
    samples.sort_unstable();
    [
        percentile(samples, 50.0),
        percentile(samples, 90.0),
        percentile(samples, 99.0),
        percentile(samples, 99.9),
        samples.last().copied().unwrap_or_default(),
    ]
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let manager = warm_manager(&rt);
    let token = manager.cached().unwrap();
    let subjects = [
        Subject::Floor(Arc::from("bench-token")),
        Subject::Seed(Arc::new(SeedCache(Mutex::new(Some((
            token.access_token().secret().to_owned(),
            Instant::now() + Duration::from_secs(3600),
        )))))),
        Subject::MutexToken(Arc::new(MutexTokenCache(Mutex::new(Some(token))))),
        Subject::Manager(manager),
    ];
    // The timer's own cost, for reading the figures: two `Instant::now()` back to back.
    let mut timer: Vec<Duration> = (0..10_000)
        .map(|_| {
            let s = Instant::now();
            s.elapsed()
        })
        .collect();
    let [t50, _, t99, ..] = summary(&mut timer);
    println!(
        "sparse callers: one call per {:?} per task, {} calls per task and round, {} rounds; \
         latencies in ns (the timer alone: p50 {} p99 {})",
        args.gap,
        args.calls,
        args.rounds,
        ns(t50),
        ns(t99)
    );
    for &tasks in &args.tasks {
        let mut pooled: Vec<Vec<Duration>> = vec![Vec::new(); subjects.len()];
        let mut per_round: Vec<Vec<[Duration; 5]>> = vec![Vec::new(); subjects.len()];
        for _ in 0..args.rounds {
            for (i, s) in subjects.iter().enumerate() {
                let mut samples = run(&rt, s, tasks, args.calls, args.gap);
                pooled[i].extend_from_slice(&samples);
                per_round[i].push(summary(&mut samples));
            }
        }
        println!("\n{tasks} task(s):");
        println!("| subject | p50 | p90 | p99 | p99.9 | max | p50 by round | p99 by round |");
        println!("|---|---|---|---|---|---|---|---|");
        for (i, s) in subjects.iter().enumerate() {
            let [p50, p90, p99, p999, max] = summary(&mut pooled[i]);
            let by = |k: usize| {
                per_round[i]
                    .iter()
                    .map(|r| ns(r[k]))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name(),
                ns(p50),
                ns(p90),
                ns(p99),
                ns(p999),
                ns(max),
                by(0),
                by(2)
            );
        }
    }
}
