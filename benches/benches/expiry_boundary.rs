//! Crossing expiry boundaries while the token endpoint takes 50 ms to answer: the latency
//! of `token()` (p50/p99/p99.9/max) with refresh-ahead (the default policy), beside the
//! same run with renewal only at expiry (the way a seed-style cache behaves).
//!
//! Tokens live 2 s; 16 tasks call `token()` about once a millisecond for 7 s, crossing
//! three expiries.

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure stops the run

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use grantkit::{Token, policy::RefreshPolicy};
use grantkit_benches::{builder, percentile, runtime};
use grantkit_testkit::server::TestServer;

/// Renew only when the token has expired: what a cache without refresh-ahead does.
#[derive(Debug)]
struct AtExpiry;

impl RefreshPolicy for AtExpiry {
    fn refresh_at(&self, token: &Token) -> SystemTime {
        token.expires_at()
    }
}

const TASKS: usize = 16;
const RUN: Duration = Duration::from_secs(7);

fn run(
    server: &TestServer,
    rt: &tokio::runtime::Runtime,
    policy: Option<Arc<dyn RefreshPolicy>>,
) -> (Vec<Duration>, usize) {
    let mut b = builder(server);
    if let Some(p) = policy {
        b = b.policy(ArcPolicy(p));
    }
    let manager = b.build().unwrap();
    let before = server.token_requests();
    let samples = rt.block_on(async {
        manager.token().await.unwrap(); // start warm: the cold start is measured elsewhere
        let until = Instant::now() + RUN;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let m = manager.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(8_000);
                    while Instant::now() < until {
                        let t0 = Instant::now();
                        m.token().await.unwrap();
                        samples.push(t0.elapsed());
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut samples = samples;
    samples.sort_unstable();
    (samples, server.token_requests() - before)
}

#[derive(Debug)]
struct ArcPolicy(Arc<dyn RefreshPolicy>);

impl RefreshPolicy for ArcPolicy {
    fn refresh_at(&self, token: &Token) -> SystemTime {
        self.0.refresh_at(token)
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("expiry_boundary: bench");
        return;
    }
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    server.configure(|c| {
        c.lifetime = Duration::from_secs(2);
        c.token_delay = Duration::from_millis(50);
    });
    println!("expiry_boundary: 2 s tokens, 50 ms endpoint, {TASKS} tasks for {RUN:?}");
    println!("| policy | calls | token requests | p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|---|");
    for (name, policy) in [
        ("refresh-ahead (default)", None),
        (
            "renew at expiry (baseline)",
            Some(Arc::new(AtExpiry) as Arc<dyn RefreshPolicy>),
        ),
    ] {
        let (s, requests) = run(&server, &rt, policy);
        println!(
            "| {name} | {} | {requests} | {:?} | {:?} | {:?} | {:?} |",
            s.len(),
            percentile(&s, 50.0),
            percentile(&s, 99.0),
            percentile(&s, 99.9),
            s.last().copied().unwrap_or_default()
        );
    }
}
