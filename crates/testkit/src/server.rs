//! An in-process OAuth2 authorization server for tests, examples and benchmarks.
//!
//! It speaks every flow grantkit supports, with JSON or form bodies and Basic or body client
//! authentication: `client_credentials`, `password`, `refresh_token` (with rotation) and
//! the RFC 7523 JWT bearer grant (HS256, verified). It counts requests per grant type,
//! issues tokens with a configurable lifetime, injects faults on demand, and serves a
//! protected API that accepts only its own unexpired tokens.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use grantkit_testkit::server::{Fault, TestServer};
//!
//! let server = TestServer::start().await;
//! server.set_lifetime(Duration::from_secs(2));
//! server.push_fault(Fault::Status(503)); // the next token request fails
//! println!("token endpoint: {}", server.token_url());
//! assert_eq!(server.token_requests(), 0);
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use grantkit_core::{Clock, SystemClock};
use serde_json::{Map, Value, json};

/// The JWT-bearer grant type URI.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How the server states a token's lifetime in its responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiresIn {
    /// `"expires_in": 3600`
    Number,
    /// `"expires_in": "3600"`
    String,
    /// No `expires_in`; the access token is a JWT whose `exp` claim says it.
    JwtOnly,
    /// No `expires_in` and an opaque token: the client must assume a default.
    Absent,
}

/// A fault to inject into the next token request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status with an empty body.
    Status(u16),
    /// Answer this status with this body and `Content-Type`.
    Body(u16, &'static str, String),
    /// Answer an HTML error page with this status.
    Html(u16),
    /// Answer 429 with `Retry-After: secs`.
    RetryAfter(u64),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Send the headers and half a JSON body, then close the connection.
    CloseMidBody,
    /// Answer 200 with a JSON body of this many bytes.
    Huge(usize),
    /// Issue a normal token, but with this `expires_in`.
    ExpiresIn(i64),
    /// Answer with a redirect to this URL (the client must not follow it).
    Redirect(String),
}

/// What the server knows and does; change it with [`TestServer::configure`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Registered clients: id → secret.
    pub clients: HashMap<String, String>,
    /// Resource owners for the password grant: username → password.
    pub users: HashMap<String, String>,
    /// JWT-bearer service accounts: key id → (issuer email, HS256 secret).
    pub service_accounts: HashMap<String, (String, String)>,
    /// The lifetime of issued tokens.
    pub lifetime: Duration,
    /// How the lifetime appears in responses.
    pub expires_in: ExpiresIn,
    /// Whether `refresh_token` requests return a new refresh token (and invalidate the
    /// old one).
    pub rotate_refresh_tokens: bool,
    /// Whether the client-credentials grant also returns a refresh token.
    pub refresh_tokens_for_client_credentials: bool,
    /// The status the protected API answers for a missing, unknown or expired token
    /// (401 by default; 24SevenOffice answers 403).
    pub api_reject_status: u16,
    /// The most seconds allowed between a JWT assertion's `iat` and `exp`
    /// (Disruptive Technologies allows 3600).
    pub max_assertion_lifetime_secs: i64,
    /// How long every token request takes to answer (a slow endpoint).
    pub token_delay: Duration,
    /// Whether tokens end at a whole second, as many servers do: at the current second,
    /// truncated, plus the lifetime — up to a second before `now + expires_in`. The JWT
    /// `exp` of [`ExpiresIn::JwtOnly`] tokens says so, and the protected API rejects
    /// tokens from that instant on. Off by default (tokens end exactly at
    /// `now + lifetime`).
    pub whole_second_expiry: bool,
    /// Whether token responses leave `scope` out, as RFC 6749 §5.1 allows when the granted
    /// scope is the requested one. Off by default (the requested scope is echoed).
    pub omit_scope: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            clients: HashMap::from([(
                TestServer::CLIENT_ID.into(),
                TestServer::CLIENT_SECRET.into(),
            )]),
            users: HashMap::from([(TestServer::USERNAME.into(), TestServer::PASSWORD.into())]),
            service_accounts: HashMap::from([(
                TestServer::KEY_ID.into(),
                (TestServer::ISSUER.into(), TestServer::JWT_SECRET.into()),
            )]),
            lifetime: Duration::from_secs(3600),
            expires_in: ExpiresIn::Number,
            rotate_refresh_tokens: true,
            refresh_tokens_for_client_credentials: false,
            api_reject_status: 401,
            max_assertion_lifetime_secs: 3600,
            token_delay: Duration::ZERO,
            whole_second_expiry: false,
            omit_scope: false,
        }
    }
}

/// A request the token endpoint received, as the server understood it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The path, e.g. `/oauth/token`.
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The raw body.
    pub body: String,
    /// The parameters, from a form or a JSON body.
    pub params: Map<String, Value>,
    /// The `grant_type` parameter.
    pub grant_type: Option<String>,
}

