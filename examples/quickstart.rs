//! grantkit in one minute, with no network and no credentials.
//!
//! Run: `cargo run --example quickstart`
//!
//! An authorization server runs inside this process on 127.0.0.1 and issues tokens that
//! live 6 seconds. The example shows one token request for a hundred concurrent callers,
//! cache hits, and renewal ahead of expiry: while the calls go on, a new token replaces
//! the old one before it expires, and no call waits for the token endpoint.

#![deny(warnings)]

use std::time::{Duration, Instant};

use grantkit::{
    ClientCredentials, ClientGrant, TokenManager,
    time::{Clock, SystemClock},
};
use grantkit_testkit::server::TestServer;

const LIFETIME: Duration = Duration::from_secs(6);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start().await;
    server.set_lifetime(LIFETIME);
    println!("authorization server on {}", server.token_url());

    let grant = ClientCredentials::form(
        server.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
    )
    .scope("demo");
    let manager = TokenManager::builder()
        .grant(grant)
        .refresh_before(Duration::from_secs(2))
        .on_token(|token| {
            println!(
                "  -> new token obtained ({} s lifetime)",
                token.lifetime().as_secs()
            )
        })
        .build()?;

    println!("\n1. a hundred tasks ask for a token at once");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    println!("   token requests made: {}", server.token_requests());

    println!("\n2. the same token keeps coming from memory");
    let start = Instant::now();
    for _ in 0..100_000 {
        manager.token().await?;
    }
    println!(
        "   100000 calls in {:?}, token requests still {}",
        start.elapsed(),
        server.token_requests()
    );

    println!("\n3. calls every 250 ms for 10 s: renewed ahead of expiry, nobody waits");
    let mut slowest = Duration::ZERO;
    let mut last_report = Instant::now() - Duration::from_secs(1);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let t0 = Instant::now();
        let token = manager.token().await?;
        slowest = slowest.max(t0.elapsed());
        if last_report.elapsed() >= Duration::from_secs(1) {
            let left = token.remaining(SystemClock::new().now());
            println!("   Token expires in {:.1}s", left.as_secs_f64());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let stats = manager.stats();
    println!("\nsummary");
    println!("   token requests:   {}", server.token_requests());
    println!("   tokens fetched:   {}", stats.tokens_fetched);
    println!("   cache hits:       {}", stats.cache_hits);
    println!(
        "   slowest token():  {slowest:?} (the endpoint was never waited for after the first fetch)"
    );
    Ok(())
}
