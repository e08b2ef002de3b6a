//! The generic client-credentials flow, configured entirely from the environment with
//! `presets::from_env()`.
//!
//! Run against your authorization server:
//!
//! ```text
//! OAUTH_TOKEN_URL=https://auth.example.com/oauth/token OAUTH_CLIENT_ID=… \
//!     OAUTH_CLIENT_SECRET=… OAUTH_SCOPE="read write" \
//!     cargo run --example client_credentials_env
//! ```
//!
//! or, with no network and no credentials, against grantkit's in-process test server:
//!
//! ```text
//! cargo run --example client_credentials_env -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real server only):
//! - `OAUTH_TOKEN_URL`, `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET` (required);
//! - `OAUTH_SCOPE` (optional, space-separated);
//! - `OAUTH_CLIENT_AUTH` (optional): `body` (default) puts the credentials in the form body,
//!   `basic` sends them as HTTP Basic client authentication (RFC 6749 §2.3.1).
//!
//! The request is `application/x-www-form-urlencoded`:
//! `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`. In `--local` mode
//! the same variables are handed to `presets::from_lookup` from a map filled with the test
//! server's values; the process environment is not touched. The example then shows both
//! client authentications as the server received them (field names only) and a burst of
//! calls answered from the cache.
//!
//! Tokens and secrets are never printed: only lifetimes, scopes and counts.

#![deny(warnings)]

use std::collections::HashMap;
use std::error::Error;
use std::process::ExitCode;

use grantkit::{TokenManager, presets};
use grantkit_testkit::server::TestServer;

mod support;
use support::{exit, local_mode, require_env};

const EXAMPLE: &str = "client_credentials_env";

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
    println!("test server on {}", server.url());

    // What you would export in a shell, kept in a map instead of the process environment.
    let mut vars = HashMap::from([
        ("OAUTH_TOKEN_URL", server.token_url()),
        ("OAUTH_CLIENT_ID", TestServer::CLIENT_ID.to_owned()),
        ("OAUTH_CLIENT_SECRET", TestServer::CLIENT_SECRET.to_owned()),
        ("OAUTH_SCOPE", "read write".to_owned()),
    ]);

    for auth in ["body", "basic"] {
        vars.insert("OAUTH_CLIENT_AUTH", auth.to_owned());
        println!("\nOAUTH_CLIENT_AUTH={auth}");
        let manager = presets::from_lookup(|name| vars.get(name).cloned())?.build()?;
        print_token(&manager).await?;
        if let Some(request) = server.requests().last() {
            let fields: Vec<&str> = request.params.keys().map(String::as_str).collect();
            let basic = request
                .authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Basic "));
            println!(
                "   the server received: {} {{{}}}{}",
                request.content_type.as_deref().unwrap_or("?"),
                fields.join(", "),
                if basic {
                    " + Authorization: Basic …"
                } else {
                    ""
                }
            );
        }
        for _ in 0..10_000 {
            manager.token().await?;
        }
        println!(
            "   10000 more calls: {} cache hits, still {} token request(s) for this manager",
            manager.stats().cache_hits,
            manager.stats().token_requests
        );
    }
    println!(
        "\ntoken requests at the server: {}",
        server.token_requests()
    );
    Ok(())
}

async fn run_real() -> Result<(), Box<dyn Error>> {
    // Checked here only to name every missing variable at once; `from_env` reads them.
    require_env(
        EXAMPLE,
        ["OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"],
    )?;
    let manager = presets::from_env()?.build()?;
    print_token(&manager).await?;
    Ok(())
}

async fn print_token(manager: &TokenManager) -> grantkit::Result<()> {
    let token = manager.token().await?;
    println!(
        "   token: {} type, {} s lifetime, scope {:?}",
        token.token_type(),
        token.lifetime().as_secs(),
        token.scope().unwrap_or("(none)")
    );
    Ok(())
}
