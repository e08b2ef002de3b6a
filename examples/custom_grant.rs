//! A grant grantkit does not ship, written outside the library: IBM Cloud IAM's API-key
//! grant.
//!
//! IBM Cloud trades an API key for an access token with a grant type of its own
//! (`urn:ibm:params:oauth:grant-type:apikey`), no client authentication, and error bodies
//! that are JSON but not RFC 6749's (`{"errorCode":"BXNIM0415E","errorMessage":…}`).
//! Implementing [`grantkit::grant::Grant`] takes two methods, built only from grantkit's
//! public API: `fetch_token` builds the request with
//! [`grantkit::ClientOptions::token_request`] (so the grant speaks every client
//! authentication and body format grantkit does, should a server want one) and hands it to
//! [`grantkit::grant::GrantContext::exchange`] (which checks the URL and parses any token
//! response); `identity` says, without a secret, which tokens this grant obtains.
//! Implementing [`grantkit::ClientGrant`] (three accessors) gives it every client setter.
//! A [`grantkit::TokenManager`] then adds caching, single flight, refresh-ahead and
//! retries, as for the built-in grants. (Token exchange, RFC 8693, which this example
//! used to write by hand, is built in now: `grantkit::TokenExchange`.)
//!
//! Run against IBM Cloud:
//!
//! ```text
//! IBM_CLOUD_API_KEY=… cargo run --example custom_grant
//! ```
//!
//! or, with no network and no credentials:
//!
//! ```text
//! cargo run --example custom_grant -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real server only): `IBM_CLOUD_API_KEY` (required), `IBM_IAM_TOKEN_URL`
//! (optional; default `https://iam.cloud.ibm.com/identity/token`).
//!
//! **The `--local` stand-in.** grantkit's test server does not speak IBM's grant, and
//! sending `grant_type=client_credentials` to it would only pretend. So in `--local` mode
//! the manager gets a custom [`grantkit::transport::HttpClient`] — `StandInServer` below — that
//! answers API-key requests in memory, the way IBM's IAM does: it checks the grant type
//! and the API key, prints the request it received (secrets redacted), and issues a token
//! or IBM's error body. It is a stand-in for a server, clearly not one; the grant code is
//! the same in both modes. The same `HttpClient` seam is how grantkit runs on another HTTP
//! stack.
//!
//! Secrets and tokens are never printed: only lifetimes, fingerprints and counts.

#![deny(warnings)]

use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grantkit::{
    ClientGrant, ClientOptions, ClientSecret, Token, TokenManager,
    grant::{Grant, GrantContext, GrantIdentity, async_trait},
    secret::SecretSource,
    transport::{HttpClient, HttpRequest, HttpResponse},
};
use sha2::{Digest, Sha256};

mod support;
use support::{exit, local_mode, optional_env, require_env};

const EXAMPLE: &str = "custom_grant";

/// IBM Cloud IAM's grant type.
const API_KEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// IBM Cloud IAM's token endpoint.
const IAM_TOKEN_URL: &str = "https://iam.cloud.ibm.com/identity/token";

// ---- the grant ----------------------------------------------------------------------

/// IBM Cloud IAM's API-key grant: `grant_type=urn:ibm:params:oauth:grant-type:apikey`
/// and `apikey=…`, no client by default.
#[derive(Clone)]
struct IbmApiKey {
    token_url: String,
    options: ClientOptions,
    /// A value, or a file or function read at each renewal (a rotated key).
    api_key: SecretSource<ClientSecret>,
}

impl IbmApiKey {
    fn new(token_url: impl Into<String>, api_key: impl Into<SecretSource<ClientSecret>>) -> Self {
        IbmApiKey {
            token_url: token_url.into(),
            // IAM authenticates the key alone: no client id, no client secret.
            options: ClientOptions::default(),
            api_key: api_key.into(),
        }
    }
}

/// Three accessors, and the grant has every setter of `ClientGrant` (scope, client_auth,
/// param, …).
impl ClientGrant for IbmApiKey {
    fn token_url(&self) -> &str {
        &self.token_url
    }

    fn client_options(&self) -> &ClientOptions {
        &self.options
    }

    fn client_options_mut(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

#[async_trait]
impl Grant for IbmApiKey {
    /// One attempt; the manager retries retryable failures (connect errors, 5xx, 429).
    async fn fetch_token(&self, cx: &GrantContext) -> grantkit::Result<Token> {
        // The names this grant sets itself cannot be given as extra parameters.
        self.options
            .validate_params(&["grant_type", "scope", "apikey"])?;
        let api_key = self.api_key.resolve()?; // read now: a rotated key is picked up
        let request = self.options.token_request(
            &self.token_url,
            API_KEY_GRANT,
            &[("apikey", api_key.secret())],
            cx.now(),
        )?;
        // Checks the URL policy, sends, and parses the answer (RFC 6749 §5.1 / §5.2, or
        // another JSON error body kept as a short excerpt).
        cx.exchange(request).await
    }

    /// Secret-free, yet different for every key: two keys must not share a cached token,
    /// so an inline key appears as a SHA-256 fingerprint (a file as its path).
    fn identity(&self) -> GrantIdentity {
        let identity = self
            .options
            .identify(GrantIdentity::new("ibm_api_key", &self.token_url));
        match (self.api_key.inline(), self.api_key.path()) {
            (Some(key), _) => identity.with_secret_param("apikey", key.secret()),
            (None, Some(path)) => identity.with_param("apikey_file", path.display().to_string()),
            (None, None) => identity.with_param("apikey_source", "fn"),
        }
    }
}

/// Written by hand so that no secret can reach a log (`SecretSource` prints
/// `ClientSecret([redacted])` anyway).
impl fmt::Debug for IbmApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IbmApiKey")
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("api_key", &self.api_key)
            .finish()
    }
}

