//! A grant grantkit does not ship, written outside the library: RFC 8693 token exchange.
//!
//! A service holding one token (the *subject token*, e.g. the token a user's request came
//! in with) trades it at the authorization server for a token meant for another audience.
//! Implementing [`grantkit::grant::Grant`] takes two methods: `fetch_token` builds the request
//! with [`grantkit::grant::TokenRequest`] and hands it to [`grantkit::grant::GrantContext::exchange`]
//! (which checks the URL and parses any token response), and `identity` says, without a
//! secret, which tokens this grant obtains. A [`grantkit::TokenManager`] then adds caching,
//! single flight, refresh-ahead and retries, as for the built-in grants.
//!
//! Run against an authorization server that supports token exchange:
//!
//! ```text
//! OAUTH_TOKEN_URL=https://sts.example.com/oauth/token OAUTH_CLIENT_ID=… \
//!     OAUTH_CLIENT_SECRET=… OAUTH_SUBJECT_TOKEN=… OAUTH_AUDIENCE=https://api.example.com \
//!     cargo run --example custom_grant
//! ```
//!
//! or, with no network and no credentials:
//!
//! ```text
//! cargo run --example custom_grant -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real server only): `OAUTH_TOKEN_URL`, `OAUTH_CLIENT_ID`,
//! `OAUTH_CLIENT_SECRET`, `OAUTH_SUBJECT_TOKEN` (required); `OAUTH_AUDIENCE`, `OAUTH_SCOPE`
//! (optional).
//!
//! **The `--local` stand-in.** grantkit's test server does not speak token exchange, and
//! sending `grant_type=client_credentials` to it would only pretend. So in `--local` mode
//! the manager gets a custom [`grantkit::transport::HttpClient`] — `StandInServer` below — that
//! answers token-exchange requests in memory, the way an RFC 8693 server would: it checks
//! the client's HTTP Basic credentials, the grant type, the subject token and its type,
//! prints the request it received (secrets redacted), and issues a short-lived token. It
//! is a stand-in for a server, clearly not one; the grant code is the same in both modes.
//! The same `HttpClient` seam is how grantkit runs on another HTTP stack.
//!
//! Tokens and secrets are never printed: only lifetimes, fingerprints and counts.

#![deny(warnings)]

use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use grantkit::{
    ClientSecret, Token, TokenManager,
    grant::{Grant, GrantContext, GrantIdentity, TokenRequest, async_trait},
    secret::AccessToken,
    transport::{HttpClient, HttpRequest, HttpResponse},
};
use sha2::{Digest, Sha256};

mod support;
use support::{exit, local_mode, optional_env, require_env};

const EXAMPLE: &str = "custom_grant";

/// The RFC 8693 grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an OAuth 2.0 access token (RFC 8693 §3).
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

// ---- the grant ----------------------------------------------------------------------

/// RFC 8693 token exchange of a fixed subject token, the client authenticating with HTTP
/// Basic.
#[derive(Clone)]
struct TokenExchange {
    token_url: String,
    client_id: String,
    client_secret: ClientSecret,
    subject_token: AccessToken,
    audience: Option<String>,
    scope: Option<String>,
}

impl TokenExchange {
    fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
        subject_token: impl Into<AccessToken>,
    ) -> Self {
        TokenExchange {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            subject_token: subject_token.into(),
            audience: None,
            scope: None,
        }
    }

    /// The service the new token is for.
    fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The scope asked for.
    fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

#[async_trait]
impl Grant for TokenExchange {
    /// One attempt; the manager retries retryable failures (connect errors, 5xx, 429).
    async fn fetch_token(&self, cx: &GrantContext) -> grantkit::Result<Token> {
        let mut params = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", self.subject_token.secret()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
        ];
        if let Some(audience) = &self.audience {
            params.push(("audience", audience));
        }
        if let Some(scope) = &self.scope {
            params.push(("scope", scope));
        }
        let request = TokenRequest::post(&self.token_url)
            .basic_auth(&self.client_id, &self.client_secret)
            .form(params)
            .build()?;
        // Checks the URL policy, sends, and parses the answer (RFC 6749 §5.1 / §5.2).
        cx.exchange(request).await
    }

    /// Secret-free, yet different for every subject token: two subjects must not share a
    /// cached token, so the subject appears as a SHA-256 fingerprint.
    fn identity(&self) -> GrantIdentity {
        let mut identity = GrantIdentity::new("token_exchange", &self.token_url)
            .with_client_id(&self.client_id)
            .with_param(
                "subject_token_sha256",
                fingerprint(self.subject_token.secret()),
            );
        if let Some(audience) = &self.audience {
            identity = identity.with_audience(audience);
        }
        if let Some(scope) = &self.scope {
            identity = identity.with_scope(scope);
        }
        identity
    }
}

