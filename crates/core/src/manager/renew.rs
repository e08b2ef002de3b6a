//! One renewal: read through the store, take the fleet's lock (or wait for its holder),
//! fetch, and conclude: install the new token, or serve the valid one, or share the
//! failure and repeat it for its cool-down.
//!
//! Failures are shared through the store: a lock holder whose renewal ends without a token
//! leaves its error where the processes waiting for the lock see it, so that they return
//! it at once instead of queueing behind the lock and asking the endpoint one by one.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};

use tracing::Instrument as _;

use super::stats::bump;
use super::{Entry, Inner};
use crate::error::{Error, Result};
use crate::failure::FailureRecord;
use crate::policy::Freshness;
use crate::store::{LockAttempt, StoreLock};
use crate::token::{Token, distrust_stored};

/// The longest a server's `Retry-After` keeps new calls from sending a request after a
/// failed renewal (see `TokenManagerBuilder::failure_cooldown`).
const MAX_RETRY_AFTER_COOLDOWN: Duration = Duration::from_secs(60);

/// Polling for a lock holder's outcome, when the store cannot notify: the first delay,
/// doubled up to the second.
const POLL_FIRST: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(250);
/// The same when the store notifies: polling is then only the fallback for a holder that
/// died (its lock expires without a notification) or a lost message.
const WATCHED_POLL_FIRST: Duration = Duration::from_millis(100);
const WATCHED_POLL_MAX: Duration = Duration::from_secs(1);

/// Where a renewal starts from, after reading through the store.
struct Start {
    /// The cached entry when the renewal began.
    current: Option<Arc<Entry>>,
    /// The token whose refresh token the grant may use: ours, or a newer one the store
    /// holds.
    previous: Option<Token>,
    /// A still valid token to serve if the renewal fails.
    fallback: Option<Token>,
}

/// How a wait for another lock holder ended.
enum Waited {
    /// The holder saved a token.
    Token(Token),
    /// The holder recorded a failure.
    Failed(FailureRecord),
    /// The lock came free (released, or expired after a holder died) and is now ours.
    Free(StoreLock),
    /// A lock lifetime passed with the lock still taken (a frozen holder).
    TimedOut,
}

impl Inner {
    /// The span of one renewal: a root span (a renewal serves every caller that waits for
    /// it, not the one that started it), which the waiters' spans follow from.
    pub(super) fn renewal_span(&self) -> tracing::Span {
        tracing::info_span!(
            parent: None,
            "grantkit.renew",
            grant = %self.identity.kind(),
            client_id = self.identity.client_id().unwrap_or("-"),
            key = %self.key,
        )
    }

    /// One renewal: the store, the lock, the grant with retries, and the fallbacks.
    pub(super) async fn renew(self: &Arc<Self>, span: tracing::Span) -> Result<Token> {
        let marks = self.renewal_marks();
        let started = tokio::time::Instant::now();
        let result = self.renew_inner().instrument(span).await;
        self.record_renewal(marks, started.elapsed());
        result
    }

    async fn renew_inner(self: &Arc<Self>) -> Result<Token> {
        let not_before = *self.not_before_slot();
        if let Some(at) = not_before {
            // The last token arrived (nearly) expired: pause instead of hammering.
            tokio::time::sleep_until(at).await;
        }
        match self.read_through().await {
            Ok(token) => Ok(token),
            Err(start) => self.renew_under_lock(start).await,
        }
    }

