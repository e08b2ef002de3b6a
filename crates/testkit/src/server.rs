//! An in-process OAuth2 authorization server for tests, examples and benchmarks.
//!
//! It speaks every flow grantkit supports, with JSON or form bodies and Basic or body client
//! authentication: `client_credentials`, `password`, `refresh_token` (with rotation) and
//! the RFC 7523 JWT bearer grant (HS256, verified). It counts requests per grant type,
//! issues tokens with a configurable lifetime, injects faults on demand, and serves a
//! protected API that accepts only its own unexpired tokens.
//!
//! It also knows `private_key_jwt` client authentication (assertions verified with a key
//! of [`ServerConfig::service_account_keys`] whose issuer is the client id, each `jti`
//! once) and the token-exchange grant (RFC 8693; the subject token must be an active
//! access token of this server).
//!
//! DPoP (RFC 9449), set with [`ServerConfig::dpop`] ([`DpopMode`]): the token endpoint
//! verifies every proof as §4.3 says — `typ` `dpop+jwt`, an asymmetric `alg`, a public
//! `jwk` that verifies the signature, `htm`, `htu` equal to the endpoint's URL, `iat`
//! within [`ServerConfig::dpop_iat_window`], a `jti` never seen, and, in
//! [`DpopMode::RequireNonce`], one of its nonces (else `400 use_dpop_nonce` with a
//! `DPoP-Nonce` header; each token response hands out a new one) — and issues `DPoP`
//! tokens bound to the key's RFC 7638 thumbprint (computed here, not by grantkit); a public
//! client's refresh token is bound too, and refused with a proof of another key. The API,
//! on [`TestServer::resource_url`] (a port of its own), checks `DPoP` tokens and their
//! proofs (RFC 9449 §7), with its own nonce when [`ServerConfig::api_dpop_nonce`]; the
//! `dpop_*` methods of [`TestServer`] count and explain what was accepted and refused.
//!
//! [`TestServer::start_tls`] serves the same over HTTPS, asking every client for a
//! certificate: the `tls_client_auth` and `self_signed_tls_client_auth` clients of
//! [`ServerConfig::tls_clients`] (RFC 8705 §2) authenticate with theirs, and each recorded
//! request carries the thumbprint of the certificate it came with.
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
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{any, post};
use grantkit_core::{Clock, SystemClock};

mod api;
mod config;
mod device;
mod dpop;
mod endpoints;
mod exchange;
pub(crate) mod tls;

use api::api_endpoint;
pub use config::{DeviceFlow, ExpiresIn, Fault, JWT_BEARER, RecordedRequest, ServerConfig};
pub use dpop::DpopMode;
use endpoints::token_endpoint;
pub use tls::TlsClient;

#[derive(Debug, Clone)]
struct Issued {
    expires_at: SystemTime,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    scope: Option<String>,
    /// The DPoP key thumbprint the refresh token is bound to (public clients).
    jkt: Option<String>,
}

