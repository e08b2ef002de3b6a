//! [`TokenManagerBuilder`]: the settings of a manager, and the default HTTP client.

use std::any::TypeId;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::cache::shard_count;
use super::stats::Counters;
use super::{Inner, Settings, TokenManager};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::grant::Grant;
use crate::http::{HttpClient, check_token_url};
use crate::policy::{RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
use crate::store::{MemoryStore, SharedTokenStore, TokenStore};
use crate::token::{DEFAULT_LIFETIME, Token};

/// Builds a [`TokenManager`]. Only the grant is required.
///
/// Setters never fail; a problem is kept and reported by [`build`](Self::build).
///
/// ```no_run
/// # fn run(grant: impl grantkit_core::Grant + 'static) -> grantkit_core::Result<()> {
/// use std::time::Duration;
/// use grantkit_core::{MemoryStore, RetryPolicy, TokenManager};
///
/// let manager = TokenManager::builder()
///     .grant(grant)
///     .store(MemoryStore::new())
///     .refresh_before(Duration::from_secs(60))
///     .retry(RetryPolicy::default().with_max_attempts(3))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct TokenManagerBuilder {
    grant: Option<Arc<dyn Grant>>,
    store: Option<SharedTokenStore>,
    policy: Option<Arc<dyn RefreshPolicy>>,
    http: Option<Arc<dyn HttpClient>>,
    /// The clock, and whether it is the [`SystemClock`].
    clock: Option<(Arc<dyn Clock>, bool)>,
    settings: Settings,
    #[cfg(feature = "default-http-client")]
    proxy: Option<String>,
    #[cfg(feature = "default-http-client")]
    client_certificate: Option<crate::ClientCertificate>,
    #[cfg(feature = "default-http-client")]
    root_certificates: Option<crate::RootCertificates>,
    pending_error: Option<Error>,
}

/// The default of [`TokenManagerBuilder::attempt_timeout`].
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of [`TokenManagerBuilder::deadline`].
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry: RetryPolicy::default(),
            default_lifetime: DEFAULT_LIFETIME,
            allow_http: false,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            lock_ttl: Duration::from_secs(30),
            failure_cooldown: Duration::from_secs(1),
            on_token: None,
            revoker: None,
            #[cfg(feature = "dpop")]
            dpop: None,
        }
    }
}

impl Default for TokenManagerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenManagerBuilder {
    /// A builder with the defaults: memory store, [`RefreshBeforeExpiry::default`],
    /// [`RetryPolicy::default`], the reqwest HTTP client, the system clock.
    pub fn new() -> Self {
        TokenManagerBuilder {
            grant: None,
            store: None,
            policy: None,
            http: None,
            clock: None,
            settings: Settings::default(),
            #[cfg(feature = "default-http-client")]
            proxy: None,
            #[cfg(feature = "default-http-client")]
            client_certificate: None,
            #[cfg(feature = "default-http-client")]
            root_certificates: None,
            pending_error: None,
        }
    }

    /// The grant that obtains tokens.
    pub fn grant(self, grant: impl Grant + 'static) -> Self {
        self.grant_arc(Arc::new(grant))
    }

    /// The grant, already shared.
    pub fn grant_arc(mut self, grant: Arc<dyn Grant>) -> Self {
        self.grant = Some(grant);
        self
    }

    /// Where tokens are kept between calls, tasks and processes (default: a private
    /// [`MemoryStore`]).
    pub fn store(self, store: impl TokenStore + 'static) -> Self {
        self.store_shared(SharedTokenStore::new(store))
    }

    /// The store, already shared.
    pub fn store_shared(mut self, store: SharedTokenStore) -> Self {
        self.store = Some(store);
        self
    }

