//! The `TokenStore` trait, and the in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::failure::FailureRecord;
use crate::token::Token;

/// Keeps tokens by key, so that tasks, processes and machines can share them.
///
/// Keys come from [`GrantIdentity::cache_key`](crate::GrantIdentity::cache_key) and are
/// plain ASCII without secrets.
///
/// # Contract
/// - [`load`](TokenStore::load) returns what the last successful [`save`](TokenStore::save)
///   wrote under the key, or `None`. A record that cannot be read (corrupt, truncated,
///   undecryptable) is `Ok(None)` after logging, not an error: the manager then fetches a
///   new token and overwrites it. Expired tokens may be returned; the manager checks.
/// - `save` never replaces a token with an older one: when the stored token was issued
///   later than `token`, the store keeps it. This is what keeps a slow writer from undoing
///   a newer, possibly rotated, refresh token.
/// - [`try_lock`](TokenStore::try_lock) is optional. A store that implements it gives out at
///   most one unexpired lock per key at a time, across every process using it; a lock
///   expires by itself after its `ttl`, and releasing a lock that already expired (and may
///   now be someone else's) does nothing.
/// - [`save_failure`](TokenStore::save_failure) and [`load_failure`](TokenStore::load_failure)
///   are optional (by default nothing is kept) and go with `try_lock`: a lock holder whose
///   renewal ends without a token records its failure before it releases the lock, and
///   the processes waiting for that lock return the recorded error at once instead of
///   waiting out the lock and asking the token endpoint again. `load_failure` returns the
///   record last saved under the key until its `ttl` has passed, then `None`; records
///   are kept apart from tokens and locks (saving, loading or removing a token, or taking
///   a lock, never reads or changes a failure, and the other way round). A token saved
///   under the key takes precedence over a recorded failure: the manager reads the token
///   first and uses the failure only when there is no usable token.
/// - Errors are [`ErrorKind::Store`](crate::ErrorKind::Store). The manager logs them and
///   carries on with its memory and the token endpoint: a store outage never fails callers
///   who could be served otherwise.
///
/// # Implementing
/// Implement the three required methods; implement `try_lock` if the store is shared
/// between processes, and then `save_failure`/`load_failure` too, so that a fleet facing a
/// refusing or unreachable token endpoint does not queue behind the lock. Run the
/// conformance suite of `grantkit-testkit` against it.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The token stored under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<Token>>;

    /// Stores `token` under `key`, unless a token issued later is already there.
    async fn save(&self, key: &str, token: &Token) -> Result<()>;

    /// Removes whatever is stored under `key`.
    async fn remove(&self, key: &str) -> Result<()>;

    /// Tries to take the refresh lock for `key` for at most `ttl`, without waiting.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        let _ = (key, ttl);
        Ok(LockAttempt::Unsupported)
    }

    /// Records that the renewal for `key` failed, for other processes to see for `ttl`
    /// (the failing manager's failure cool-down). By default nothing is recorded.
    async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
        let _ = (key, failure, ttl);
        Ok(())
    }

    /// The failure last recorded for `key`, until its `ttl` has passed. By default `None`.
    /// An unreadable record is `Ok(None)` after logging, like an unreadable token.
    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        let _ = key;
        Ok(None)
    }

    /// Whether the secrets this store keeps stay out of reach at rest: it writes nothing
    /// outside the process (memory), or it encrypts what it writes. By default `false`.
    /// A manager with DPoP refuses a store that answers `false` unless told to write the
    /// private key in clear (see [`Dpop`](crate::dpop)).
    fn protects_secrets_at_rest(&self) -> bool {
        false
    }

    /// Starts watching `key`, for a manager waiting for another process's lock holder: the
    /// returned [`StoreWatch`] wakes when a token or a failure was saved under `key`, or
    /// its lock was released. `Ok(None)` (the default) means the store cannot notify; the
    /// manager then polls with backoff.
    ///
    /// The watch is a hint: the manager reads the store after every wake-up, and reads it
    /// again now and then without one, so a lost or spurious notification costs time, not
    /// correctness. Changes made after `watch` returned must wake it; changes made before
    /// may or may not (the manager reads the store once right after subscribing).
    async fn watch(&self, key: &str) -> Result<Option<StoreWatch>> {
        let _ = key;
        Ok(None)
    }
}

/// Notifications of changes under one key of a store; see [`TokenStore::watch`].
#[derive(Debug)]
pub struct StoreWatch(Box<dyn WatchChanges>);