/// Written by hand so that no secret can reach a log (`ClientSecret` and `AccessToken`
/// would print `[redacted]` anyway).
impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
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
    const TOKEN_URL: &str = "https://sts.example.com/oauth/token";
    const SUBJECT_TOKEN: &str = "subject-token-of-the-incoming-request";
    let stand_in = Arc::new(StandInServer::new(
        "gateway",
        "gateway-secret",
        SUBJECT_TOKEN,
    ));
    println!("token endpoint {TOKEN_URL}, answered in memory by a stand-in (no network)");

    let grant = TokenExchange::new(TOKEN_URL, "gateway", "gateway-secret", SUBJECT_TOKEN)
        .audience("https://orders.example.com")
        .scope("orders:read");
    println!(
        "grant identity (the cache key): {}",
        grant.identity().cache_key()
    );
    let manager = TokenManager::builder()
        .grant(grant)
        .http_client(Arc::clone(&stand_in))
        .build()?;

    println!("\n1. the first token() exchanges the subject token");
    let token = manager.token().await?;
    println!(
        "   got: {} token, {} s lifetime, scope {:?}, issued_token_type {}",
        token.token_type(),
        token.lifetime().as_secs(),
        token.scope().unwrap_or("(none)"),
        token
            .extra()
            .get("issued_token_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(absent)")
    );

    println!("\n2. the next hundred come from the cache");
    for _ in 0..100 {
        manager.token().await?;
    }
    println!(
        "   exchanges at the stand-in: {}, cache hits: {}",
        stand_in.requests(),
        manager.stats().cache_hits
    );

    println!("\n3. a subject token the server does not know: a typed OAuth error, not retried");
    let unknown = TokenExchange::new(TOKEN_URL, "gateway", "gateway-secret", "forged-token")
        .audience("https://orders.example.com");
    let refused = TokenManager::builder()
        .grant(unknown)
        .http_client(Arc::clone(&stand_in))
        .build()?;
    match refused.token().await {
        Ok(_) => return Err("the stand-in should have refused an unknown subject token".into()),
        Err(e) => println!(
            "   refused: invalid_grant = {}, error = {:?}; {}",
            e.is_invalid_grant(),
            e.oauth_error().map(|o| o.error.as_str()),
            e
        ),
    }
    println!("\nexchanges at the stand-in: {}", stand_in.requests());
    Ok(())
}

async fn run_real() -> Result<(), Box<dyn Error>> {
    let [token_url, client_id, client_secret, subject_token] = require_env(
        EXAMPLE,
        [
            "OAUTH_TOKEN_URL",
            "OAUTH_CLIENT_ID",
            "OAUTH_CLIENT_SECRET",
            "OAUTH_SUBJECT_TOKEN",
        ],
    )?;
    let mut grant = TokenExchange::new(token_url, client_id, client_secret, subject_token);
    if let Some(audience) = optional_env("OAUTH_AUDIENCE") {
        grant = grant.audience(audience);
    }
    if let Some(scope) = optional_env("OAUTH_SCOPE") {
        grant = grant.scope(scope);
    }
    let manager = TokenManager::builder().grant(grant).build()?;
    let token = manager.token().await?;
    println!(
        "exchanged: {} token, {} s lifetime, scope {:?}",
        token.token_type(),
        token.lifetime().as_secs(),
        token.scope().unwrap_or("(none)")
    );
    Ok(())
}

// ---- the stand-in server (--local only) ---------------------------------------------

/// An [`HttpClient`] that answers RFC 8693 requests in memory instead of sending them:
/// a stand-in for an authorization server, for running this example offline.
struct StandInServer {
    client_id: String,
    client_secret: String,
    subject_token: String,
    requests: AtomicUsize,
}

impl StandInServer {
    fn new(client_id: &str, client_secret: &str, subject_token: &str) -> Self {
        StandInServer {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            subject_token: subject_token.to_owned(),
            requests: AtomicUsize::new(0),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Prints the request as received, secrets redacted.
    fn print_request(request: &HttpRequest, client: Option<&(String, String)>) {
        println!(
            "   [stand-in server] {} {}",
            request.method(),
            request.uri().path()
        );
        for (name, value) in request.headers() {
            let shown = match (name.as_str(), client) {
                ("authorization", Some((id, _))) => format!("Basic [redacted] (client {id})"),
                ("authorization", None) => "[redacted]".to_owned(),
                _ => value.to_str().unwrap_or("?").to_owned(),
            };
            println!("   [stand-in server]   {name}: {shown}");
        }
        for (name, value) in url::form_urlencoded::parse(request.body()) {
            let shown = match name.as_ref() {
                "subject_token" | "actor_token" => {
                    format!("[redacted, sha256 {}]", fingerprint(&value))
                }
                _ => value.into_owned(),
            };
            println!("   [stand-in server]   {name}={shown}");
        }
    }

    /// The client id and secret of an RFC 6749 §2.3.1 Basic header.
    fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
        let header = request.headers().get(http::header::AUTHORIZATION)?;
        let encoded = header.to_str().ok()?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((unescape(id)?, unescape(secret)?))
    }

    fn answer(&self, request: &HttpRequest) -> (u16, serde_json::Value) {
        let client = Self::basic_credentials(request);
        Self::print_request(request, client.as_ref());
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(request.body())
                .into_owned()
                .collect();
        let param = |k: &str| params.get(k).map(String::as_str);
        let error = |status, code, description| {
            (
                status,
                serde_json::json!({"error": code, "error_description": description}),
            )
        };
        if client != Some((self.client_id.clone(), self.client_secret.clone())) {
            return error(401, "invalid_client", "client authentication failed");
        }
        if param("grant_type") != Some(TOKEN_EXCHANGE) {
            return error(400, "unsupported_grant_type", "only token exchange here");
        }
        if param("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
            return error(400, "invalid_request", "unsupported subject_token_type");
        }
        if param("subject_token") != Some(self.subject_token.as_str()) {
            return error(400, "invalid_grant", "the subject token is not valid");
        }
        let n = self.requests();
        let mut body = serde_json::json!({
            "access_token": format!("exchanged-{n}"),
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 300,
        });
        if let (Some(scope), Some(object)) = (param("scope"), body.as_object_mut()) {
            object.insert("scope".into(), scope.into());
        }
        (200, body)
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
            .field("client_id", &self.client_id)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}
