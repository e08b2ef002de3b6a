//! Bytes held per manager and per cached token, measured with a counting allocator.
//!
//! A manager is built and its token fetched on this thread (a fake grant, so no HTTP or
//! server allocations are counted); the net bytes still allocated after each step are what
//! that step holds.

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure stops the run

use std::alloc::System;
use std::time::Duration;

use grantkit::{
    Token, TokenManager,
    grant::{GrantIdentity, async_trait, grant_fn},
    transport::{HttpClient, HttpRequest, HttpResponse},
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Debug)]
struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> grantkit::Result<HttpResponse> {
        Err(grantkit::Error::permanent("no HTTP in this benchmark"))
    }
}

/// Runs a future on a current-thread runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn net(region: &Region<'_, System>) -> isize {
    let s = region.change();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

fn measure(token_len: usize) -> (isize, isize, isize) {
    let access = "x".repeat(token_len);
    let grant = grant_fn(
        GrantIdentity::new("bench", "https://auth.example.com/token").with_client_id("bench"),
        move |cx| {
            let access = access.clone();
            async move {
                let now = cx.now();
                Ok(Token::new(access, now, now + Duration::from_secs(3600))
                    .with_refresh_token("r".repeat(64)))
            }
        },
    );
    let region = Region::new(GLOBAL);
    let manager = TokenManager::builder()
        .grant(grant)
        .http_client(NoHttp)
        .build()
        .unwrap();
    let per_manager = net(&region);

    let region = Region::new(GLOBAL);
    let token = block_on(manager.token()).unwrap();
    drop(token);
    let per_token = net(&region);

    let region = Region::new(GLOBAL);
    let clones: Vec<Token> = (0..1000).map(|_| manager.cached().unwrap()).collect();
    let per_clone =
        (net(&region) - (clones.capacity() * std::mem::size_of::<Token>()) as isize) / 1000;
    drop(clones);
    drop(manager);
    (per_manager, per_token, per_clone)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("memory: bench");
        return;
    }
    // Warm up thread-locals and lazy statics so they are not charged to the first run.
    let _ = measure(16);
    println!("memory: net bytes held (counting allocator)");
    println!("| access token | per manager (no token) | per cached token | per Token handed out |");
    println!("|---|---|---|---|");
    for len in [40usize, 1024] {
        let (m, t, c) = measure(len);
        println!("| {len} B | {m} B | {t} B | {c} B |");
    }
    println!(
        "shards (replicas per token): {}",
        (std::thread::available_parallelism().map_or(1, |n| n.get()) * 2)
            .next_power_of_two()
            .clamp(1, 64)
    );
}
