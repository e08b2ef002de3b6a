//! The cost of `TokenManager::token()` on a fresh cached token, beside its floor (cloning
//! an `Arc<str>`) and a seed-style `Mutex<Option<Token>>` cache, on one thread and on two
//! threads at once. Results: docs/performance.md.

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure should stop the run

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use grantkit_core::{
    GrantIdentity, HttpClient, HttpRequest, HttpResponse, Result, SystemClock, Token, TokenManager,
    async_trait, grant_fn,
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

fn warm_manager() -> TokenManager {
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(manager.token()).unwrap();
    manager
}

/// A cache as the seeds write it: a mutex around an optional token, checked against the
/// precise system clock on every call.
struct SeedCache(Mutex<Option<Token>>);

impl SeedCache {
    fn get(&self) -> Option<Token> {
        let guard = self.0.lock().unwrap();
        #[allow(clippy::disallowed_methods)] // the seeds read the system clock directly
        let now = SystemTime::now();
        guard
            .as_ref()
            .filter(|t| now + Duration::from_secs(60) < t.expires_at())
            .cloned()
    }
}

/// Runs `op` `iters` times on each of `threads` threads at once; returns the mean time one
/// thread took for its `iters` calls.
fn per_thread_elapsed<T: 'static>(
    threads: usize,
    iters: u64,
    op: Arc<dyn Fn() -> T + Send + Sync>,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let op = Arc::clone(&op);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(op());
                }
                start.elapsed()
            })
        })
        .collect();
    let total: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total / threads as u32
}

fn cached_token(c: &mut Criterion) {
    let manager = warm_manager();
    let floor: Arc<str> = Arc::from("bench-token");
    let seed = Arc::new(SeedCache(Mutex::new(manager.cached())));

    let mut g = c.benchmark_group("cached_token/1_thread");
    g.bench_function("floor_arc_str_clone", |b| {
        b.iter(|| black_box(&floor).clone())
    });
    g.bench_function("seed_mutex_cache", |b| b.iter(|| black_box(&seed).get()));
    g.bench_function("token_manager", |b| {
        b.iter(|| black_box(&manager).token().now_or_never())
    });
    g.bench_function("system_clock_unix_nanos", |b| {
        b.iter(|| SystemClock::new().unix_nanos())
    });
    g.finish();

    let mut g = c.benchmark_group("cached_token/2_threads");
    let f = Arc::clone(&floor);
    let floor_op: Arc<dyn Fn() -> Arc<str> + Send + Sync> = Arc::new(move || f.clone());
    g.bench_function("floor_arc_str_clone", |b| {
        b.iter_custom(|iters| per_thread_elapsed(2, iters, Arc::clone(&floor_op)))
    });
    let s = Arc::clone(&seed);
    let seed_op: Arc<dyn Fn() -> Option<Token> + Send + Sync> = Arc::new(move || s.get());
    g.bench_function("seed_mutex_cache", |b| {
        b.iter_custom(|iters| per_thread_elapsed(2, iters, Arc::clone(&seed_op)))
    });
    // Work that shares nothing between threads: any slowdown here is the machine's (two
    // vCPUs may be siblings of one core), not contention.
    let clock_op: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(|| SystemClock::new().unix_nanos());
    g.bench_function("system_clock_unix_nanos", |b| {
        b.iter_custom(|iters| per_thread_elapsed(2, iters, Arc::clone(&clock_op)))
    });
    let m = manager.clone();
    let manager_op: Arc<dyn Fn() -> Option<Result<Token>> + Send + Sync> =
        Arc::new(move || m.token().now_or_never());
    g.bench_function("token_manager", |b| {
        b.iter_custom(|iters| per_thread_elapsed(2, iters, Arc::clone(&manager_op)))
    });
    g.finish();
}

criterion_group!(benches, cached_token);
criterion_main!(benches);