struct Shared {
    config: Mutex<ServerConfig>,
    clock: Arc<dyn Clock>,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
    issued: Mutex<HashMap<String, Issued>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    devices: Mutex<HashMap<String, device::DeviceState>>,
    dpop: Mutex<dpop::DpopState>,
    /// Every `jti` of a client assertion accepted, to refuse replays.
    assertion_jti: Mutex<std::collections::HashSet<String>>,
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
    /// The base URL of the resource server's port, and what stops it.
    resource: Option<(String, tokio::sync::oneshot::Sender<()>)>,
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
    /// A public client (no secret), for the device authorization grant.
    pub const PUBLIC_CLIENT_ID: &'static str = "test-public-client";
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
    /// The `tls_client_auth` client: [`certs::CLIENT`](crate::certs::CLIENT)'s subject.
    pub const TLS_CLIENT_ID: &'static str = "tls-client";
    /// The `self_signed_tls_client_auth` client:
    /// [`certs::SELF_SIGNED`](crate::certs::SELF_SIGNED) exactly.
    pub const SELF_SIGNED_CLIENT_ID: &'static str = "self-signed-client";

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
        let (shared, app) = Self::app(config, clock, format!("http://{addr}"));
        // The same routes on a second port: the resource server, an origin of its own (a
        // client keeps DPoP nonces by origin).
        let resource_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("test server: cannot bind a loopback port: {e}"));
        let resource_addr = resource_listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test server: no local address: {e}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (resource_tx, resource_rx) = tokio::sync::oneshot::channel::<()>();
        let resource_app = app.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        tokio::spawn(async move {
            let _ = axum::serve(resource_listener, resource_app)
                .with_graceful_shutdown(async move {
                    let _ = resource_rx.await;
                })
                .await;
        });
        TestServer {
            shared,
            addr,
            shutdown: Some(tx),
            thread: None,
            resource: Some((format!("http://{resource_addr}"), resource_tx)),
        }
    }

    /// Starts a server that speaks HTTPS only, with the test certificate of
    /// [`certs::SERVER`](crate::certs::SERVER) (trust [`certs::CA`](crate::certs::CA)), on
    /// `https://127.0.0.1:<port>`. It asks every client for a certificate (mutual TLS) and
    /// records the thumbprint of the one it got with each request
    /// ([`RecordedRequest::client_certificate`]); the clients of
    /// [`ServerConfig::tls_clients`] authenticate with theirs.
    ///
    /// # Panics
    /// If no loopback port can be bound or the test certificates cannot be read.
    pub async fn start_tls(config: ServerConfig, clock: Arc<dyn Clock>) -> TestServer {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("test server: cannot bind a loopback port: {e}"));
        let listener = tls::TlsListener::new(tcp);
        let addr = tls::local_addr(&listener);
        let (shared, app) = Self::app(config, clock, format!("https://{addr}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<tls::TlsPeer>();
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
            resource: None,
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
                    let (shared, app) = Self::app(config, clock, format!("http://{addr}"));
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
            resource: None,
        }
    }

    fn app(config: ServerConfig, clock: Arc<dyn Clock>, base_url: String) -> (Arc<Shared>, Router) {
        let shared = Arc::new(Shared {
            config: Mutex::new(config),
            clock,
            faults: Mutex::default(),
            requests: Mutex::default(),
            issued: Mutex::default(),
            refresh: Mutex::default(),
            devices: Mutex::default(),
            dpop: Mutex::default(),
            assertion_jti: Mutex::default(),
            token_requests: AtomicUsize::new(0),
            tokens_issued: AtomicUsize::new(0),
            api_requests: AtomicUsize::new(0),
            serial: AtomicUsize::new(0),
            base_url,
        });
        let app = Router::new()
            .route("/oauth/token", post(token_endpoint))
            .route("/oauth2/token", post(token_endpoint))
            .route("/token", post(token_endpoint))
            .route("/device", post(device::device_endpoint))
            .route("/api/{*rest}", any(api_endpoint))
            .with_state(Arc::clone(&shared));
        (shared, app)
    }

    /// `http://127.0.0.1:<port>` (`https://…` for [`start_tls`](Self::start_tls)).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The token endpoint, `{url}/oauth/token` (`/oauth2/token` and `/token` work too).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.shared.base_url)
    }

    /// The device authorization endpoint (RFC 8628), `{url}/device`; see
    /// [`ServerConfig::device`] for the simulated user.
    pub fn device_authorization_url(&self) -> String {
        format!("{}/device", self.shared.base_url)
    }

    /// A protected API resource, `{url}/api/resource`.
    pub fn api_url(&self) -> String {
        format!("{}/api/resource", self.shared.base_url)
    }

    /// The same protected API on the resource server's own port (a second origin, as a
    /// real resource server has: its DPoP nonces are not the token endpoint's):
    /// `http://127.0.0.1:<port2>/api/resource`. Any path under `/api/` works, with any
    /// method. A server started with [`start_tls`](Self::start_tls) or
    /// [`start_in_background`](Self::start_in_background) has no second port: this is
    /// [`api_url`](Self::api_url) there.
    ///
    /// With a `DPoP` token the API checks the request's proof as RFC 9449 §7 says: `ath`,
    /// `htm` and `htu` of this request, a `jti` never seen, the key the token is bound to,
    /// and, when [`ServerConfig::api_dpop_nonce`], the resource server's nonce (`401`,
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header). A
    /// refused request answers `401` with `WWW-Authenticate: DPoP error="…"`.
    pub fn resource_url(&self) -> String {
        match &self.resource {
            Some((base, _)) => format!("{base}/api/resource"),
            None => self.api_url(),
        }
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

    /// Checks an API request's `Authorization` header as the protected API does, and counts
    /// it in [`api_requests`](Self::api_requests): `Ok` for `Bearer <a token this server
    /// issued, not revoked, not expired>`, else the reason ("missing bearer token",
    /// "unknown token", "token expired"). For protected services of a test's own (a gRPC
    /// server's interceptor).
    pub fn check_api_authorization(&self, authorization: Option<&str>) -> Result<(), &'static str> {
        api::check_api_authorization(&self.shared, authorization)
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
        if let Some((_, tx)) = self.resource.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
