//! What the server knows and does: its configuration, the faults it injects, and the
//! requests it records.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{DpopMode, TestServer, TlsClient};

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
    /// JWT-bearer service accounts with asymmetric keys: key id → (issuer email, PEM
    /// public key). Assertions whose `kid` is here are verified with the public key, for
    /// the RS, PS, ES and EdDSA algorithms. Empty by default.
    pub service_account_keys: HashMap<String, (String, String)>,
    /// Clients that authenticate with a TLS client certificate (RFC 8705 §2): client id →
    /// what its certificate must be. They send `client_id` and no secret, to a server
    /// started with [`TestServer::start_tls`]. By default
    /// [`TestServer::TLS_CLIENT_ID`] (`tls_client_auth`, the subject of
    /// [`certs::CLIENT`](crate::certs::CLIENT)) and [`TestServer::SELF_SIGNED_CLIENT_ID`]
    /// (`self_signed_tls_client_auth`, [`certs::SELF_SIGNED`](crate::certs::SELF_SIGNED)).
    pub tls_clients: HashMap<String, TlsClient>,
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
    /// How the device authorization endpoint (`/device`, RFC 8628) and its simulated user
    /// behave.
    pub device: DeviceFlow,
    /// How the token endpoint treats DPoP proofs (RFC 9449); [`DpopMode::Off`] by default.
    pub dpop: DpopMode,
    /// Whether the protected API asks for its own DPoP nonce in the proofs of API
    /// requests (RFC 9449 §9). Off by default.
    pub api_dpop_nonce: bool,
    /// How far a DPoP proof's `iat` may be from the server's clock (60 s).
    pub dpop_iat_window: Duration,
}

/// The simulated user of the device authorization grant: after
/// [`pending_polls`](Self::pending_polls) answers of `authorization_pending`, the user has
/// approved (or denied) every device code.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceFlow {
    /// The `interval` the server asks for, in seconds: 0 by default, so that tests poll
    /// without waiting (RFC 8628's default is 5).
    pub interval_secs: u64,
    /// The device code's `expires_in`, in seconds (600).
    pub expires_in_secs: u64,
    /// How many polls of a code are answered `authorization_pending` first (1).
    pub pending_polls: usize,
    /// Whether the user denies (`access_denied`) instead of approving.
    pub deny: bool,
}

impl Default for DeviceFlow {
    fn default() -> Self {
        DeviceFlow {
            interval_secs: 0,
            expires_in_secs: 600,
            pending_polls: 1,
            deny: false,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            clients: HashMap::from([
                (
                    TestServer::CLIENT_ID.into(),
                    TestServer::CLIENT_SECRET.into(),
                ),
                // A public client (RFC 6749 §2.1): its id, no secret.
                (TestServer::PUBLIC_CLIENT_ID.into(), String::new()),
            ]),
            users: HashMap::from([(TestServer::USERNAME.into(), TestServer::PASSWORD.into())]),
            service_accounts: HashMap::from([(
                TestServer::KEY_ID.into(),
                (TestServer::ISSUER.into(), TestServer::JWT_SECRET.into()),
            )]),
            service_account_keys: HashMap::new(),
            tls_clients: HashMap::from([
                (
                    TestServer::TLS_CLIENT_ID.into(),
                    TlsClient::SubjectDn(crate::certs::CLIENT_SUBJECT_DN.into()),
                ),
                (
                    TestServer::SELF_SIGNED_CLIENT_ID.into(),
                    TlsClient::SelfSigned(crate::certs::thumbprint(crate::certs::SELF_SIGNED)),
                ),
            ]),
            lifetime: Duration::from_secs(3600),
            expires_in: ExpiresIn::Number,
            rotate_refresh_tokens: true,
            refresh_tokens_for_client_credentials: false,
            api_reject_status: 401,
            max_assertion_lifetime_secs: 3600,
            token_delay: Duration::ZERO,
            whole_second_expiry: false,
            omit_scope: false,
            device: DeviceFlow::default(),
            dpop: DpopMode::Off,
            api_dpop_nonce: false,
            dpop_iat_window: Duration::from_secs(60),
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
    /// The base64url SHA-256 thumbprint (`x5t#S256`) of the TLS client certificate the
    /// request came with, on a server started with [`TestServer::start_tls`].
    pub client_certificate: Option<String>,
    /// The `DPoP` header (the proof), if any.
    pub dpop: Option<String>,
}
