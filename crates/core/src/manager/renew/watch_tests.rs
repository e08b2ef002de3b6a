//! Waiting for another process's lock holder through a store that notifies
//! ([`TokenStore::watch`]): the waiter reads the store when told, not at its next poll,
//! and still polls when a notification is lost.

use crate::manager::test_support::*;
use crate::store::{StoreLock, StoreWatch, WatchChanges};

/// A memory store that wakes its watchers after every save, unless told to lose the
/// messages; counts the watches made, the loads and the lock attempts.
#[derive(Debug, Clone)]
struct NotifyingStore {
    inner: MemoryStore,
    changes: tokio::sync::broadcast::Sender<()>,
    watches: Arc<AtomicUsize>,
    loads: Arc<AtomicUsize>,
    lock_attempts: Arc<AtomicUsize>,
    lose_messages: bool,
}

impl NotifyingStore {
    fn new(lose_messages: bool) -> Self {
        NotifyingStore {
            inner: MemoryStore::new(),
            changes: tokio::sync::broadcast::channel(16).0,
            watches: Arc::default(),
            loads: Arc::default(),
            lock_attempts: Arc::default(),
            lose_messages,
        }
    }
}

#[async_trait]
impl TokenStore for NotifyingStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        self.inner.save(key, token).await?;
        if !self.lose_messages {
            let _ = self.changes.send(());
        }
        Ok(())
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.inner.remove(key).await
    }
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        self.lock_attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.try_lock(key, ttl).await
    }
    async fn watch(&self, _: &str) -> Result<Option<StoreWatch>> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        Ok(Some(StoreWatch::new(Receiver(self.changes.subscribe()))))
    }
}

#[derive(Debug)]
struct Receiver(tokio::sync::broadcast::Receiver<()>);

#[async_trait]
impl WatchChanges for Receiver {
    async fn changed(&mut self) -> bool {
        !matches!(
            self.0.recv().await,
            Err(tokio::sync::broadcast::error::RecvError::Closed)
        )
    }
}

/// Another process holds the lock; a manager without a token waits for it. Returns the
/// manager's task, once it is watching, and the lock.
async fn waiting_manager(
    clock: &ManualClock,
    store: &NotifyingStore,
) -> (
    TokenManager,
    tokio::task::JoinHandle<Result<Token>>,
    StoreLock,
    Arc<AtomicUsize>,
) {
    let (grant, calls) = counting_grant(Duration::from_secs(3600));
    let manager = builder(clock)
        .grant(grant)
        .store(store.clone())
        .lock_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let LockAttempt::Acquired(lock) = store
        .try_lock(manager.cache_key(), Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("the test takes the lock first")
    };
    let m = manager.clone();
    let waiter = tokio::spawn(async move { m.token().await });
    for _ in 0..1000 {
        if store.watches.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        store.watches.load(Ordering::SeqCst),
        1,
        "the waiter watches the store"
    );
    (manager, waiter, lock, calls)
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_the_holders_token_when_notified_not_at_its_next_poll() {
    let clock = ManualClock::at_fixed_epoch();
    let store = NotifyingStore::new(false);
    let (manager, waiter, lock, calls) = waiting_manager(&clock, &store).await;
    let saved_at = tokio::time::Instant::now();
    let now = clock.now();
    let token = Token::new("from-the-holder", now, now + Duration::from_secs(3600));
    store.save(manager.cache_key(), &token).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.access_token().secret(), "from-the-holder");
    // Time is paused and auto-advances only when every task sleeps: a waiter that polled
    // would have slept until its next poll; this one read the store when woken.
    assert_eq!(saved_at.elapsed(), Duration::ZERO);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the waiter asked no endpoint"
    );
    assert_eq!(manager.stats().tokens_from_store, 1);
    // What the wait cost the store: before it, a read and a lock attempt (besides the
    // test's own); once subscribed, a read of the token alone; once woken, a read.
    assert_eq!(store.loads.load(Ordering::SeqCst), 3);
    assert_eq!(store.lock_attempts.load(Ordering::SeqCst), 2);
    lock.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lost_notification_costs_one_fallback_poll() {
    let clock = ManualClock::at_fixed_epoch();
    let store = NotifyingStore::new(true);
    let (manager, waiter, lock, calls) = waiting_manager(&clock, &store).await;
    let saved_at = tokio::time::Instant::now();
    let now = clock.now();
    let token = Token::new("from-the-holder", now, now + Duration::from_secs(3600));
    store.save(manager.cache_key(), &token).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.access_token().secret(), "from-the-holder");
    assert_eq!(saved_at.elapsed(), super::WATCHED_POLL_FIRST);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    lock.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lock_released_silently_is_taken_at_the_fallback_poll() {
    let clock = ManualClock::at_fixed_epoch();
    let store = NotifyingStore::new(false);
    let (manager, waiter, lock, calls) = waiting_manager(&clock, &store).await;
    // The holder gave up without a token and without a notification (its release does
    // not announce in this store): the waiter finds the lock free at its fallback poll,
    // takes it and renews itself.
    lock.release().await.unwrap();
    let released_at = tokio::time::Instant::now();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.access_token().secret(), "tok-1");
    assert_eq!(released_at.elapsed(), super::WATCHED_POLL_FIRST);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(manager.stats().tokens_fetched, 1);
}