    /// The store's token if another manager or process renewed it already; else where the
    /// renewal starts from (a newer stored token's refresh token is the one to use).
    async fn read_through(&self) -> std::result::Result<Token, Start> {
        let current = self.current.load_full();
        let now = self.clock.now();
        let mut previous = current.as_ref().map(|e| e.token().clone());
        let mut fallback = current
            .as_ref()
            .filter(|e| e.is_valid(now))
            .map(|e| e.token().clone());
        if let Some(stored) = self.load_store().await {
            // The store may have taken its time (a fail-over, a timeout): judge the token
            // by the clock after the read, not before.
            let now = self.clock.now();
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
        Err(Start {
            current,
            previous,
            fallback,
        })
    }

    /// Renews under the store's lock: as its holder, or by waiting for the holder's
    /// outcome; without a lock when the store has none.
    async fn renew_under_lock(self: &Arc<Self>, mut start: Start) -> Result<Token> {
        // A lock that came free while this renewal waited for it.
        let mut freed = None;
        loop {
            let attempt = match freed.take() {
                Some(lock) => LockAttempt::Acquired(lock),
                None => match self.store.try_lock(&self.key, self.settings.lock_ttl).await {
                    Ok(a) => a,
                    Err(e) => {
                        self.store_error("lock", &e);
                        LockAttempt::Unsupported
                    }
                },
            };
            match attempt {
                LockAttempt::Acquired(lock) => return self.renew_holding_lock(lock, start).await,
                LockAttempt::Held => {
                    if let Some(valid) = start
                        .fallback
                        .take()
                        .filter(|t| !t.is_expired(self.clock.now()))
                    {
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
                }
                LockAttempt::Unsupported => {
                    let result = self.fetch(start.previous).await;
                    if let Ok(token) = &result
                        && let Err(e) = self.store.save(&self.key, token).await
                    {
                        self.store_error("save", &e);
                    }
                    return self.conclude(result, start.fallback);
                }
            }
        }
    }

    /// Renews holding the store's lock, and leaves the outcome where waiters look before
    /// releasing it.
    async fn renew_holding_lock(self: &Arc<Self>, lock: StoreLock, start: Start) -> Result<Token> {
        // Double check: the previous holder may have saved just before releasing. (Judged
        // by the clock after the read: the store may have been slow.)
        if let Some(stored) = self.load_store().await
            && self.usable_from_store(&stored, start.current.as_deref(), self.clock.now())
            && start
                .previous
                .as_ref()
                .is_none_or(|p| !p.same_access_token(&stored))
        {
            self.release(lock).await;
            return Ok(self.adopt_from_store(stored));
        }
        // Or it failed just before releasing: repeat its error for its cool-down rather
        // than ask the endpoint again.
        if let Some(record) = self.shared_failure().await {
            self.release(lock).await;
            return self.adopt_failure(&record, start.fallback);
        }
        let result = self.fetch_holding_lock(start.previous).await;
        // Before unlocking, leave the outcome where waiters look: the new (rotated) token,
        // or the failure, which they return at once.
        match &result {
            Ok(token) => {
                if let Err(e) = self.store.save(&self.key, token).await {
                    self.store_error("save", &e);
                }
            }
            Err(error) => self.share_failure(error).await,
        }
        self.release(lock).await;
        self.conclude(result, start.fallback)
    }

    async fn release(&self, lock: StoreLock) {
        if let Err(e) = lock.release().await {
            self.store_error("unlock", &e);
        }
    }

    /// Waits until the lock holder's token or recorded failure appears, the lock comes free
    /// (then it is taken), or the lock would have expired. With a store that notifies
    /// ([`TokenStore::watch`](crate::TokenStore::watch)) the store is read after each
    /// notification, and polled only as a fallback (a holder that died, a lost message);
    /// otherwise it is polled with backoff.
    async fn wait_for_holder(&self, started: tokio::time::Instant) -> Waited {
        let deadline = started + self.settings.lock_ttl;
        let mut watch = match self.store.watch(&self.key).await {
            Ok(watch) => watch,
            Err(e) => {
                self.store_error("watch", &e);
                None
            }
        };
        // Subscribed: a token the holder saved before that is read at once, without
        // waiting. Only the token: a failure recorded or a lock released in that same
        // instant (rare, and announced too) waits for the fallback poll, so that a waiter
        // costs the store one read more than a polling one, not three.
        let mut token_only = watch.is_some();
        let mut delay = if watch.is_some() {
            Duration::ZERO
        } else {
            POLL_FIRST
        };
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Waited::TimedOut;
            }
            let wait = delay.min(deadline - now);
            match watch.as_mut() {
                Some(w) if !wait.is_zero() => {
                    match tokio::time::timeout(wait, w.changed()).await {
                        // A notification: read at once, and keep the fallback's pace.
                        Ok(true) => {}
                        // The subscription is gone: poll from now on.
                        Ok(false) => {
                            watch = None;
                            delay = POLL_FIRST;
                        }
                        Err(_) => delay = (delay * 2).min(WATCHED_POLL_MAX),
                    }
                }
                Some(_) => delay = WATCHED_POLL_FIRST,
                None => {
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(POLL_MAX);
                }
            }
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
            if std::mem::take(&mut token_only) {
                continue;
            }
            if let Some(record) = self.shared_failure().await {
                return Waited::Failed(record);
            }
            match self.store.try_lock(&self.key, self.settings.lock_ttl).await {
                Ok(LockAttempt::Acquired(lock)) => return Waited::Free(lock),
                Ok(_) => {}
                Err(e) => self.store_error("lock", &e),
            }
        }
    }

    /// Installs a token another manager or process saved, and counts it.
    fn adopt_from_store(&self, token: Token) -> Token {
        bump(&self.counters.tokens_from_store);
        tracing::debug!(
            expires_in_s = token.remaining(self.clock.now()).as_secs(),
            "token taken from the store"
        );
        self.install(&token, None);
        token
    }