#[derive(Debug, Clone)]
struct Issued {
    expires_at: SystemTime,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    scope: Option<String>,
}

struct Shared {
    config: Mutex<ServerConfig>,
    clock: Arc<dyn Clock>,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
    issued: Mutex<HashMap<String, Issued>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    token_requests: AtomicUsize,
    tokens_issued: AtomicUsize,
    api_requests: AtomicUsize,
    serial: AtomicUsize,
    base_url: String,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running test server; it stops when dropped.
pub struct TestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// The registered client id.
    pub const CLIENT_ID: &'static str = "test-client";
    /// The registered client's secret.
    pub const CLIENT_SECRET: &'static str = "test-client-secret";
    /// The password grant's user.
    pub const USERNAME: &'static str = "alice";
    /// The password grant's password.
    pub const PASSWORD: &'static str = "alice-password";
    /// The JWT-bearer service account's key id.
    pub const KEY_ID: &'static str = "test-key-id";
    /// The JWT-bearer service account's email (the assertion's `iss`).
    pub const ISSUER: &'static str = "svc@test.example";
    /// The JWT-bearer service account's HS256 secret.
    pub const JWT_SECRET: &'static str = "test-jwt-secret";

    /// Starts a server with the default configuration on a free loopback port, on the
    /// current tokio runtime.
    pub async fn start() -> TestServer {
        Self::start_with(ServerConfig::default(), Arc::new(SystemClock::new())).await
    }

