//! 24SevenOffice: a `reqwest` client that authenticates every API call by itself, and
//! renews and retries once when the API answers 403 to a token it no longer accepts.
//!
//! Run against the real API, with the credentials of an OAuth2 application connected to
//! the organization:
//!
//! ```text
//! TSO_CLIENT_ID=… TSO_CLIENT_SECRET=… TSO_LOGIN_ORGANIZATION=… \
//!     cargo run --example twenty_four_seven_office
//! ```
//!
//! or, with no network and no credentials, against grantkit's in-process test server:
//!
//! ```text
//! cargo run --example twenty_four_seven_office -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real API only):
//! - `TSO_CLIENT_ID`, `TSO_CLIENT_SECRET`: the application's credentials (required);
//! - `TSO_LOGIN_ORGANIZATION`: the organization id to log in to (required);
//! - `TSO_API_URL`: the resource to GET (default
//!   `https://rest.api.24sevenoffice.com/v1/organization/information`).
//!
//! `presets::twenty_four_seven_office` sends the vendor's JSON client-credentials request
//! (with its API's `audience` and the `login_organization`) and renews 60 s before expiry;
//! `presets::twenty_four_seven_office::REJECTED_STATUSES` tells the middleware that 401
//! **and 403** mean "token rejected". 24SevenOffice's guide
//! asks every integrator to hand-write "on 403, get a new token and retry once";
//! `grantkit::middleware::AuthMiddleware` does it. In `--local` mode the test server's
//! `/api/resource` answers 403 to unknown or expired tokens, like 24SevenOffice's API, and
//! revokes every token half-way through to show that one retry.
//!
//! Tokens are never printed: only counts, statuses and lifetimes.

#![deny(warnings)]

use std::error::Error;
use std::process::ExitCode;

use grantkit::middleware::AuthMiddleware;
use grantkit::{
    TokenManager, presets,
    time::{Clock, SystemClock},
};
use grantkit_testkit::server::TestServer;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

mod support;
use support::{exit, local_mode, require_env};

const EXAMPLE: &str = "twenty_four_seven_office";
const DEFAULT_API_URL: &str = "https://rest.api.24sevenoffice.com/v1/organization/information";

#[tokio::main]
async fn main() -> ExitCode {
    let result = if local_mode() {
        run_local().await
    } else {
        run_real().await
    };
    exit(result)
}

/// Against the in-process test server: its token endpoint, and its API answering 403.
async fn run_local() -> Result<(), Box<dyn Error>> {
    let server = TestServer::start().await;
    server.configure(|c| c.api_reject_status = 403);
    println!(
        "test server on {} (its API answers 403 to unknown or expired tokens, like 24SevenOffice's)",
        server.url()
    );

    // The preset with the test server's client, aimed at the test server's token endpoint.
    let manager = presets::TwentyFourSevenOffice::new(
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
        "123456",
    )
    .token_url(server.token_url())
    .builder()
    .build()?;
    println!(
        "rejected statuses: {:?}",
        presets::twenty_four_seven_office::REJECTED_STATUSES
    );
    let client = api_client(&manager, "127.0.0.1")?;
    let api = server.api_url();

    println!("\n1. three API calls: one token request, then the cached token");
    for _ in 0..3 {
        get(&client, &api).await?;
    }
    if let Some(request) = server.requests().first() {
        let fields: Vec<&str> = request.params.keys().map(String::as_str).collect();
        println!(
            "   the token request: {} {{{}}}",
            request.content_type.as_deref().unwrap_or("?"),
            fields.join(", ")
        );
    }
    println!(
        "   token requests: {}, API requests: {}",
        server.token_requests(),
        server.api_requests()
    );

    println!("\n2. the server revokes every token: the next call gets 403, a new token, one retry");
    server.revoke_all();
    let (tokens_before, api_before) = (server.token_requests(), server.api_requests());
    get(&client, &api).await?;
    println!(
        "   token requests: {} (+{}), API requests: {} (+{}: the 403 and the retry)",
        server.token_requests(),
        server.token_requests() - tokens_before,
        server.api_requests(),
        server.api_requests() - api_before
    );

    println!("\n3. and the new token is cached again");
    get(&client, &api).await?;
    println!(
        "   token requests: {}, API requests: {}",
        server.token_requests(),
        server.api_requests()
    );
    print_token(&manager);
    Ok(())
}

/// Against 24SevenOffice, with credentials from the environment.
async fn run_real() -> Result<(), Box<dyn Error>> {
    let [client_id, client_secret, organization] = require_env(
        EXAMPLE,
        [
            "TSO_CLIENT_ID",
            "TSO_CLIENT_SECRET",
            "TSO_LOGIN_ORGANIZATION",
        ],
    )?;
    let api = std::env::var("TSO_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.to_owned());
    let host = url::Url::parse(&api)?
        .host_str()
        .ok_or("TSO_API_URL has no host")?
        .to_owned();

    let manager = presets::twenty_four_seven_office(client_id, client_secret, organization)
        // .store(grantkit::store::FileStore::in_cache_dir()?) would share the token between runs.
        .build()?;
    let client = api_client(&manager, &host)?;
    get(&client, &api).await?;
    print_token(&manager);
    Ok(())
}

/// A `reqwest` client whose requests to `host` carry a token from `manager`.
fn api_client(manager: &TokenManager, host: &str) -> Result<ClientWithMiddleware, Box<dyn Error>> {
    let http = reqwest::Client::builder().build()?;
    Ok(ClientBuilder::new(http)
        .with(
            AuthMiddleware::new(manager.clone(), [host])
                .rejected_statuses(presets::twenty_four_seven_office::REJECTED_STATUSES),
        )
        .build())
}

async fn get(client: &ClientWithMiddleware, url: &str) -> Result<(), Box<dyn Error>> {
    let response = client.get(url).send().await?;
    let status = response.status();
    println!("   GET {url} -> {status}");
    if !status.is_success() {
        return Err(format!("the API answered {status}").into());
    }
    Ok(())
}

fn print_token(manager: &TokenManager) {
    if let Some(token) = manager.cached() {
        println!(
            "\ntoken: {}, lifetime {} s, expires in {} s; fetched {} time(s), {} cache hit(s)",
            token.token_type(),
            token.lifetime().as_secs(),
            token.remaining(SystemClock::new().now()).as_secs(),
            manager.stats().tokens_fetched,
            manager.stats().cache_hits,
        );
    }
}
