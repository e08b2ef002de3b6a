//! The `TokenManager`: caching, single flight, refresh-ahead, retries and stores around a
//! grant.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tracing::Instrument as _;

use crate::clock::{COARSE_CLOCK_SLACK, Clock, SystemClock, unix_nanos};
use crate::error::{Error, ErrorKind, Result};
use crate::grant::{Grant, GrantContext, GrantIdentity};
use crate::http::{HttpClient, HttpRequest, HttpResponse, check_token_url};
use crate::policy::{Freshness, RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
use crate::store::{LockAttempt, MemoryStore, SharedTokenStore, TokenStore};
use crate::token::{DEFAULT_LIFETIME, Token, distrust_stored};

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
type Flight = Shared<BoxFuture<'static, Result<Token>>>;

/// The longest a server's `Retry-After` keeps new calls from sending a request after a
/// failed renewal (see [`TokenManagerBuilder::failure_cooldown`]).
const MAX_RETRY_AFTER_COOLDOWN: Duration = Duration::from_secs(60);

/// The least time between the start of a token request that obtained a token with less
/// than half this to live (`expires_in` of a second or less, or shorter than the round
/// trip) and the start of the next one: such tokens serve only the callers of the renewal
/// that obtained them, and without a pause every later call would fetch again. (Half, so
/// that a 2 s token, which lives 1 s once parsed, is renewed ahead as usual.)
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(1);

struct Inner {
    grant: Arc<dyn Grant>,
    identity: GrantIdentity,
    key: String,
    store: SharedTokenStore,
    policy: Arc<dyn RefreshPolicy>,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    default_lifetime: Duration,
    allow_http: bool,
    attempt_timeout: Duration,
    deadline: Duration,
    lock_ttl: Duration,
    on_token: Option<OnToken>,
    current: ArcSwapOption<Entry>,
    /// Bumped after every change of `current`; threads re-read `current` when it moved.
    generation: AtomicU64,
    flight: Mutex<Option<(u64, Flight)>>,
    next_flight_id: AtomicU64,
    /// No token request starts before this; set after a token that arrived (nearly)
    /// expired, see [`MIN_RENEWAL_INTERVAL`].
    not_before: Mutex<Option<tokio::time::Instant>>,
    /// The error of the last renewal that left callers without a token, and until when
    /// (by the manager's clock) it is returned without a new request.
    last_failure: Mutex<Option<(Error, SystemTime)>>,
    failure_cooldown: Duration,
    counters: Counters,
    shard_mask: usize,
}

/// The cached token, one replica per shard so that concurrent callers on different threads
/// increment different reference counts.
struct Entry {
    /// Until when the hot path may serve this entry, by the coarse clock.
    fast_until_nanos: u64,
    refresh_at: SystemTime,
    expires_at: SystemTime,
    revoked: bool,
    replicas: Box<[Token]>,
}

impl Entry {
    fn new(token: &Token, refresh_at: SystemTime, shards: usize) -> Self {
        let mut replicas = Vec::with_capacity(shards);
        replicas.push(token.clone());
        replicas.extend((1..shards).map(|_| token.replicate()));
        let refresh_at = refresh_at.min(token.expires_at());
        // The hot path reads a coarse clock: stop using it a safe distance before expiry.
        let fast_until =
            refresh_at.min(token.expires_at() - COARSE_CLOCK_SLACK.min(token.lifetime()));
        Entry {
            fast_until_nanos: unix_nanos(fast_until),
            refresh_at,
            expires_at: token.expires_at(),
            revoked: false,
            replicas: replicas.into_boxed_slice(),
        }
    }

    fn token(&self) -> &Token {
        &self.replicas[0]
    }

    fn is_valid(&self, now: SystemTime) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// A cache line of its own for a counter that one thread writes.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

#[derive(Default)]
struct Counters {
    hits: Box<[Padded]>,
    token_requests: AtomicU64,
    grant_calls: AtomicU64,
    tokens_fetched: AtomicU64,
    tokens_from_store: AtomicU64,
    refresh_failures: AtomicU64,
    store_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Each thread keeps the entries it last read, so that the hot path touches only this
/// thread's memory and one shared, read-mostly generation counter.
struct LocalCache {
    shard: usize,
    slots: Vec<LocalSlot>,
}

struct LocalSlot {
    manager: Weak<Inner>,
    generation: u64,
    entry: Option<Arc<Entry>>,
}

/// How many managers one thread remembers before it forgets the oldest.
const LOCAL_SLOTS: usize = 8;

impl LocalCache {
    fn new() -> Self {
        static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
        LocalCache {
            shard: NEXT_SHARD.fetch_add(1, Ordering::Relaxed),
            slots: Vec::new(),
        }
    }

    /// This thread's view of `inner.current` at `generation`.
    #[inline]
    fn entry(&mut self, inner: &Arc<Inner>, generation: u64) -> Option<&Arc<Entry>> {
        let me = Arc::as_ptr(inner);
        let index = match self.slots.iter().position(|s| s.manager.as_ptr() == me) {
            Some(i) if self.slots[i].generation == generation => i,
            Some(i) => {
                let slot = &mut self.slots[i];
                slot.entry = inner.current.load_full();
                slot.generation = generation;
                i
            }
            None => self.insert(inner, generation),
        };
        self.slots[index].entry.as_ref()
    }

    #[cold]
    fn insert(&mut self, inner: &Arc<Inner>, generation: u64) -> usize {
        // Forget managers that were dropped, then the oldest if still full.
        self.slots.retain(|s| s.manager.strong_count() > 0);
        if self.slots.len() >= LOCAL_SLOTS {
            self.slots.remove(0);
        }
        self.slots.push(LocalSlot {
            manager: Arc::downgrade(inner),
            generation,
            entry: inner.current.load_full(),
        });
        self.slots.len() - 1
    }
}

thread_local! {
    static LOCAL: RefCell<LocalCache> = RefCell::new(LocalCache::new());
}

/// This thread's shard number, assigned round-robin on first use.
fn shard_of_thread() -> usize {
    LOCAL
        .try_with(|l| l.try_borrow().map(|l| l.shard).unwrap_or(0))
        .unwrap_or(0)
}

fn shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores * 2).next_power_of_two().clamp(1, 64)
}

/// The future returned by [`TokenManager::token`].
#[must_use = "futures do nothing unless polled"]
pub struct TokenFuture<'a> {
    manager: &'a TokenManager,
    slow: Option<BoxFuture<'a, Result<Token>>>,
}

