//! Authenticated requests per second through the middleware, against the same client
//! sending a static `Authorization` header, on the loopback test server. Goal: ratio ≥ 0.95.
//!
//! Two baselines: plain `reqwest` with the header, and a `reqwest-middleware` client with
//! no middleware and the header (what the auth layer itself costs, without the cost of
//! `reqwest-middleware`).

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure stops the run

use std::time::{Duration, Instant};

use grantkit::middleware::AuthMiddleware;
use grantkit_benches::{builder, runtime};
use grantkit_testkit::server::TestServer;

const REQUESTS: usize = 4_000;
const CONCURRENCY: usize = 8;
const ROUNDS: usize = 5;

async fn drive<F, Fut>(send: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                for _ in 0..REQUESTS / CONCURRENCY {
                    assert_eq!(send().await, 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("middleware: bench");
        return;
    }
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let manager = builder(&server).build().unwrap();
    let host = server.url().trim_start_matches("http://").to_owned();
    let plain = reqwest::Client::new();
    let with_mw = reqwest_middleware::ClientBuilder::new(plain.clone())
        .with(AuthMiddleware::new(manager.clone(), [host]))
        .build();
    let header = rt.block_on(manager.token()).unwrap().authorization_header();
    let url = server.api_url();

    let bare_mw = reqwest_middleware::ClientBuilder::new(plain.clone()).build();
    let (mut static_best, mut bare_best, mut mw_best) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let (c, u, h) = (plain.clone(), url.clone(), header.clone());
        let t = rt.block_on(drive(move || {
            let (c, u, h) = (c.clone(), u.clone(), h.clone());
            async move {
                c.get(u)
                    .header("Authorization", h)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }));
        static_best = static_best.min(t);
        let (c, u, h) = (bare_mw.clone(), url.clone(), header.clone());
        let t = rt.block_on(drive(move || {
            let (c, u, h) = (c.clone(), u.clone(), h.clone());
            async move {
                c.get(u)
                    .header("Authorization", h)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }));
        bare_best = bare_best.min(t);
        let (c, u) = (with_mw.clone(), url.clone());
        let t = rt.block_on(drive(move || {
            let (c, u) = (c.clone(), u.clone());
            async move { c.get(u).send().await.unwrap().status().as_u16() }
        }));
        mw_best = mw_best.min(t);
    }
    let rate = |d: Duration| REQUESTS as f64 / d.as_secs_f64();
    println!("middleware: {REQUESTS} requests, {CONCURRENCY} concurrent, best of {ROUNDS} rounds");
    println!("| client | requests/s |");
    println!("|---|---|");
    println!(
        "| reqwest, static Authorization header | {:.0} |",
        rate(static_best)
    );
    println!(
        "| reqwest-middleware, no middleware, static header | {:.0} |",
        rate(bare_best)
    );
    println!(
        "| reqwest-middleware + AuthMiddleware | {:.0} |",
        rate(mw_best)
    );
    println!(
        "ratio to plain reqwest: {:.3}",
        rate(mw_best) / rate(static_best)
    );
    println!(
        "ratio to reqwest-middleware without the auth layer: {:.3}",
        rate(mw_best) / rate(bare_best)
    );
}
