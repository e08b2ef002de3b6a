//! The resource-owner password grant with a JSON body, renewed through its refresh token
//! rather than by logging in again.
//!
//! Run against your authorization server:
//!
//! ```text
//! OAUTH_TOKEN_URL=https://legacy.example.com/oauth/token OAUTH_CLIENT_ID=… \
//!     OAUTH_CLIENT_SECRET=… OAUTH_USERNAME=… OAUTH_PASSWORD=… \
//!     cargo run --example password_grant
//! ```
//!
//! or, with no network and no credentials, against grantkit's in-process test server:
//!
//! ```text
//! cargo run --example password_grant -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real server only, all required): `OAUTH_TOKEN_URL`, `OAUTH_CLIENT_ID`,
//! `OAUTH_CLIENT_SECRET`, `OAUTH_USERNAME`, `OAUTH_PASSWORD`.
//!
//! `PasswordGrant::new(url, ClientOptions::json(id, secret), username, password)` sends
//! `{"username":…,"password":…,"client_secret":…,"client_id":…,"grant_type":"password"}`.
//! The server's answer usually carries a `refresh_token`; wrapped by `.with_refresh()`,
//! the next renewal redeems it (`grant_type=refresh_token`) and logs in with the password again only if the server
//! refuses it. In `--local` mode tokens live 2 seconds, so within a few seconds of calls
//! you see one password login and several refresh-token renewals, counted by the server.
//!
//! Tokens, passwords and secrets are never printed: only lifetimes and counts.

#![deny(warnings)]

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use grantkit::{ClientGrant, ClientOptions, PasswordGrant, Token, TokenManager};
use grantkit_testkit::server::TestServer;

mod support;
use support::{exit, local_mode, require_env};

const EXAMPLE: &str = "password_grant";

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
    server.set_lifetime(Duration::from_secs(2));
    println!(
        "test server on {} (user {}, 2 s tokens with refresh tokens)",
        server.url(),
        TestServer::USERNAME
    );

    let grant = PasswordGrant::new(
        server.token_url(),
        ClientOptions::json(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET),
        TestServer::USERNAME,
        TestServer::PASSWORD,
    );
    let manager = manager(grant)?;

    println!("\ncalls every 200 ms for 4.5 s");
    let mut current: Option<Token> = None;
    let mut distinct = 0;
    let until = Instant::now() + Duration::from_millis(4500);
    while Instant::now() < until {
        let token = manager.token().await?;
        if !current
            .as_ref()
            .is_some_and(|c| c.same_access_token(&token))
        {
            distinct += 1;
            current = Some(token);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    if let Some(first) = server.requests().first() {
        let fields: Vec<&str> = first.params.keys().map(String::as_str).collect();
        println!(
            "\nthe login request: {} {{{}}}",
            first.content_type.as_deref().unwrap_or("?"),
            fields.join(", ")
        );
    }
    if let Some(token) = &current {
        print_header_shape(token);
    }
    println!("\ntokens used by the caller: {distinct}");
    println!(
        "password logins:           {}",
        server.requests_for("password")
    );
    println!(
        "refresh-token renewals:    {}",
        server.requests_for("refresh_token")
    );
    println!("cache hits:                {}", manager.stats().cache_hits);
    if server.requests_for("password") != 1 || server.requests_for("refresh_token") == 0 {
        return Err("expected one password login and at least one refresh-token renewal".into());
    }
    Ok(())
}

async fn run_real() -> Result<(), Box<dyn Error>> {
    let [token_url, client_id, client_secret, username, password] = require_env(
        EXAMPLE,
        [
            "OAUTH_TOKEN_URL",
            "OAUTH_CLIENT_ID",
            "OAUTH_CLIENT_SECRET",
            "OAUTH_USERNAME",
            "OAUTH_PASSWORD",
        ],
    )?;
    let grant = PasswordGrant::new(
        token_url,
        ClientOptions::json(client_id, client_secret),
        username,
        password,
    );
    let manager = manager(grant)?;
    let token = manager.token().await?;
    print_header_shape(&token);
    Ok(())
}

fn manager(grant: PasswordGrant) -> grantkit::Result<TokenManager> {
    TokenManager::builder()
        .grant(grant.with_refresh())
        .refresh_before(Duration::from_secs(60)) // at most half the lifetime: ~1 s here
        .on_token(|token| {
            println!(
                "  -> new token ({} s lifetime, refresh token: {})",
                token.lifetime().as_secs(),
                if token.refresh_token().is_some() {
                    "yes"
                } else {
                    "no"
                }
            )
        })
        .build()
}

/// `Authorization` is `token_type + " " + access_token`; show its shape, not its value.
fn print_header_shape(token: &Token) {
    println!(
        "Authorization: {} <access token, {} characters>",
        token.token_type(),
        token.access_token().secret().len()
    );
}