impl Future for TokenFuture<'_> {
    type Output = Result<Token>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let slow = match &mut this.slow {
            Some(slow) => slow,
            None => {
                if let Some(token) = this.manager.cached_fast() {
                    return Poll::Ready(Ok(token));
                }
                let shard = shard_of_thread() & this.manager.inner.shard_mask;
                this.slow.insert(this.manager.token_slow(shard).boxed())
            }
        };
        slow.as_mut().poll(cx)
    }
}

impl fmt::Debug for TokenFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFuture")
            .field("waiting_for_renewal", &self.slow.is_some())
            .finish_non_exhaustive()
    }
}

/// A snapshot of a manager's counters; see [`TokenManager::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `token()` calls answered from memory. Counted per thread without atomic
    /// read-modify-write, so under heavy contention between threads sharing a shard it may
    /// undercount slightly.
    pub cache_hits: u64,
    /// HTTP requests sent to the token endpoint (retries and refresh-token requests
    /// included).
    pub token_requests: u64,
    /// Attempts made through the grant (one per try, retries included).
    pub grant_calls: u64,
    /// New tokens obtained from the token endpoint.
    pub tokens_fetched: u64,
    /// Tokens taken from the store, renewed by another manager or process.
    pub tokens_from_store: u64,
    /// Renewals that ended without a new token (after their retries).
    pub refresh_failures: u64,
    /// Store operations that failed and were worked around.
    pub store_errors: u64,
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
    /// The renewal's error when no valid token exists: [`ErrorKind::OAuth`] for a refusal
    /// (`invalid_client`…), [`ErrorKind::Connect`]/[`ErrorKind::Timeout`]/
    /// [`ErrorKind::Status`] after the retries ran out, and so on. All callers waiting on
    /// the same renewal receive the same error.
    ///
    /// The returned future is small (a reference and, only while a renewal is awaited, a
    /// box), so awaiting it does not bloat the caller's own future.
    #[inline]
    pub fn token(&self) -> TokenFuture<'_> {
        TokenFuture {
            manager: self,
            slow: None,
        }
    }

    /// The hot path: this thread's cached entry, if it is fresh. No lock, no shared write.
    #[inline]
    fn cached_fast(&self) -> Option<Token> {
        let inner = &self.inner;
        let generation = inner.generation.load(Ordering::Acquire);
        let now = inner.clock.unix_nanos();
        LOCAL
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                let shard = local.shard & inner.shard_mask;
                let entry = local.entry(inner, generation)?;
                if now < entry.fast_until_nanos {
                    let token = entry.replicas[shard].clone();
                    inner.hit(shard);
                    Some(token)
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }

    async fn token_slow(&self, shard: usize) -> Result<Token> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if let Some(entry) = inner.current.load_full() {
            if now < entry.refresh_at {
                inner.hit(shard);
                return Ok(entry.replicas[shard].clone());
            }
            if entry.is_valid(now) {
                // Refresh ahead: renew in the background, serve the valid token meanwhile.
                drop(self.flight());
                inner.hit(shard);
                return Ok(entry.replicas[shard].clone());
            }
        }
        if let Some(running) = self.running_flight() {
            return running.await;
        }
        if let Some(error) = inner.recent_failure(now) {
            // A renewal just failed: repeat its outcome for a moment rather than send a
            // request per call to an endpoint that refuses (invalid_client) or is down.
            return Err(error);
        }
        self.flight().await
    }

    /// The renewal in progress, if any.
    fn running_flight(&self) -> Option<Flight> {
        let slot = self.inner.flight_slot();
        slot.as_ref()
            .filter(|(_, running)| running.peek().is_none())
            .map(|(_, running)| running.clone())
    }

    /// The running renewal, or a new one.
    fn flight(&self) -> Flight {
        let mut slot = self.inner.flight_slot();
        if let Some((_, running)) = slot.as_ref()
            && running.peek().is_none()
        {
            return running.clone();
        }
        // A renewal installs its token before it clears the slot, so a caller that saw no
        // fresh token a moment ago finds it here, under the lock, instead of renewing again.
        let now = self.inner.clock.now();
        if let Some(entry) = self.inner.current.load_full()
            && now < entry.refresh_at
        {
            return futures_util::future::ready(Ok(entry.token().clone()))
                .boxed()
                .shared();
        }
        let id = self.inner.next_flight_id.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let work = async move {
            let result = inner.renew().await;
            let mut slot = inner.flight_slot();
            if slot.as_ref().is_some_and(|(running, _)| *running == id) {
                *slot = None;
            }
            result
        };
        let flight: Flight = match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let task = handle.spawn(work);
                async move {
                    task.await.unwrap_or_else(|e| {
                        Err(
                            Error::new(ErrorKind::Other, "the token renewal task failed")
                                .with_source(e),
                        )
                    })
                }
                .boxed()
                .shared()
            }
            Err(_) => {
                // Timers, retries and HTTP all need tokio; fail instead of panicking.
                return futures_util::future::ready(Err(Error::config(
                    "grantkit needs a tokio runtime: call token() from within one",
                )))
                .boxed()
                .shared();
            }
        };
        *slot = Some((id, flight.clone()));
        flight
    }

    /// Drops `token` if it is still the current one, so that the next [`token`](Self::token)
    /// call obtains a new one; call it when an API rejects the token (401, or 403 for some
    /// vendors). The token is also removed from the store if the store still holds it.
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
            refresh_at: UNIX_EPOCH,
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
            Ok(Some(stored)) if stored.same_access_token(token) => {
                if let Err(e) = inner.store.remove(&inner.key).await {
                    inner.store_error("remove", &e);
                }
            }
            Ok(_) => {}
            Err(e) => inner.store_error("load", &e),
        }
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

    /// The manager's counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            cache_hits: c.hits.iter().map(|p| get(&p.0)).sum(),
            token_requests: get(&c.token_requests),
            grant_calls: get(&c.grant_calls),
            tokens_fetched: get(&c.tokens_fetched),
            tokens_from_store: get(&c.tokens_from_store),
            refresh_failures: get(&c.refresh_failures),
            store_errors: get(&c.store_errors),
        }
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
            .field("retry", &i.retry)
            .field("cached", &self.cached())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Inner {
    #[inline]
    fn hit(&self, shard: usize) {
        // One writer per shard in the common case: a plain load and store is enough and
        // avoids a locked instruction on the hot path.
        if let Some(p) = self.counters.hits.get(shard) {
            p.0.store(
                p.0.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        }
    }

    fn flight_slot(&self) -> MutexGuard<'_, Option<(u64, Flight)>> {
        // The slot holds a handle, replaced whole; a panic cannot leave it half-written.
        self.flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failure_slot(&self) -> MutexGuard<'_, Option<(Error, SystemTime)>> {
        self.last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last renewal's error while its cool-down lasts.
    fn recent_failure(&self, now: SystemTime) -> Option<Error> {
        let slot = self.failure_slot();
        slot.as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(error, _)| error.clone())
    }

    fn not_before_slot(&self) -> MutexGuard<'_, Option<tokio::time::Instant>> {
        self.not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn store_error(&self, op: &str, error: &Error) {
        bump(&self.counters.store_errors);
        tracing::warn!(key = %self.key, op, error = %error.report(), "token store failed; continuing without it");
    }

    /// The store's token, if there is one and it is trusted: a record that cannot be sent
    /// in a header, or whose times a skewed clock wrote (see `distrust_stored`), is
    /// removed (a store never replaces a record it thinks newer) and treated as absent.
    async fn load_store(&self) -> Option<Token> {
        let stored = match self.store.load(&self.key).await {
            Ok(t) => t?,
            Err(e) => {
                self.store_error("load", &e);
                return None;
            }
        };
        let distrust = match stored.validate() {
            Ok(()) => distrust_stored(&stored, self.clock.now()),
            Err(_) => Some("the stored token cannot be sent in an Authorization header"),
        };
        let Some(reason) = distrust else {
            return Some(stored);
        };
        tracing::warn!(key = %self.key, reason, "stored token not trusted; fetching a new one");
        if let Err(e) = self.store.remove(&self.key).await {
            self.store_error("remove", &e);
        }
        None
    }

    /// Installs `token` as the current one. `refresh_at` overrides the policy (used to
    /// retry a failed renewal later while serving a still valid token).
    fn install(&self, token: &Token, refresh_at: Option<SystemTime>) {
        let refresh_at = refresh_at.unwrap_or_else(|| self.policy.refresh_at(token));
        let shards = self.shard_mask + 1;
        self.current
            .store(Some(Arc::new(Entry::new(token, refresh_at, shards))));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// When to try again after a failed renewal while `token` is still valid: a quarter of
    /// its remaining life, between 10 ms and 30 s.
    fn retry_later(&self, token: &Token, now: SystemTime) -> SystemTime {
        let wait =
            (token.remaining(now) / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
        now + wait
    }

    /// Whether a token read from the store may be used instead of renewing.
    fn usable_from_store(&self, stored: &Token, current: Option<&Entry>, now: SystemTime) -> bool {
        let same_as_current = current.is_some_and(|e| e.token().same_access_token(stored));
        !same_as_current && self.policy.freshness(stored, now) == Freshness::Fresh
    }

    /// One renewal: the store, the lock, the grant with retries, and the fallbacks.
    async fn renew(self: &Arc<Self>) -> Result<Token> {
        let span = tracing::info_span!(
            "grantkit.renew",
            grant = %self.identity.kind(),
            client_id = self.identity.get_client_id().unwrap_or("-"),
            key = %self.key,
        );
        self.renew_inner().instrument(span).await
    }

    async fn renew_inner(self: &Arc<Self>) -> Result<Token> {
        let not_before = *self.not_before_slot();
        if let Some(at) = not_before {
            // The last token arrived (nearly) expired: pause instead of hammering.
            tokio::time::sleep_until(at).await;
        }
        let current = self.current.load_full();
        let now = self.clock.now();
        let mut previous = current.as_ref().map(|e| e.token().clone());
        let mut fallback = current
            .as_ref()
            .filter(|e| e.is_valid(now))
            .map(|e| e.token().clone());

        // Read through: another manager or process may have renewed it already.
        if let Some(stored) = self.load_store().await {
            if self.usable_from_store(&stored, current.as_deref(), now) {
                return Ok(self.adopt_from_store(stored));
            }
            if previous
                .as_ref()
                .is_none_or(|p| stored.issued_at() > p.issued_at())
            {
                // Newer than ours: its refresh token is the one to use.
                previous = Some(stored.clone());
                if !stored.is_expired(now) {
                    fallback = Some(stored);
                }
            }
        }

        // A lock that came free while this renewal waited for it.
        let mut freed = None;
        loop {
            let attempt = match freed.take() {
                Some(lock) => LockAttempt::Acquired(lock),
                None => match self.store.try_lock(&self.key, self.lock_ttl).await {
                    Ok(a) => a,
                    Err(e) => {
                        self.store_error("lock", &e);
                        LockAttempt::Unsupported
                    }
                },
            };
            match attempt {
                LockAttempt::Acquired(lock) => {
                    // Double check: the previous holder may have saved just before releasing.
                    let now = self.clock.now();
                    if let Some(stored) = self.load_store().await
                        && self.usable_from_store(&stored, current.as_deref(), now)
                        && previous
                            .as_ref()
                            .is_none_or(|p| !p.same_access_token(&stored))
                    {
                        if let Err(e) = lock.release().await {
                            self.store_error("unlock", &e);
                        }
                        return Ok(self.adopt_from_store(stored));
                    }
                    // Or it failed just before releasing: repeat its error for its
                    // cool-down rather than ask the endpoint again.
                    if let Some(record) = self.shared_failure().await {
                        if let Err(e) = lock.release().await {
                            self.store_error("unlock", &e);
                        }
                        return self.adopt_failure(&record, fallback);
                    }
                    let result = self.fetch_holding_lock(previous).await;
                    // Before unlocking, leave the outcome where waiters look: the new
                    // (rotated) token, or the failure, which they return at once.
                    match &result {
                        Ok(token) => {
                            if let Err(e) = self.store.save(&self.key, token).await {
                                self.store_error("save", &e);
                            }
                        }
                        Err(error) => self.share_failure(error).await,
                    }
                    if let Err(e) = lock.release().await {
                        self.store_error("unlock", &e);
                    }
                    return self.conclude(result, fallback);
                }
                LockAttempt::Held => {
                    if let Some(valid) = fallback.filter(|t| !t.is_expired(self.clock.now())) {
                        // Someone else is renewing; keep serving the valid token and look
                        // again a little later.
                        let now = self.clock.now();
                        self.install(&valid, Some(self.retry_later(&valid, now)));
                        return Ok(valid);
                    }
                    // Wait up to one lock lifetime from now: the holder delivers a token or
                    // its failure, or the lock comes free (released, or expired after the
                    // holder died) and this renewal takes it (never a busy loop).
                    match self.wait_for_holder(tokio::time::Instant::now()).await {
                        Waited::Token(token) => return Ok(self.adopt_from_store(token)),
                        Waited::Failed(record) => return self.adopt_failure(&record, None),
                        Waited::Free(lock) => freed = Some(lock),
                        // The lock outlived its lifetime (a frozen holder): try to take over.
                        Waited::TimedOut => {}
                    }
                    fallback = None;
                }
                LockAttempt::Unsupported => {
                    let result = self.fetch(previous).await;
                    if let Ok(token) = &result
                        && let Err(e) = self.store.save(&self.key, token).await
                    {
                        self.store_error("save", &e);
                    }
                    return self.conclude(result, fallback);
                }
            }
        }
    }

    /// Polls the store, with backoff, until the lock holder's token or recorded failure
    /// appears, the lock comes free (then it is taken), or the lock would have expired.
    async fn wait_for_holder(&self, started: tokio::time::Instant) -> Waited {
        let deadline = started + self.lock_ttl;
        let mut delay = Duration::from_millis(25);
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Waited::TimedOut;
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_millis(250));
            let current = self.current.load_full();
            if let Some(stored) = self.load_store().await {
                let now = self.clock.now();
                let same_as_revoked = current
                    .as_ref()
                    .is_some_and(|e| e.revoked && e.token().same_access_token(&stored));
                if !stored.is_expired(now) && !same_as_revoked {
                    return Waited::Token(stored);
                }
            }
            if let Some(record) = self.shared_failure().await {
                return Waited::Failed(record);
            }
            match self.store.try_lock(&self.key, self.lock_ttl).await {
                Ok(LockAttempt::Acquired(lock)) => return Waited::Free(lock),
                Ok(_) => {}
                Err(e) => self.store_error("lock", &e),
            }
        }
    }

    fn adopt_from_store(&self, token: Token) -> Token {
        bump(&self.counters.tokens_from_store);
        tracing::debug!(
            expires_in_s = token.remaining(self.clock.now()).as_secs(),
            "token taken from the store"
        );
        self.install(&token, None);
        token
    }

    fn conclude(&self, result: Result<Token>, fallback: Option<Token>) -> Result<Token> {
        match result {
            Ok(token) => {
                *self.failure_slot() = None;
                bump(&self.counters.tokens_fetched);
                tracing::info!(
                    expires_in_s = token.remaining(self.clock.now()).as_secs(),
                    "new token obtained"
                );
                self.install(&token, None);
                if let Some(callback) = &self.on_token {
                    callback(&token);
                }
                Ok(token)
            }
            Err(error) => {
                bump(&self.counters.refresh_failures);
                let now = self.clock.now();
                match fallback.filter(|t| !t.is_expired(now)) {
                    Some(valid) => {
                        tracing::warn!(
                            error = %error.report(),
                            expires_in_s = valid.remaining(now).as_secs(),
                            "token renewal failed; serving the current token until it expires"
                        );
                        self.install(&valid, Some(self.retry_later(&valid, now)));
                        Ok(valid)
                    }
                    None => {
                        // The callers receive this error: a warning as well would say it
                        // twice (the CLI prints warnings).
                        tracing::debug!(error = %error.report(), "token renewal failed; the callers get the error");
                        // A server's Retry-After is honoured across calls too, up to a minute.
                        let cooldown = self.cooldown_for(&error);
                        if !cooldown.is_zero() {
                            *self.failure_slot() = Some((error.clone(), now + cooldown));
                        }
                        Err(error)
                    }
                }
            }
        }
    }

    /// Calls the grant, retrying retryable failures.
    async fn fetch(self: &Arc<Self>, previous: Option<Token>) -> Result<Token> {
        let http: Arc<dyn HttpClient> = Arc::new(CountingHttp {
            inner: Arc::clone(&self.http),
            manager: Arc::downgrade(self),
        });
        let cx = GrantContext::new(http, Arc::clone(&self.clock))
            .with_previous(previous)
            .with_default_lifetime(self.default_lifetime)
            .danger_allow_http(self.allow_http);
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut attempt = 1;
        loop {
            bump(&self.counters.grant_calls);
            let started = tokio::time::Instant::now();
            let left = deadline.saturating_duration_since(started);
            let result =
                tokio::time::timeout(self.attempt_timeout.min(left), self.grant.fetch_token(&cx))
                    .await
                    .unwrap_or_else(|_| Err(self.timed_out(left)))
                    // A grant may build its token by hand: nothing that cannot go into a
                    // header is ever handed out.
                    .and_then(|token| token.validate().map(|()| token));
            let error = match result {
                Ok(token) => {
                    let short_lived = token.remaining(self.clock.now()) < MIN_RENEWAL_INTERVAL / 2;
                    if short_lived {
                        tracing::warn!(
                            lifetime_ms = token.lifetime().as_millis() as u64,
                            "the token endpoint issued a token that is expired or about to be; \
                             it goes to the callers waiting now, and the next request waits"
                        );
                    }
                    *self.not_before_slot() = short_lived.then_some(started + MIN_RENEWAL_INTERVAL);
                    return Ok(token);
                }
                Err(e) => e,
            };
            let delay = self.retry.delay_after(attempt, &error);
            match delay {
                Some(delay) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %error.report(), "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Some(delay) => {
                    tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %error.report(), "token request failed; the next attempt would end past the deadline");
                    return Err(error);
                }
                None => return Err(error),
            }
        }
    }

    /// The error of an attempt cut short: by the attempt timeout, or by the renewal's
    /// deadline when less than an attempt's time was `left`.
    fn timed_out(&self, left: Duration) -> Error {
        let message = if left < self.attempt_timeout {
            format!(
                "no token within the renewal deadline of {:?}",
                self.deadline
            )
        } else {
            format!(
                "the token request did not complete within the attempt timeout of {:?}",
                self.attempt_timeout
            )
        };
        Error::new(ErrorKind::Timeout, message)
    }
}