impl StoreWatch {
    /// Wraps a store's subscription.
    pub fn new(watch: impl WatchChanges + 'static) -> Self {
        StoreWatch(Box::new(watch))
    }

    /// Waits for the next change; `false` once no more notifications can come (the
    /// subscription was lost), after which the manager polls.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await
    }
}

/// One store's subscription to changes under a key; implemented by stores that support
/// [`TokenStore::watch`].
#[async_trait]
pub trait WatchChanges: Send + Sync + fmt::Debug {
    /// Waits for the next change under the key; `false` once the subscription ended and
    /// no more notifications will come. Must be cancel-safe: the manager races it against
    /// a timer.
    async fn changed(&mut self) -> bool;
}

/// The outcome of [`TokenStore::try_lock`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LockAttempt {
    /// The lock is ours until released or expired.
    Acquired(StoreLock),
    /// Someone else holds the lock.
    Held,
    /// The store has no locks; the manager coordinates within this process only.
    Unsupported,
}

/// A held refresh lock. Release it with [`StoreLock::release`]; dropping it without
/// releasing leaves the lock to expire by itself.
#[derive(Debug)]
pub struct StoreLock(Box<dyn LockRelease>);

impl StoreLock {
    /// Wraps a store's lock handle.
    pub fn new(handle: impl LockRelease + 'static) -> Self {
        StoreLock(Box::new(handle))
    }

    /// Releases the lock if it is still ours.
    ///
    /// # Errors
    /// The store's error; the lock then expires by itself.
    pub async fn release(self) -> Result<()> {
        self.0.release().await
    }
}

/// Releases one store's lock; implemented by stores that support locking.
#[async_trait]
pub trait LockRelease: Send + Sync + fmt::Debug {
    /// Releases the lock if it is still held by this handle.
    async fn release(self: Box<Self>) -> Result<()>;
}

/// `dyn TokenStore`, for use in type positions.
pub type DynTokenStore = dyn TokenStore;

/// A cheap-to-clone handle to any token store.
#[derive(Clone, Debug)]
pub struct SharedTokenStore(Arc<dyn TokenStore>);

impl SharedTokenStore {
    /// Wraps `store`.
    pub fn new(store: impl TokenStore + 'static) -> Self {
        SharedTokenStore(Arc::new(store))
    }

    /// Wraps an already shared store.
    pub fn from_arc(store: Arc<dyn TokenStore>) -> Self {
        SharedTokenStore(store)
    }
}

impl std::ops::Deref for SharedTokenStore {
    type Target = dyn TokenStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

macro_rules! forward_store_impl {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        #[async_trait]
        impl<T: TokenStore + ?Sized> TokenStore for $ty {
            async fn load(&self, key: &str) -> Result<Option<Token>> {
                (**self).load(key).await
            }
            async fn save(&self, key: &str, token: &Token) -> Result<()> {
                (**self).save(key, token).await
            }
            async fn remove(&self, key: &str) -> Result<()> {
                (**self).remove(key).await
            }
            async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
                (**self).try_lock(key, ttl).await
            }
            async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
                (**self).save_failure(key, failure, ttl).await
            }
            async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
                (**self).load_failure(key).await
            }
            fn protects_secrets_at_rest(&self) -> bool {
                (**self).protects_secrets_at_rest()
            }
            async fn watch(&self, key: &str) -> Result<Option<StoreWatch>> {
                (**self).watch(key).await
            }
        }
    )*};
}

forward_store_impl!(Arc<T>, Box<T>);

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl TokenStore for SharedTokenStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        self.0.load(key).await
    }
    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        self.0.save(key, token).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.0.remove(key).await
    }
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        self.0.try_lock(key, ttl).await
    }
    async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
        self.0.save_failure(key, failure, ttl).await
    }
    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        self.0.load_failure(key).await
    }
    fn protects_secrets_at_rest(&self) -> bool {
        self.0.protects_secrets_at_rest()
    }
    async fn watch(&self, key: &str) -> Result<Option<StoreWatch>> {
        self.0.watch(key).await
    }
}

