//! The `TokenManager`: caching, single flight, refresh-ahead, retries and stores around a
//! grant.
//!
//! - `builder`: `TokenManagerBuilder`, the `Settings` it fills and the default HTTP client.
//! - `cache`: the hot path: the cached entry, per-thread caches, shards, `TokenFuture`.
//! - `flight`: single flight: one renewal at a time, started or joined.
//! - `renew`: one renewal: store read-through, the fleet lock, waiting for a holder,
//!   shared failures, the outcome and its cool-down.
//! - `fetch`: calling the grant with retries, the attempt timeout and the deadline.
//! - `stats`: `Stats` and the counters behind it.
//! - `metrics`: the `metrics` feature's hooks (batched cache hits, renewal deltas).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::error::Error;
use crate::grant::{Grant, GrantIdentity};
use crate::http::HttpClient;
use crate::policy::{RefreshPolicy, RetryPolicy};
use crate::store::SharedTokenStore;
use crate::token::Token;

mod builder;
mod cache;
#[cfg(feature = "dpop")]
mod dpop;
mod fetch;
mod flight;
mod metrics;
mod renew;
mod revoke;
mod stats;

pub use builder::TokenManagerBuilder;
pub use cache::{OwnedTokenFuture, TokenFuture};
pub use stats::Stats;

use cache::Entry;
use flight::SharedRenewal;
use stats::Counters;

/// Hands out valid tokens: from memory when it can, from the store when another process
/// renewed it, from the token endpoint otherwise.
///
/// - **Fast path**: a fresh cached token is returned without a lock, without I/O, and
///   without two threads writing the same cache line.
/// - **Single flight**: however many tasks need a new token at once, one request is made
///   and all of them get its result, token or error. With a store that supports locks,
///   the same holds across processes.
/// - **Refresh ahead**: inside the refresh window the current token keeps being served
///   while one background task renews it; nobody waits at expiry.
/// - **Faults**: retryable failures are retried with backoff; while a valid token exists,
///   a failed renewal never fails a caller.
///
/// Cheap to clone; all clones share one cache.
///
/// ```no_run
/// # async fn run(grant: impl grantkit_core::Grant + 'static) -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
///
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let token = manager.token().await?;
/// println!("Authorization: {}", token.authorization_header());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

type OnToken = Arc<dyn Fn(&Token) + Send + Sync>;

/// What the builder sets and the manager follows, kept in one place.
struct Settings {
    retry: RetryPolicy,
    /// The lifetime of tokens whose response says nothing about expiry.
    default_lifetime: Duration,
    allow_http: bool,
    /// The longest one attempt of the grant may take.
    attempt_timeout: Duration,
    /// The longest one renewal may take, retries included.
    deadline: Duration,
    /// How long a store's cross-process refresh lock lives.
    lock_ttl: Duration,
    /// How long a failed renewal's error is repeated without a new request.
    failure_cooldown: Duration,
    on_token: Option<OnToken>,
    /// What [`TokenManager::revoke`] calls.
    revoker: Option<Arc<dyn crate::revoke::Revoker>>,
    /// DPoP for token requests, and the servers' nonces.
    #[cfg(feature = "dpop")]
    dpop: Option<(crate::dpop::Dpop, Arc<crate::dpop::DpopNonces>)>,
}

// `repr(C)` and the alignment keep what the hot path reads (`generation`, `shard_mask`,
// `coarse_clock`, the pointer to the hit counters) together at the start of one cache line
// of their own: after an idle gap every further line is a miss.
#[repr(C, align(64))]
struct Inner {
    /// Bumped after every change of `current`; threads re-read `current` when it moved.
    generation: AtomicU64,
    shard_mask: usize,
    /// Whether `clock` is the [`SystemClock`](crate::SystemClock), whose coarse reading
    /// the hot path uses.
    coarse_clock: bool,
    /// Its first field is the pointer to the hit counters.
    counters: Counters,
    grant: Arc<dyn Grant>,
    identity: GrantIdentity,
    key: String,
    store: SharedTokenStore,
    policy: Arc<dyn RefreshPolicy>,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn crate::clock::Clock>,
    settings: Settings,
    current: ArcSwapOption<Entry>,
    /// The renewal running now, if any, and its span.
    in_flight: Mutex<Option<(u64, SharedRenewal, tracing::Span)>>,
    next_renewal_id: AtomicU64,
    /// No token request starts before this; set after a token that arrived (nearly)
    /// expired, see [`fetch::MIN_RENEWAL_INTERVAL`].
    not_before: Mutex<Option<tokio::time::Instant>>,
    /// The error of the last renewal that left callers without a token, and until when
    /// (by the manager's clock) it is returned without a new request.
    last_failure: Mutex<Option<(Error, SystemTime)>>,
    /// What [`TokenManager::dpop_nonces`] returns without DPoP.
    #[cfg(feature = "dpop")]
    no_dpop_nonces: Arc<crate::dpop::DpopNonces>,
}