/// The first 16 hex digits of the SHA-256 of `secret`: tells secrets apart without
/// revealing them.
fn fingerprint(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- the program --------------------------------------------------------------------

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
    const API_KEY: &str = "ibm-api-key-of-the-service-id";
    let stand_in = Arc::new(StandInServer::new(API_KEY));
    println!("token endpoint {IAM_TOKEN_URL}, answered in memory by a stand-in (no network)");

    let grant = IbmApiKey::new(IAM_TOKEN_URL, API_KEY);
    println!(
        "grant identity (the cache key): {}",
        grant.identity().cache_key()
    );
    let manager = TokenManager::builder()
        .grant(grant)
        .http_client(Arc::clone(&stand_in))
        .build()?;

    println!("\n1. the first token() trades the API key");
    let token = manager.token().await?;
    println!(
        "   got: {} token, {} s lifetime, scope {:?}, refresh token kept: {}",
        token.token_type(),
        token.lifetime().as_secs(),
        token.scope().unwrap_or("(none)"),
        token.refresh_token().is_some()
    );

    println!("\n2. the next hundred come from the cache");
    for _ in 0..100 {
        manager.token().await?;
    }
    println!(
        "   requests at the stand-in: {}, cache hits: {}",
        stand_in.requests(),
        manager.stats().cache_hits
    );

    println!("\n3. an unknown API key: IBM's own error body, a typed error, not retried");
    let refused = TokenManager::builder()
        .grant(IbmApiKey::new(IAM_TOKEN_URL, "revoked-api-key"))
        .http_client(Arc::clone(&stand_in))
        .build()?;
    match refused.token().await {
        Ok(_) => return Err("the stand-in should have refused an unknown API key".into()),
        Err(e) => println!(
            "   refused: kind {:?}, status {:?}, retryable {}; {}",
            e.kind(),
            e.status(),
            e.is_retryable(),
            e
        ),
    }
    println!("\nrequests at the stand-in: {}", stand_in.requests());
    Ok(())
}

async fn run_real() -> Result<(), Box<dyn Error>> {
    let [api_key] = require_env(EXAMPLE, ["IBM_CLOUD_API_KEY"])?;
    let token_url = optional_env("IBM_IAM_TOKEN_URL").unwrap_or_else(|| IAM_TOKEN_URL.to_owned());
    let manager = TokenManager::builder()
        .grant(IbmApiKey::new(token_url, api_key))
        .build()?;
    let token = manager.token().await?;
    println!(
        "got: {} token, {} s lifetime, scope {:?}",
        token.token_type(),
        token.lifetime().as_secs(),
        token.scope().unwrap_or("(none)")
    );
    Ok(())
}

// ---- the stand-in server (--local only) ---------------------------------------------

/// An [`HttpClient`] that answers IBM IAM API-key requests in memory instead of sending
/// them: a stand-in for the server, for running this example offline.
struct StandInServer {
    api_key: String,
    requests: AtomicUsize,
}

impl StandInServer {
    fn new(api_key: &str) -> Self {
        StandInServer {
            api_key: api_key.to_owned(),
            requests: AtomicUsize::new(0),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Prints the request as received, secrets redacted.
    fn print_request(request: &HttpRequest) {
        println!(
            "   [stand-in server] {} {}",
            request.method(),
            request.uri().path()
        );
        for (name, value) in request.headers() {
            let shown = match name.as_str() {
                "authorization" => "[redacted]".to_owned(),
                _ => value.to_str().unwrap_or("?").to_owned(),
            };
            println!("   [stand-in server]   {name}: {shown}");
        }
        for (name, value) in url::form_urlencoded::parse(request.body()) {
            let shown = match name.as_ref() {
                "apikey" => format!("[redacted, sha256 {}]", fingerprint(&value)),
                _ => value.into_owned(),
            };
            println!("   [stand-in server]   {name}={shown}");
        }
    }

    fn answer(&self, request: &HttpRequest) -> (u16, serde_json::Value) {
        Self::print_request(request);
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(request.body())
                .into_owned()
                .collect();
        let param = |k: &str| params.get(k).map(String::as_str);
        // IBM's error shape: JSON, but not RFC 6749's `error` / `error_description`.
        let error = |status, code, message| {
            (
                status,
                serde_json::json!({"errorCode": code, "errorMessage": message}),
            )
        };
        if param("grant_type") != Some(API_KEY_GRANT) {
            return error(400, "BXNIM0104E", "Unsupported grant type.");
        }
        if param("apikey") != Some(self.api_key.as_str()) {
            return error(400, "BXNIM0415E", "Provided API key could not be found.");
        }
        let n = self.requests();
        (
            200,
            serde_json::json!({
                "access_token": format!("iam-token-{n}"),
                "refresh_token": "not-supported",
                "token_type": "Bearer",
                "expires_in": 3600,
                "expiration": 1_893_459_600,
                "scope": "ibm openid",
            }),
        )
    }
}

#[async_trait]
impl HttpClient for StandInServer {
    async fn execute(&self, request: HttpRequest) -> grantkit::Result<HttpResponse> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let (status, body) = self.answer(&request);
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|_| grantkit::Error::invalid_response("the stand-in built a bad response"))
    }
}

impl fmt::Debug for StandInServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandInServer")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}
