//! A cold start: N tasks ask an empty manager for a token at once. Measures the time until
//! all of them have it, and asserts that exactly one token request was made. Baselines from
//! the same run: one token request made directly (the physical minimum), and spawning and
//! joining N tasks that do nothing.

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure stops the run

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use grantkit::{
    ClientCredentials,
    grant::{Grant, GrantContext},
    time::SystemClock,
    transport::ReqwestHttpClient,
};
use grantkit_benches::{builder, runtime};
use grantkit_testkit::server::TestServer;

fn cold_start(c: &mut Criterion) {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let mut g = c.benchmark_group("cold_start");
    g.sample_size(20).measurement_time(Duration::from_secs(5));

    let grant = ClientCredentials::form(
        server.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
    );
    let cx = GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(SystemClock::new()),
    );
    g.bench_function("baseline_one_direct_request", |b| {
        b.to_async(&rt)
            .iter(|| async { grant.fetch_token(&cx).await.unwrap() })
    });

    for n in [1usize, 100, 10_000] {
        g.bench_with_input(BenchmarkId::new("baseline_spawn_join", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                }
                start.elapsed()
            })
        });
        g.bench_with_input(BenchmarkId::new("token_manager", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let manager = builder(&server).build().unwrap();
                    let before = server.token_requests();
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..n)
                            .map(|_| {
                                let m = manager.clone();
                                tokio::spawn(async move { m.token().await })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap().unwrap();
                        }
                    });
                    total += start.elapsed();
                    assert_eq!(
                        server.token_requests() - before,
                        1,
                        "one request per cold start"
                    );
                }
                total
            })
        });
    }
    g.finish();
    println!("cold_start: every cold start made exactly 1 token request (asserted)");
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