impl TokenManager {
    /// A builder; [`grant`](TokenManagerBuilder::grant) is the one required part.
    pub fn builder() -> TokenManagerBuilder {
        TokenManagerBuilder::new()
    }

    /// A valid token.
    ///
    /// Returns the cached token while it is fresh; inside the refresh window, returns it
    /// and starts one background renewal; once it has expired (or was invalidated), waits
    /// for the one renewal in flight.
    ///
    /// Renewals run on a spawned tokio task, so a caller that gives up does not cancel the
    /// request others are waiting for. A cached token can be read from any executor; a
    /// renewal needs a tokio runtime (outside one, `token()` returns a configuration error).
    ///
    /// # Errors
    /// The renewal's error when no valid token exists:
    /// [`ErrorKind::OAuth`](crate::ErrorKind::OAuth) for a refusal (`invalid_client`…),
    /// [`ErrorKind::Connect`](crate::ErrorKind::Connect),
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) or
    /// [`ErrorKind::Status`](crate::ErrorKind::Status) after the retries ran out, and so on.
    /// All callers waiting on the same renewal receive the same error.
    ///
    /// The returned future is small (a reference and, only while a renewal is awaited, a
    /// box), so awaiting it does not bloat the caller's own future.
    #[inline]
    pub fn token(&self) -> TokenFuture<'_> {
        TokenFuture::new(self)
    }

    /// [`token`](Self::token) as a `'static` future that owns a handle to the manager, for
    /// `tokio::spawn` or a future stored in a struct; `token()` borrows the manager, so
    /// `tokio::spawn(manager.token())` does not compile. Making it costs one reference-count
    /// increment; awaiting it, what [`token`](Self::token) costs.
    ///
    /// ```no_run
    /// # async fn run(manager: grantkit_core::TokenManager) -> grantkit_core::Result<()> {
    /// let task = tokio::spawn(manager.token_owned());
    /// let token = task.await.expect("the task ran")?;
    /// # let _ = token; Ok(()) }
    /// ```
    #[inline]
    pub fn token_owned(&self) -> OwnedTokenFuture {
        OwnedTokenFuture::new(self.clone())
    }

    /// Drops `token` if it is still the current one, so that the next [`token`](Self::token)
    /// call obtains a new one; call it when an API rejects the token (401, or 403 for some
    /// vendors). If the store still holds it, it is removed from the store too — or, when
    /// it carries a refresh token, kept there expired, so that every process sharing the
    /// store renews through the refresh token (a user's login is not lost).
    ///
    /// Invalidating a token that was already replaced does nothing, so many requests
    /// failing with the same token cause one renewal, not one each.
    pub async fn invalidate(&self, token: &Token) {
        let inner = &self.inner;
        let current = inner.current.load();
        let Some(entry) = current.as_ref() else {
            return;
        };
        if entry.revoked || !entry.token().same_access_token(token) {
            return;
        }
        let revoked = Arc::new(Entry {
            fast_until_nanos: 0,
            renew_at: UNIX_EPOCH,
            expires_at: UNIX_EPOCH,
            revoked: true,
            replicas: entry.replicas.clone(),
        });
        let previous = inner.current.compare_and_swap(&*current, Some(revoked));
        let swapped = match (previous.as_ref(), current.as_ref()) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        drop(previous);
        drop(current);
        if !swapped {
            return;
        }
        inner.generation.fetch_add(1, Ordering::Release);
        tracing::debug!(key = %inner.key, "token invalidated");
        match inner.store.load(&inner.key).await {
            // Only the access token was rejected: a refresh token stays in the store, on an
            // expired record, so that no process sharing it loses a user's login.
            Ok(Some(stored)) if stored.same_access_token(token) => {
                let (what, result) = if stored.refresh_token().is_some() {
                    (
                        "save",
                        inner.store.save(&inner.key, &stored.expired()).await,
                    )
                } else {
                    ("remove", inner.store.remove(&inner.key).await)
                };
                if let Err(e) = result {
                    inner.store_error(what, &e);
                }
            }
            Ok(_) => {}
            Err(e) => inner.store_error("load", &e),
        }
    }

    /// Makes `token`, obtained outside the manager (by an interactive login: a device
    /// authorization, an authorization code), the current token: saves it in the store
    /// under [`cache_key`](Self::cache_key), where every process with the same grant
    /// identity finds it, and serves it from memory. From then on the manager renews it as
    /// usual, through its refresh token when the grant does that
    /// ([`WithRefresh`](https://docs.rs/grantkit-grants/latest/grantkit_grants/struct.WithRefresh.html)).
    /// A failure remembered from an earlier renewal is forgotten.
    ///
    /// # Errors
    /// The store's error ([`ErrorKind::Store`](crate::ErrorKind::Store)): unlike a
    /// renewal, a login whose token could not be kept is worth reporting. The token is
    /// served from memory all the same.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::{Duration, SystemTime};
    /// use grantkit_core::{grant_fn, Error, GrantIdentity, Token, TokenManager};
    ///
    /// let manager = TokenManager::builder()
    ///     .grant(grant_fn(GrantIdentity::new("device_code", "https://a.example/t"), |_| async {
    ///         Err(Error::new(grantkit_core::ErrorKind::LoginRequired, "log in first"))
    ///     }))
    ///     .build()?;
    /// let now = SystemTime::now();
    /// manager.set_token(Token::new("user-at", now, now + Duration::from_secs(600))).await?;
    /// assert_eq!(manager.token().await?.access_token().secret(), "user-at");
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    pub async fn set_token(&self, token: Token) -> crate::error::Result<()> {
        let inner = &self.inner;
        *inner.failure_slot() = None;
        inner.install(&token, None);
        tracing::debug!(key = %inner.key, "token set from outside the manager");
        inner.store.save(&inner.key, &token).await
    }

    /// Forgets the current token: drops it from memory and removes it (with its refresh
    /// token) from the store, so that every process sharing the store has to obtain a new
    /// one — for a user login, log in again. Revoking the token at the server is a
    /// separate step (RFC 7009).
    ///
    /// # Errors
    /// The store's error ([`ErrorKind::Store`](crate::ErrorKind::Store)); the token is gone
    /// from memory all the same.
    pub async fn forget(&self) -> crate::error::Result<()> {
        let inner = &self.inner;
        inner.current.store(None);
        inner.generation.fetch_add(1, Ordering::Release);
        *inner.failure_slot() = None;
        tracing::debug!(key = %inner.key, "token forgotten");
        inner.store.remove(&inner.key).await
    }

    /// The cached token without any renewal: `None` if there is none, it expired, or it
    /// was invalidated.
    pub fn cached(&self) -> Option<Token> {
        let now = self.inner.clock.now();
        let entry = self.inner.current.load();
        entry
            .as_deref()
            .filter(|e| e.is_valid(now))
            .map(|e| e.token().clone())
    }

    /// A [`GrantContext`](crate::GrantContext) like the ones the manager gives its grant:
    /// its HTTP client (TLS settings, proxy, timeouts), clock, default lifetime and
    /// `danger_allow_http`, without a previous token. For steps that run outside a
    /// renewal, such as an interactive login whose token then goes to
    /// [`set_token`](Self::set_token).
    ///
    /// With DPoP the context signs with a new key (or the fixed one), which the token it
    /// obtains is bound to.
    pub fn grant_context(&self) -> crate::GrantContext {
        let inner = &self.inner;
        let cx = crate::GrantContext::new(Arc::clone(&inner.http), Arc::clone(&inner.clock))
            .with_default_lifetime(inner.settings.default_lifetime)
            .danger_allow_http(inner.settings.allow_http);
        #[cfg(feature = "dpop")]
        if let Some((dpop, nonces)) = &inner.settings.dpop {
            match dpop.key_for(None) {
                Ok(key) => return cx.with_dpop(key, Arc::clone(nonces)),
                Err(e) => tracing::error!(error = %e.report(), "no DPoP key for this context"),
            }
        }
        cx
    }

    /// The identity of the grant's tokens.
    pub fn identity(&self) -> &GrantIdentity {
        &self.inner.identity
    }

    /// The key under which the store keeps the token.
    pub fn cache_key(&self) -> &str {
        &self.inner.key
    }

    /// The store.
    pub fn store(&self) -> &SharedTokenStore {
        &self.inner.store
    }
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("TokenManager")
            .field("grant", &i.grant)
            .field("key", &i.key)
            .field("store", &i.store)
            .field("policy", &i.policy)
            .field("retry", &i.settings.retry)
            .field("cached", &self.cached())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests;

#[cfg(test)]
#[cfg(feature = "dpop")]
mod dpop_tests;