    /// Starts a server with `config`, reading time from `clock` (share a
    /// [`ManualClock`](grantkit_core::ManualClock) with the client to test expiry).
    ///
    /// # Panics
    /// If no loopback port can be bound (test support: failing loudly is the point).
    pub async fn start_with(config: ServerConfig, clock: Arc<dyn Clock>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("test server: cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test server: no local address: {e}"));
        let (shared, app) = Self::app(config, clock, addr);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestServer {
            shared,
            addr,
            shutdown: Some(tx),
            thread: None,
        }
    }

    /// Starts a server on a thread of its own with its own runtime; for synchronous
    /// callers (benchmarks, tests of a binary).
    ///
    /// # Panics
    /// If the thread, the runtime or the port cannot be had.
    pub fn start_in_background(config: ServerConfig, clock: Arc<dyn Clock>) -> TestServer {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("grantkit-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("test server: no runtime: {e}"));
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .unwrap_or_else(|e| panic!("test server: cannot bind: {e}"));
                    let addr = listener
                        .local_addr()
                        .unwrap_or_else(|e| panic!("test server: no local address: {e}"));
                    let (shared, app) = Self::app(config, clock, addr);
                    let _ = ready_tx.send((shared, addr));
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .unwrap_or_else(|e| panic!("test server: no thread: {e}"));
        let (shared, addr) = ready_rx
            .recv()
            .unwrap_or_else(|e| panic!("test server did not start: {e}"));
        TestServer {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    fn app(config: ServerConfig, clock: Arc<dyn Clock>, addr: SocketAddr) -> (Arc<Shared>, Router) {
        let shared = Arc::new(Shared {
            config: Mutex::new(config),
            clock,
            faults: Mutex::default(),
            requests: Mutex::default(),
            issued: Mutex::default(),
            refresh: Mutex::default(),
            token_requests: AtomicUsize::new(0),
            tokens_issued: AtomicUsize::new(0),
            api_requests: AtomicUsize::new(0),
            serial: AtomicUsize::new(0),
            base_url: format!("http://{addr}"),
        });
        let app = Router::new()
            .route("/oauth/token", post(token_endpoint))
            .route("/oauth2/token", post(token_endpoint))
            .route("/token", post(token_endpoint))
            .route("/api/{*rest}", any(api_endpoint))
            .with_state(Arc::clone(&shared));
        (shared, app)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The token endpoint, `{url}/oauth/token` (`/oauth2/token` and `/token` work too).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.shared.base_url)
    }

    /// A protected API resource, `{url}/api/resource`.
    pub fn api_url(&self) -> String {
        format!("{}/api/resource", self.shared.base_url)
    }

    /// Changes the configuration of the running server.
    pub fn configure(&self, f: impl FnOnce(&mut ServerConfig)) {
        f(&mut locked(&self.shared.config));
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.configure(|c| c.lifetime = lifetime);
    }

    /// Queues a fault for the next token request (faults apply in order, one each).
    pub fn push_fault(&self, fault: Fault) {
        locked(&self.shared.faults).push_back(fault);
    }

    /// Requests received by the token endpoint, faulty answers included.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Tokens issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Token requests with this `grant_type`.
    pub fn requests_for(&self, grant_type: &str) -> usize {
        locked(&self.shared.requests)
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some(grant_type))
            .count()
    }

    /// Every token request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        locked(&self.shared.requests).clone()
    }

    /// Requests received by the protected API.
    pub fn api_requests(&self) -> usize {
        self.shared.api_requests.load(Ordering::SeqCst)
    }

    /// Forgets an issued access token, as a server does when it revokes one: the API then
    /// rejects it even though it has not expired.
    pub fn revoke(&self, access_token: &str) {
        locked(&self.shared.issued).remove(access_token);
    }

    /// Revokes every issued access token.
    pub fn revoke_all(&self) {
        locked(&self.shared.issued).clear();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn parse_params(content_type: Option<&str>, body: &[u8]) -> Map<String, Value> {
    if content_type.is_some_and(|c| c.starts_with("application/json")) {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    } else {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    }
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": code, "error_description": description}).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"test\""),
        );
    }
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The client's credentials, from HTTP Basic (form-urlencoded inside, RFC 6749 §2.3.1) or
/// the body.
fn client_credentials(
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Option<(String, String)> {
    if let Some(basic) = header_str(headers, header::AUTHORIZATION)
        .as_deref()
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((
        text("client_id")?,
        text("client_secret").unwrap_or_default(),
    ))
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let params = parse_params(content_type.as_deref(), &body);
    let grant_type = params
        .get("grant_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    locked(&shared.requests).push(RecordedRequest {
        path: uri.path().to_owned(),
        content_type,
        authorization: header_str(&headers, header::AUTHORIZATION),
        user_agent: header_str(&headers, header::USER_AGENT),
        body: String::from_utf8_lossy(&body).into_owned(),
        params: params.clone(),
        grant_type: grant_type.clone(),
    });

    let delay = locked(&shared.config).token_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = locked(&shared.faults).pop_front();
    let mut expires_override = None;
    match fault {
        None => {}
        Some(Fault::Status(code)) => return status(code).into_response(),
        Some(Fault::Body(code, content_type, body)) => {
            return (status(code), [(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        Some(Fault::Html(code)) => {
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{code} Error</title></head>\n<body><h1>Something went wrong</h1></body></html>"
            );
            return (status(code), [(header::CONTENT_TYPE, "text/html")], page).into_response();
        }
        Some(Fault::RetryAfter(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs.to_string())],
                "",
            )
                .into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
        }
        Some(Fault::CloseMidBody) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"access_token\":\"trunc")),
                Err(std::io::Error::other("connection closed mid-body")),
            ];
            let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("200"));
            return response;
        }
        Some(Fault::Huge(size)) => {
            let mut body = String::with_capacity(size);
            body.push_str("{\"access_token\":\"big\",\"padding\":\"");
            while body.len() + 2 < size {
                body.push('x');
            }
            body.push_str("\"}");
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        Some(Fault::ExpiresIn(secs)) => expires_override = Some(secs),
        Some(Fault::Redirect(to)) => {
            return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)], "").into_response();
        }
    }

    let config = locked(&shared.config).clone();
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
    let scope = text("scope");
    #[allow(clippy::result_large_err)]
    let authenticate = || -> Result<String, Response> {
        match client_credentials(&headers, &params) {
            Some((id, secret)) if config.clients.get(&id) == Some(&secret) => Ok(id),
            _ => Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            )),
        }
    };

    let (client_id, scope, with_refresh) = match grant_type.as_deref() {
        Some("client_credentials") => match authenticate() {
            Ok(id) => (id, scope, config.refresh_tokens_for_client_credentials),
            Err(r) => return r,
        },
        Some("password") => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            let user = text("username").unwrap_or_default();
            let pass = text("password").unwrap_or_default();
            if config.users.get(&user) != Some(&pass) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The resource owner credentials are invalid",
                );
            }
            (id, scope, true)
        }
        Some("refresh_token") => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            let presented = text("refresh_token").unwrap_or_default();
            let known = {
                let mut refresh = locked(&shared.refresh);
                let grant = refresh.get(&presented).cloned();
                if grant.is_some() && config.rotate_refresh_tokens {
                    refresh.remove(&presented);
                }
                grant
            };
            match known {
                Some(g) if g.client_id == id => {
                    if !config.rotate_refresh_tokens {
                        let token = issue(
                            &shared,
                            &config,
                            &g.client_id,
                            g.scope.clone(),
                            false,
                            expires_override,
                        );
                        let mut body = token;
                        body.insert("refresh_token".into(), Value::String(presented));
                        return json_ok(body);
                    }
                    (id, g.scope, true)
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "The refresh token is invalid, expired or already used",
                    );
                }
            }
        }
        Some(JWT_BEARER) => {
            match verify_assertion(&shared, &config, &text("assertion").unwrap_or_default()) {
                Ok(issuer) => (issuer, scope, false),
                Err(reason) => {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &reason);
                }
            }
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type",
            );
        }
    };
    json_ok(issue(
        &shared,
        &config,
        &client_id,
        scope,
        with_refresh,
        expires_override,
    ))
}

