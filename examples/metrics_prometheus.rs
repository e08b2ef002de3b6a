//! A token manager's metrics in the Prometheus text format, with no network and no
//! credentials.
//!
//! Run: `cargo run --example metrics_prometheus` (reads no environment variables)
//!
//! An authorization server runs inside this process on 127.0.0.1. The example installs the
//! Prometheus recorder of `metrics-exporter-prometheus` (rendering only: no HTTP listener),
//! then drives a manager through the events an operator watches — a transient failure
//! and its retry, cache hits, a client the server refuses, an API that rejects a revoked
//! token (the middleware renews and retries) — and prints what a scrape would see.
//!
//! In a service, serve `handle.render()` from your own `/metrics` route (or enable the
//! exporter's `http-listener` feature), and call `TokenManager::flush_metrics` before
//! rendering for exact cache-hit figures. docs/observability.md lists every metric.

#![deny(warnings)]

use std::time::Duration;

use grantkit::middleware::{AuthMiddleware, reqwest, reqwest_middleware};
use grantkit::{ClientCredentials, TokenManager, policy::RetryPolicy};
use grantkit_testkit::server::{Fault, TestServer};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Durations as Prometheus histograms (aggregatable across a fleet) rather than the
    // exporter's default summaries; unit suffixes (`_seconds`) from `describe()`.
    let handle = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets_for_metric(
            Matcher::Suffix("duration".to_owned()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )?
        .install_recorder()?;
    grantkit::metrics::describe();

    let server = TestServer::start().await;
    println!("authorization server on {}", server.token_url());
    let retry = RetryPolicy::default().with_initial_backoff(Duration::from_millis(10));

    println!("1. the first token request meets a 503, the retry succeeds");
    server.push_fault(Fault::Html(503));
    let manager = TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .retry(retry.clone())
        .build()?;
    manager.token().await?;

    println!("2. a thousand calls answered from memory");
    for _ in 0..1000 {
        manager.token().await?;
    }

    println!("3. a client with the wrong secret is refused");
    let refused = TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            "not-the-secret",
        ))
        .retry(retry)
        .build()?;
    let error = refused
        .token()
        .await
        .err()
        .ok_or("the wrong secret was accepted")?;
    println!("   {error}");

    println!("4. the API rejects a revoked token: the middleware renews and retries once");
    let host = server.url().trim_start_matches("http://").to_owned();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(manager.clone(), [host]))
        .build();
    server.revoke_all();
    let status = client.get(server.api_url()).send().await?.status();
    println!("   API answered {status}");

    // Hand the hits counted per thread to the recorder, then render what a scrape sees.
    manager.flush_metrics();
    println!("\n--- Prometheus text format ---");
    print!("{}", handle.render());
    Ok(())
}