    /// When to renew tokens.
    pub fn policy(mut self, policy: impl RefreshPolicy + 'static) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// Renew `before` expiry (capped at half the lifetime, with jitter); shorthand for
    /// `.policy(RefreshBeforeExpiry::new(before))`.
    pub fn refresh_before(self, before: Duration) -> Self {
        self.policy(RefreshBeforeExpiry::new(before))
    }

    /// The HTTP client grants send requests with.
    pub fn http_client(mut self, http: impl HttpClient + 'static) -> Self {
        self.http = Some(Arc::new(http));
        self
    }

    /// An HTTP client whose construction may have failed: the error, if any, is kept and
    /// reported by [`build`](Self::build), like every other setter's problem. For
    /// adapters that build a client from user input (see `grantkit::transport`).
    pub fn try_http_client(mut self, http: Result<impl HttpClient + 'static>) -> Self {
        match http {
            Ok(http) => self.http_client(http),
            Err(e) => {
                self.pending_error = Some(e);
                self
            }
        }
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock<C: Clock + 'static>(mut self, clock: C) -> Self {
        let system = TypeId::of::<C>() == TypeId::of::<SystemClock>();
        self.clock = Some((Arc::new(clock), system));
        self
    }

    /// How failed requests are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// The lifetime of tokens whose response says nothing about expiry (default 1 h).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.default_lifetime = lifetime;
        self
    }