fn json_ok(body: Map<String, Value>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Value::Object(body).to_string(),
    )
        .into_response()
}

fn issue(
    shared: &Shared,
    config: &ServerConfig,
    client_id: &str,
    scope: Option<String>,
    with_refresh: bool,
    expires_override: Option<i64>,
) -> Map<String, Value> {
    let n = shared.serial.fetch_add(1, Ordering::SeqCst) + 1;
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let now = shared.clock.now();
    let lifetime_secs = expires_override
        .unwrap_or_else(|| i64::try_from(config.lifetime.as_secs()).unwrap_or(i64::MAX));
    // `exp` claims and many servers count whole seconds from the current second.
    let second = UNIX_EPOCH
        + Duration::from_secs(
            now.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
    let base = if config.whole_second_expiry {
        second
    } else {
        now
    };
    let expires_at = if lifetime_secs <= 0 {
        now
    } else {
        base + Duration::from_secs(lifetime_secs.unsigned_abs())
    };
    let rand = fastrand::u64(..);
    let access_token = if config.expires_in == ExpiresIn::JwtOnly {
        let exp = expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig{rand:x}",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&json!({"sub": client_id, "iat": iat, "exp": exp, "jti": n})),
        )
    } else {
        format!("at-{n}-{rand:016x}")
    };
    locked(&shared.issued).insert(access_token.clone(), Issued { expires_at });
    let mut body = Map::new();
    body.insert("access_token".into(), Value::String(access_token));
    body.insert("token_type".into(), Value::String("Bearer".into()));
    match (config.expires_in, expires_override) {
        (_, Some(secs)) => {
            body.insert("expires_in".into(), Value::from(secs));
        }
        (ExpiresIn::Number, None) => {
            body.insert("expires_in".into(), Value::from(lifetime_secs));
        }
        (ExpiresIn::String, None) => {
            body.insert(
                "expires_in".into(),
                Value::String(lifetime_secs.to_string()),
            );
        }
        (ExpiresIn::JwtOnly | ExpiresIn::Absent, None) => {}
    }
    if let Some(scope) = scope.as_ref().filter(|_| !config.omit_scope) {
        body.insert("scope".into(), Value::String(scope.clone()));
    }
    if with_refresh {
        let refresh_token = format!("rt-{n}-{:016x}", fastrand::u64(..));
        locked(&shared.refresh).insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                scope,
            },
        );
        body.insert("refresh_token".into(), Value::String(refresh_token));
    }
    body
}

/// Verifies an HS256 JWT-bearer assertion: the key id, the signature, `iss` for that key,
/// `aud` equal to one of the token URLs, and `exp - iat` within the allowed lifetime.
fn verify_assertion(
    shared: &Shared,
    config: &ServerConfig,
    assertion: &str,
) -> Result<String, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let header = decode_header(assertion).map_err(|e| format!("malformed assertion: {e}"))?;
    if header.alg != Algorithm::HS256 {
        return Err(format!("unsupported algorithm {:?}", header.alg));
    }
    let kid = header.kid.ok_or("the assertion has no kid")?;
    let (issuer, secret) = config
        .service_accounts
        .get(&kid)
        .ok_or_else(|| format!("unknown key id {kid:?}"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    let audiences: Vec<String> = ["/oauth/token", "/oauth2/token", "/token"]
        .iter()
        .map(|p| format!("{}{p}", shared.base_url))
        .collect();
    validation.set_audience(&audiences);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    // The server's clock may be a manual one: check exp against it, not the system's.
    validation.validate_exp = false;
    let data = decode::<Map<String, Value>>(
        assertion,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| format!("invalid assertion: {e}"))?;
    let claim = |k: &str| data.claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (iat, exp) = (claim("iat"), claim("exp"));
    if exp - iat > config.max_assertion_lifetime_secs {
        return Err(format!(
            "the assertion lives {}s; at most {}s is allowed",
            exp - iat,
            config.max_assertion_lifetime_secs
        ));
    }
    let now = shared
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if u64::try_from(exp).unwrap_or(0) <= now {
        return Err("the assertion has expired".into());
    }
    Ok(issuer.clone())
}

async fn api_endpoint(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.api_requests.fetch_add(1, Ordering::SeqCst);
    let reject = status(locked(&shared.config).api_reject_status);
    let Some(token) = header_str(&headers, header::AUTHORIZATION)
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned)
    else {
        return (reject, "missing bearer token").into_response();
    };
    let issued = locked(&shared.issued).get(&token).cloned();
    match issued {
        Some(i) if shared.clock.now() < i.expires_at => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"ok":true}"#,
        )
            .into_response(),
        Some(_) => (reject, "token expired").into_response(),
        None => (reject, "unknown token").into_response(),
    }
}