/// Counts the requests a grant sends.
struct CountingHttp {
    inner: Arc<dyn HttpClient>,
    manager: std::sync::Weak<Inner>,
}

impl fmt::Debug for CountingHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl HttpClient for CountingHttp {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        if let Some(m) = self.manager.upgrade() {
            bump(&m.counters.token_requests);
        }
        self.inner.execute(request).await
    }
}

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
///     .retry(RetryPolicy::default().max_attempts(3))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct TokenManagerBuilder {
    grant: Option<Arc<dyn Grant>>,
    store: Option<SharedTokenStore>,
    policy: Option<Arc<dyn RefreshPolicy>>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    retry: RetryPolicy,
    default_lifetime: Duration,
    allow_http: bool,
    attempt_timeout: Duration,
    deadline: Duration,
    lock_ttl: Duration,
    failure_cooldown: Duration,
    on_token: Option<OnToken>,
    #[cfg(feature = "reqwest")]
    proxy: Option<String>,
    pending_error: Option<Error>,
}

/// The default of [`TokenManagerBuilder::attempt_timeout`].
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of [`TokenManagerBuilder::deadline`].
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

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
            retry: RetryPolicy::default(),
            default_lifetime: DEFAULT_LIFETIME,
            allow_http: false,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            lock_ttl: Duration::from_secs(30),
            failure_cooldown: Duration::from_secs(1),
            on_token: None,
            #[cfg(feature = "reqwest")]
            proxy: None,
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

    /// Uses your configured `reqwest::Client` (see
    /// [`ReqwestHttpClient::with_client`](crate::ReqwestHttpClient::with_client): configure
    /// it not to follow redirects, or use
    /// [`reqwest_client_builder`](Self::reqwest_client_builder)).
    #[cfg(feature = "reqwest")]
    pub fn reqwest_client(self, client: reqwest::Client) -> Self {
        self.http_client(crate::http::ReqwestHttpClient::with_client(client))
    }

    /// Builds the HTTP client from your `reqwest::ClientBuilder`, with redirects turned
    /// off (see [`ReqwestHttpClient::from_builder`](crate::ReqwestHttpClient::from_builder)).
    /// A failure to build is reported by [`build`](Self::build).
    #[cfg(feature = "reqwest")]
    pub fn reqwest_client_builder(mut self, builder: reqwest::ClientBuilder) -> Self {
        match crate::http::ReqwestHttpClient::from_builder(builder) {
            Ok(client) => self.http_client(client),
            Err(e) => {
                self.pending_error = Some(e);
                self
            }
        }
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// How failed requests are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The lifetime of tokens whose response says nothing about expiry (default 1 h).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The longest one attempt of the grant may take, HTTP included (default 10 s;
    /// `timeout_secs` in a profile). The default HTTP client's own timeout is set a second
    /// later, as a backstop.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
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
        self.deadline = deadline;
        self
    }

    /// Sends `https` token requests to non-loopback hosts through `proxy` instead of the
    /// proxy the environment names (`HTTPS_PROXY`, `ALL_PROXY`). Loopback and plain `http`
    /// requests never go through a proxy; see [`ReqwestHttpClient`](crate::ReqwestHttpClient).
    /// Applies to the default HTTP client: [`build`](Self::build) fails when a client of
    /// your own is set too.
    #[cfg(feature = "reqwest")]
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// How long a store's cross-process refresh lock lives (default 30 s); waiters take
    /// over after it.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long the error of a renewal that left callers without a token is returned to
    /// new callers before another request is made (default 1 s; zero disables it). Without
    /// it, every call would send a request to an endpoint that refuses the credentials or
    /// is down. When the server sent `Retry-After`, that wait (up to 60 s) is used if
    /// longer.
    pub fn failure_cooldown(mut self, cooldown: Duration) -> Self {
        self.failure_cooldown = cooldown;
        self
    }

    /// Allows plain `http://` token URLs to hosts other than loopback.
    ///
    /// # Security
    /// Credentials and tokens then cross the network in clear.
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Runs `callback` with every new token obtained from the token endpoint (not those
    /// taken from the store); to persist or audit. It runs on the renewal task: keep it
    /// short and do not log the token.
    pub fn on_token(mut self, callback: impl Fn(&Token) + Send + Sync + 'static) -> Self {
        self.on_token = Some(Arc::new(callback));
        self
    }

    /// The manager.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when no grant was given, the token URL is plain `http://` to a non-loopback host
    /// without [`danger_allow_http`](Self::danger_allow_http), or the default HTTP client
    /// cannot be built.
    pub fn build(self) -> Result<TokenManager> {
        if let Some(e) = self.pending_error {
            return Err(e);
        }
        let grant = self
            .grant
            .ok_or_else(|| Error::config("no grant configured: call .grant(…) on the builder"))?;
        let identity = grant.identity();
        if url::Url::parse(identity.token_url()).is_ok() {
            check_token_url(identity.token_url(), self.allow_http)?;
        }
        #[cfg(feature = "reqwest")]
        let http = match (self.http, &self.proxy) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "a proxy was set for the default HTTP client, but a client of your own is \
                     used: configure the proxy on that client",
                ));
            }
            (Some(h), None) => h,
            (None, proxy) => default_http(proxy.as_deref(), self.attempt_timeout)?,
        };
        #[cfg(not(feature = "reqwest"))]
        let http = match self.http {
            Some(h) => h,
            None => default_http()?,
        };
        let shards = shard_count();
        let counters = Counters {
            hits: (0..shards).map(|_| Padded::default()).collect(),
            ..Counters::default()
        };
        Ok(TokenManager {
            inner: Arc::new(Inner {
                key: identity.cache_key(),
                identity,
                grant,
                store: self
                    .store
                    .unwrap_or_else(|| SharedTokenStore::new(MemoryStore::new())),
                policy: self
                    .policy
                    .unwrap_or_else(|| Arc::new(RefreshBeforeExpiry::default())),
                http,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                retry: self.retry,
                default_lifetime: self.default_lifetime,
                allow_http: self.allow_http,
                attempt_timeout: self.attempt_timeout,
                deadline: self.deadline,
                lock_ttl: self.lock_ttl,
                on_token: self.on_token,
                current: ArcSwapOption::empty(),
                generation: AtomicU64::new(0),
                flight: Mutex::new(None),
                next_flight_id: AtomicU64::new(0),
                not_before: Mutex::new(None),
                last_failure: Mutex::new(None),
                failure_cooldown: self.failure_cooldown,
                counters,
                shard_mask: shards - 1,
            }),
        })
    }
}

/// The default HTTP client: built on its first request (see [`crate::ReqwestHttpClient`]),
/// so that a manager that finds its token in a store builds none.
#[cfg(feature = "reqwest")]
fn default_http(proxy: Option<&str>, timeout: Duration) -> Result<Arc<dyn HttpClient>> {
    let client = match proxy {
        Some(proxy) => crate::http::ReqwestHttpClient::with_proxy(proxy)?,
        None => crate::http::ReqwestHttpClient::new()?,
    };
    // The manager cuts each attempt at `timeout` itself; the client's own timeout is a
    // backstop a little later, so that the manager's clearer error is the one seen.
    Ok(Arc::new(client.timeout(timeout + Duration::from_secs(1))))
}

#[cfg(not(feature = "reqwest"))]
fn default_http() -> Result<Arc<dyn HttpClient>> {
    Err(Error::config(
        "no HTTP client: enable the `reqwest` feature or call .http_client(…)",
    ))
}

impl fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("grant", &self.grant)
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

mod shared_failure;

use shared_failure::Waited;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod trust_tests;