/// Keeps tokens in this process's memory; the default store.
///
/// Clones share the same map, so several managers can share tokens through one
/// `MemoryStore`. Its locks work between those managers (within this process).
///
/// ```
/// # tokio_test_like(async {
/// use std::time::{Duration, SystemTime};
/// use grantkit_core::{MemoryStore, Token, TokenStore};
///
/// let store = MemoryStore::new();
/// let t0 = SystemTime::UNIX_EPOCH;
/// store.save("k", &Token::new("a", t0, t0 + Duration::from_secs(60))).await.unwrap();
/// assert!(store.load("k").await.unwrap().is_some());
/// # });
/// # fn tokio_test_like(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Default)]
struct MemoryInner {
    tokens: HashMap<String, Token>,
    locks: HashMap<String, (u64, tokio::time::Instant)>,
    failures: HashMap<String, (FailureRecord, tokio::time::Instant)>,
    next_lock_id: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock_inner(&self) -> MutexGuard<'_, MemoryInner> {
        // A panic while holding this lock cannot leave the maps half-updated (each
        // operation is one insert or remove), so a poisoned lock is safe to use.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        Ok(self.lock_inner().tokens.get(key).cloned())
    }

    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        let mut inner = self.lock_inner();
        match inner.tokens.get(key) {
            Some(existing) if existing.issued_at() > token.issued_at() => {}
            _ => {
                inner.tokens.insert(key.to_owned(), token.clone());
            }
        }
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.lock_inner().tokens.remove(key);
        Ok(())
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        let now = tokio::time::Instant::now();
        let mut inner = self.lock_inner();
        if inner.locks.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(LockAttempt::Held);
        }
        inner.next_lock_id += 1;
        let id = inner.next_lock_id;
        inner.locks.insert(key.to_owned(), (id, now + ttl));
        Ok(LockAttempt::Acquired(StoreLock::new(MemoryLock {
            store: self.clone(),
            key: key.to_owned(),
            id,
        })))
    }

    async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + ttl;
        let mut inner = self.lock_inner();
        inner
            .failures
            .retain(|_, (_, u)| *u > tokio::time::Instant::now());
        inner
            .failures
            .insert(key.to_owned(), (failure.clone(), until));
        Ok(())
    }

    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        let now = tokio::time::Instant::now();
        Ok(self
            .lock_inner()
            .failures
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(record, _)| record.clone()))
    }

    /// Memory only: nothing is written anywhere.
    fn protects_secrets_at_rest(&self) -> bool {
        true
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock_inner();
        f.debug_struct("MemoryStore")
            .field("keys", &inner.tokens.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug)]
struct MemoryLock {
    store: MemoryStore,
    key: String,
    id: u64,
}

#[async_trait]
impl LockRelease for MemoryLock {
    async fn release(self: Box<Self>) -> Result<()> {
        let mut inner = self.store.lock_inner();
        if inner
            .locks
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            inner.locks.remove(&self.key);
        }
        Ok(())
    }
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn TokenStore) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn token(name: &str, issued_secs: u64) -> Token {
        let t = UNIX_EPOCH + Duration::from_secs(issued_secs);
        Token::new(name, t, t + Duration::from_secs(60))
    }

    #[tokio::test]
    async fn save_never_replaces_a_newer_token() {
        let s = MemoryStore::new();
        s.save("k", &token("new", 200)).await.unwrap();
        s.save("k", &token("old", 100)).await.unwrap();
        assert_eq!(
            s.load("k").await.unwrap().unwrap().access_token().secret(),
            "new"
        );
        s.save("k", &token("newer", 300)).await.unwrap();
        assert_eq!(
            s.load("k").await.unwrap().unwrap().access_token().secret(),
            "newer"
        );
        s.remove("k").await.unwrap();
        assert!(s.load("k").await.unwrap().is_none());
        let _ = SystemTime::UNIX_EPOCH;
    }

    #[tokio::test(start_paused = true)]
    async fn locks_exclude_and_expire_and_stale_release_is_harmless() {
        let s = MemoryStore::new();
        let ttl = Duration::from_secs(5);
        let first = match s.try_lock("k", ttl).await.unwrap() {
            LockAttempt::Acquired(l) => l,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            s.try_lock("k", ttl).await.unwrap(),
            LockAttempt::Held
        ));
        assert!(matches!(
            s.try_lock("other", ttl).await.unwrap(),
            LockAttempt::Acquired(_)
        ));
        tokio::time::advance(Duration::from_secs(6)).await;
        let second = match s.try_lock("k", ttl).await.unwrap() {
            LockAttempt::Acquired(l) => l,
            other => panic!("{other:?}"),
        };
        first.release().await.unwrap(); // expired: must not free the second holder's lock
        assert!(matches!(
            s.try_lock("k", ttl).await.unwrap(),
            LockAttempt::Held
        ));
        second.release().await.unwrap();
        assert!(matches!(
            s.try_lock("k", ttl).await.unwrap(),
            LockAttempt::Acquired(_)
        ));
    }
}
