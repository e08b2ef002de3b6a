//! Disruptive Technologies: a service account's HS256 JWT-bearer flow, renewed a minute
//! before expiry, printing "Token expires in …s" like the vendor's own refresh guide.
//!
//! Run against the real identity server and REST API:
//!
//! ```text
//! DT_SERVICE_ACCOUNT_KEY_ID=… DT_SERVICE_ACCOUNT_EMAIL=… DT_SERVICE_ACCOUNT_SECRET=… \
//!     cargo run --example disruptive_technologies
//! ```
//!
//! or, with no network and no credentials, against grantkit's in-process test server:
//!
//! ```text
//! cargo run --example disruptive_technologies -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real service only):
//! - `DT_SERVICE_ACCOUNT_KEY_ID`, `DT_SERVICE_ACCOUNT_EMAIL`, `DT_SERVICE_ACCOUNT_SECRET`:
//!   the service account's key (required), read by `presets::disruptive_technologies_from_env`;
//! - `DT_API_URL`: the resource to GET with the token (default
//!   `https://api.d21s.com/v2/projects`, the project list the vendor's guide calls).
//!
//! Each token request carries a fresh assertion: header `{"alg":"HS256","kid":key_id}`,
//! claims `iss` = the account's email, `aud` = the token URL, `iat` = now, `exp` = now + 1 h
//! (the vendor's limit: a longer lifetime is refused before any request is sent). In
//! `--local` mode the test server verifies all of that, issues 3-second tokens, and the
//! manager renews them ahead of expiry while the loop keeps asking.
//!
//! Tokens and the secret are never printed: only lifetimes and counts.

#![deny(warnings)]

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use grantkit::presets::{self, DisruptiveTechnologies};
use grantkit::{
    Token, TokenManager, TokenManagerBuilder,
    time::{Clock, SystemClock},
};
use grantkit_testkit::server::TestServer;

mod support;
use support::{exit, local_mode, require_env};

const EXAMPLE: &str = "disruptive_technologies";
const DEFAULT_API_URL: &str = "https://api.d21s.com/v2/projects";

#[tokio::main]
async fn main() -> ExitCode {
    let result = if local_mode() {
        run_local().await
    } else {
        run_real().await
    };
    exit(result)
}

async fn run_local() -> Result<(), Box<dyn Error>> {
    let server = TestServer::start().await;
    server.set_lifetime(Duration::from_secs(3));
    println!(
        "test server on {} (service account {}, 3 s tokens)",
        server.url(),
        TestServer::ISSUER
    );

    // The vendor allows at most one hour between `iat` and `exp`: caught before any request.
    let too_long = DisruptiveTechnologies::new("key-id", "svc@example.com", "secret")
        .lifetime(Duration::from_secs(2 * 3600))
        .builder();
    match too_long {
        Err(e) => println!("a 2-hour assertion is refused up front: {e}"),
        Ok(_) => return Err("a 2-hour assertion should have been refused".into()),
    }

    // The test server's service account; `token_url` aims the preset at the test
    // server, and the assertion's `aud` is that URL.
    let builder = DisruptiveTechnologies::new(
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET,
    )
    .token_url(server.token_url())
    .builder()?;
    let manager = build(builder)?;

    println!("\nasking for a token every second for 6 s");
    for _ in 0..6 {
        let token = manager.token().await?;
        print_expiry(&token);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    call_api(&manager, &server.api_url()).await?;
    println!(
        "\ntoken requests: {} (jwt-bearer), API requests: {}, cache hits: {}",
        server.requests_for(grantkit_testkit::server::JWT_BEARER),
        server.api_requests(),
        manager.stats().cache_hits
    );
    Ok(())
}

async fn run_real() -> Result<(), Box<dyn Error>> {
    require_env(
        EXAMPLE,
        [
            "DT_SERVICE_ACCOUNT_KEY_ID",
            "DT_SERVICE_ACCOUNT_EMAIL",
            "DT_SERVICE_ACCOUNT_SECRET",
        ],
    )?;
    let api = std::env::var("DT_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.to_owned());
    let manager = build(presets::disruptive_technologies_from_env()?)?;
    let token = manager.token().await?;
    print_expiry(&token);
    call_api(&manager, &api).await?;
    Ok(())
}

/// The preset's builder, plus a line for every new token.
fn build(builder: TokenManagerBuilder) -> grantkit::Result<TokenManager> {
    builder
        .on_token(|token| {
            println!(
                "  -> new access token ({} s lifetime)",
                token.lifetime().as_secs()
            )
        })
        .build()
}

fn print_expiry(token: &Token) {
    let left = token.remaining(SystemClock::new().now());
    println!("Token expires in {:.1}s", left.as_secs_f64());
}

/// A plain `reqwest` call with the token's `Authorization` header (marked sensitive).
async fn call_api(manager: &TokenManager, url: &str) -> Result<(), Box<dyn Error>> {
    let token = manager.token().await?;
    let response = reqwest::Client::builder()
        .build()?
        .get(url)
        .header(http::header::AUTHORIZATION, token.header_value()?)
        .send()
        .await?;
    let status = response.status();
    println!("GET {url} -> {status}");
    if !status.is_success() {
        return Err(format!("the API answered {status}").into());
    }
    Ok(())
}