    /// Ends a renewal with its outcome: installs a new token (and runs `on_token`), or on
    /// failure serves the still valid `fallback`, or returns the error and repeats it to
    /// new callers for the cool-down.
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
                if let Some(callback) = &self.settings.on_token {
                    callback(&token);
                }
                Ok(token)
            }
            Err(error) => {
                bump(&self.counters.renewal_failures);
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
            Ok(()) => self
                .distrust_binding(&stored)
                .or_else(|| distrust_stored(&stored, self.clock.now())),
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

    /// Why a stored token's DPoP binding does not fit this manager: a `DPoP` token needs a
    /// key this manager would sign with (the store key keeps DPoP and bearer managers
    /// apart, so this is a planted or foreign record).
    fn distrust_binding(&self, stored: &Token) -> Option<&'static str> {
        #[cfg(feature = "dpop")]
        {
            let fits = match (&self.settings.dpop, stored.dpop_key()) {
                (Some((dpop, _)), Some(key)) => dpop.accepts(key),
                (Some(_), None) => !stored.is_dpop(),
                (None, _) => !stored.is_dpop() && stored.dpop_key().is_none(),
            };
            (!fits).then_some("the stored token's DPoP binding does not match this manager's")
        }
        #[cfg(not(feature = "dpop"))]
        stored
            .is_dpop()
            .then_some("the stored token is a DPoP token, and this manager has no DPoP")
    }

    /// When to try again after a failed renewal while `token` is still valid: a quarter of
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

    /// The last renewal's error, and until when it holds.
    pub(super) fn failure_slot(&self) -> MutexGuard<'_, Option<(Error, SystemTime)>> {
        self.last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last renewal's error while its cool-down lasts.
    pub(super) fn recent_failure(&self, now: SystemTime) -> Option<Error> {
        let slot = self.failure_slot();
        slot.as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(error, _)| error.clone())
    }

    /// Counts and logs a store failure that the manager works around.
    pub(super) fn store_error(&self, op: &str, error: &Error) {
        bump(&self.counters.store_errors);
        self.record_store_error(op);
        tracing::warn!(key = %self.key, op, error = %error.report(), "token store failed; continuing without it");
    }

    /// How long the error of a failed renewal is repeated without a new request: the
    /// configured cool-down, or the server's `Retry-After` (up to a minute) when longer.
    fn cooldown_for(&self, error: &Error) -> Duration {
        match error.retry_after() {
            Some(wait) if !self.settings.failure_cooldown.is_zero() => self
                .settings
                .failure_cooldown
                .max(wait.min(MAX_RETRY_AFTER_COOLDOWN)),
            _ => self.settings.failure_cooldown,
        }
    }

    /// Records `error` in the store for the cool-down, so that processes waiting for the
    /// lock see it. Called by a lock holder before it releases the lock.
    async fn share_failure(&self, error: &Error) {
        let cooldown = self.cooldown_for(error);
        if cooldown.is_zero() {
            return;
        }
        let record = FailureRecord::from_error(error, self.clock.now() + cooldown);
        if let Err(e) = self.store.save_failure(&self.key, &record, cooldown).await {
            self.store_error("save failure", &e);
        }
    }

    /// A failure another process recorded, if it still holds by this manager's clock.
    /// A record claiming to hold for longer than this manager's longest cool-down (a
    /// clock far ahead, or a planted record) is not trusted. A manager without a
    /// cool-down neither records nor honours failures.
    async fn shared_failure(&self) -> Option<FailureRecord> {
        if self.settings.failure_cooldown.is_zero() {
            return None;
        }
        match self.store.load_failure(&self.key).await {
            Ok(Some(record)) => {
                let now = self.clock.now();
                let longest = self.settings.failure_cooldown.max(MAX_RETRY_AFTER_COOLDOWN);
                if record.until() > now + longest {
                    tracing::warn!(
                        "ignoring a recorded failure that claims to hold longer than any cool-down"
                    );
                    return None;
                }
                (record.until() > now).then_some(record)
            }
            Ok(None) => None,
            Err(e) => {
                self.store_error("load failure", &e);
                None
            }
        }
    }

    /// Ends a renewal with a failure another process recorded: serves the still valid
    /// `fallback` if there is one, else returns the error and repeats it to new callers
    /// until the record's end (capped at this manager's own longest cool-down).
    fn adopt_failure(&self, record: &FailureRecord, fallback: Option<Token>) -> Result<Token> {
        let error = record.to_error();
        let now = self.clock.now();
        if let Some(valid) = fallback.filter(|t| !t.is_expired(now)) {
            tracing::debug!(error = %error, "another process's renewal failed; serving the current token");
            self.install(&valid, Some(self.retry_later(&valid, now)));
            return Ok(valid);
        }
        bump(&self.counters.renewal_failures);
        let longest = self.settings.failure_cooldown.max(MAX_RETRY_AFTER_COOLDOWN);
        let until = record.until().min(now + longest);
        tracing::warn!(
            error = %error,
            holds_for_ms = until.duration_since(now).unwrap_or_default().as_millis() as u64,
            "token renewal failed in another process sharing the store; returning its error"
        );
        if until > now {
            *self.failure_slot() = Some((error.clone(), until));
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod trust_tests;

#[cfg(test)]
mod watch_tests;