    /// The longest one attempt of the grant may take, HTTP included (default 10 s;
    /// `timeout_secs` in a profile). The default HTTP client's own timeout is set a second
    /// later, as a backstop.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.settings.attempt_timeout = timeout;
        self
    }

    /// Sender-constrained tokens (DPoP, RFC 9449): token requests carry proofs signed with
    /// a key the token is then bound to, and [`TokenManager::dpop_proof`] makes the proofs
    /// for API requests. See [the `dpop` module](crate::dpop).
    ///
    /// [`build`](Self::build) fails when the store writes in clear (a file or Redis store
    /// without an encryption key) unless [`Dpop::plaintext_key_in_store`](crate::Dpop::plaintext_key_in_store)
    /// allows it: the store keeps the private key beside the token.
    ///
    /// ```
    /// # fn run(grant: impl grantkit_core::Grant + 'static) -> grantkit_core::Result<()> {
    /// use grantkit_core::{Dpop, DpopAlgorithm, TokenManager};
    ///
    /// let manager = TokenManager::builder()
    ///     .grant(grant)
    ///     .dpop(Dpop::new(DpopAlgorithm::Es256))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "dpop")]
    pub fn dpop(mut self, dpop: crate::Dpop) -> Self {
        self.settings.dpop = Some((dpop, Arc::default()));
        self
    }

    /// The longest one renewal may take, retries and their backoff included (default 30 s;
    /// `deadline_secs` in a profile). An attempt is cut short when the deadline comes, and
    /// no retry starts that would end after it: a `Retry-After` longer than what is left
    /// ends the renewal with the server's error at once.
    ///
    /// With the defaults, a caller without a valid token waits at most this long for the
    /// token endpoint, plus, when another process holds the store's refresh lock, the
    /// time that process takes (at most [`lock_ttl`](Self::lock_ttl)).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = deadline;
        self
    }

    /// Sends `https` token requests to non-loopback hosts through `proxy` instead of the
    /// proxy the environment names (`HTTPS_PROXY`, `ALL_PROXY`). Loopback and plain `http`
    /// requests never go through a proxy; see [`ReqwestHttpClient`](crate::ReqwestHttpClient).
    /// Applies to the default HTTP client: [`build`](Self::build) fails when a client of
    /// your own is set too.
    #[cfg(feature = "default-http-client")]
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// Presents `certificate` to the token endpoint in the TLS handshake (mutual TLS): the
    /// client authentication of `tls_client_auth` and `self_signed_tls_client_auth`
    /// (RFC 8705 §2); see [`ReqwestHttpClient::client_certificate`](crate::ReqwestHttpClient::client_certificate).
    /// Applies to the default HTTP client: [`build`](Self::build) fails when a client of
    /// your own is set too.
    ///
    /// ```no_run
    /// # fn run(grant: impl grantkit_core::Grant + 'static) -> grantkit_core::Result<()> {
    /// use grantkit_core::{ClientCertificate, TokenManager};
    ///
    /// let manager = TokenManager::builder()
    ///     .grant(grant)
    ///     .client_certificate(ClientCertificate::from_pem_files("client.pem", "client-key.pem")?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "default-http-client")]
    pub fn client_certificate(mut self, certificate: crate::ClientCertificate) -> Self {
        self.client_certificate = Some(certificate);
        self
    }

    /// Trusts only `roots` for the token endpoint's certificate, instead of the platform's
    /// certificate authorities (`ca_file` in a profile); see
    /// [`ReqwestHttpClient::root_certificates`](crate::ReqwestHttpClient::root_certificates).
    /// Applies to the default HTTP client, as [`client_certificate`](Self::client_certificate).
    #[cfg(feature = "default-http-client")]
    pub fn root_certificates(mut self, roots: crate::RootCertificates) -> Self {
        self.root_certificates = Some(roots);
        self
    }

    /// How long a store's cross-process refresh lock lives (default 30 s); waiters take
    /// over after it.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.settings.lock_ttl = ttl;
        self
    }

    /// How long the error of a renewal that left callers without a token is returned to
    /// new callers before another request is made (default 1 s; zero disables it). Without
    /// it, every call would send a request to an endpoint that refuses the credentials or
    /// is down. When the server sent `Retry-After`, that wait (up to 60 s) is used if
    /// longer.
    pub fn failure_cooldown(mut self, cooldown: Duration) -> Self {
        self.settings.failure_cooldown = cooldown;
        self
    }

    /// Allows plain `http://` token URLs to hosts other than loopback.
    ///
    /// # Security
    /// Credentials and tokens then cross the network in clear.
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.settings.allow_http = allow;
        self
    }

    /// Runs `callback` with every new token obtained from the token endpoint (not those
    /// taken from the store); to persist or audit. It runs on the renewal task: keep it
    /// short and do not log the token.
    pub fn on_token(mut self, callback: impl Fn(&Token) + Send + Sync + 'static) -> Self {
        self.settings.on_token = Some(Arc::new(callback));
        self
    }

    /// What revokes the manager's tokens at the authorization server when
    /// [`TokenManager::revoke`] is called (RFC 7009); `grantkit_grants::Revocation` for a
    /// revocation endpoint (`ClientGrant::revocation` builds one with the grant's client).
    ///
    /// ```no_run
    /// # fn run(grant: impl grantkit_core::Grant + 'static, revoker: impl grantkit_core::Revoker + 'static) -> grantkit_core::Result<()> {
    /// use grantkit_core::TokenManager;
    ///
    /// let manager = TokenManager::builder().grant(grant).revoker(revoker).build()?;
    /// # let _ = manager; Ok(()) }
    /// ```
    pub fn revoker(mut self, revoker: impl crate::revoke::Revoker + 'static) -> Self {
        self.settings.revoker = Some(Arc::new(revoker));
        self
    }

    /// The manager.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when no grant was given, the token
    /// URL is plain `http://` to a non-loopback host without
    /// [`danger_allow_http`](Self::danger_allow_http), or the default HTTP client cannot be
    /// built.
    pub fn build(self) -> Result<TokenManager> {
        if let Some(e) = self.pending_error {
            return Err(e);
        }
        let grant = self
            .grant
            .ok_or_else(|| Error::config("no grant configured: call .grant(…) on the builder"))?;
        let identity = grant.identity();
        let store = self
            .store
            .unwrap_or_else(|| SharedTokenStore::new(MemoryStore::new()));
        #[cfg(feature = "dpop")]
        let identity = match &self.settings.dpop {
            Some((dpop, _)) => {
                if !dpop.allows_plaintext_key_in_store() && !store.protects_secrets_at_rest() {
                    return Err(Error::config(
                        "DPoP keeps its private key beside the token, and this store writes \
                         in clear: give the store an encryption key (store.encryption_key_file), \
                         or allow it with dpop = { plaintext_key_in_store = true } \
                         (Dpop::plaintext_key_in_store)",
                    ));
                }
                // DPoP-bound and bearer tokens, and tokens bound to different fixed keys,
                // never share a store record.
                let value = match dpop.fixed_key() {
                    Some(key) => format!("{}:{}", key.algorithm(), key.thumbprint()),
                    None => dpop.algorithm().to_string(),
                };
                identity.with_param("dpop", value)
            }
            None => identity,
        };
        if url::Url::parse(identity.token_url()).is_ok() {
            check_token_url(identity.token_url(), self.settings.allow_http)?;
        }
        #[cfg(feature = "default-http-client")]
        let http = match self.http {
            Some(h) => {
                let set = [
                    (self.proxy.is_some(), "proxy"),
                    (self.client_certificate.is_some(), "client certificate"),
                    (self.root_certificates.is_some(), "root certificates"),
                ];
                if let Some((_, what)) = set.iter().find(|(set, _)| *set) {
                    return Err(Error::config(format!(
                        "the default HTTP client's {what} cannot apply to a client of your own: \
                         configure it on that client"
                    )));
                }
                h
            }
            None => {
                let mut client = match &self.proxy {
                    Some(proxy) => crate::http::ReqwestHttpClient::with_proxy(proxy)?,
                    None => crate::http::ReqwestHttpClient::new()?,
                };
                if let Some(certificate) = self.client_certificate {
                    client = client.client_certificate(certificate);
                }
                if let Some(roots) = self.root_certificates {
                    client = client.root_certificates(roots);
                }
                default_http(client, self.settings.attempt_timeout)
            }
        };
        #[cfg(not(feature = "default-http-client"))]
        let http = match self.http {
            Some(h) => h,
            None => default_http()?,
        };
        let shards = shard_count();
        let (clock, coarse_clock) = self.clock.unwrap_or_else(|| (Arc::new(SystemClock), true));
        Ok(TokenManager {
            inner: Arc::new(Inner {
                key: identity.cache_key(),
                identity,
                grant,
                store,
                policy: self
                    .policy
                    .unwrap_or_else(|| Arc::new(RefreshBeforeExpiry::default())),
                http,
                clock,
                coarse_clock,
                settings: self.settings,
                current: ArcSwapOption::empty(),
                generation: AtomicU64::new(0),
                in_flight: Mutex::new(None),
                next_renewal_id: AtomicU64::new(0),
                not_before: Mutex::new(None),
                last_failure: Mutex::new(None),
                counters: Counters::new(shards),
                shard_mask: shards - 1,
                #[cfg(feature = "dpop")]
                no_dpop_nonces: Arc::default(),
            }),
        })
    }
}

/// The default HTTP client: built on its first request (see [`crate::ReqwestHttpClient`]),
/// so that a manager that finds its token in a store builds none.
#[cfg(feature = "default-http-client")]
fn default_http(client: crate::http::ReqwestHttpClient, timeout: Duration) -> Arc<dyn HttpClient> {
    // The manager cuts each attempt at `timeout` itself; the client's own timeout is a
    // backstop a little later, so that the manager's clearer error is the one seen.
    Arc::new(client.timeout(timeout + Duration::from_secs(1)))
}

#[cfg(not(feature = "default-http-client"))]
fn default_http() -> Result<Arc<dyn HttpClient>> {
    Err(Error::config(
        "no HTTP client: enable the `default-http-client` feature or call .http_client(…)",
    ))
}

impl fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("grant", &self.grant)
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("retry", &self.settings.retry)
            .field("allow_http", &self.settings.allow_http)
            .field("revoker", &self.settings.revoker)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
