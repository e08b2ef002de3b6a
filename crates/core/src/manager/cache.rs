//! The hot path: a fresh token from this thread's copy of the cached entry, without a
//! lock, I/O or a write to memory another thread writes.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{Inner, TokenManager};
use crate::clock::{COARSE_CLOCK_SLACK, SystemClock, unix_nanos};
use crate::error::Result;
use crate::token::Token;

/// The cached token, one replica per shard so that concurrent callers on different threads
/// increment different reference counts.
pub(super) struct Entry {
    /// Until when the hot path may serve this entry, by the coarse clock.
    pub(super) fast_until_nanos: u64,
    pub(super) renew_at: SystemTime,
    pub(super) expires_at: SystemTime,
    pub(super) revoked: bool,
    pub(super) replicas: Box<[Token]>,
}

impl Entry {
    pub(super) fn new(token: &Token, renew_at: SystemTime, shards: usize) -> Self {
        let mut replicas = Vec::with_capacity(shards);
        replicas.push(token.clone());
        replicas.extend((1..shards).map(|_| token.replicate()));
        let renew_at = renew_at.min(token.expires_at());
        // The hot path reads a coarse clock: stop using it a safe distance before expiry.
        let fast_until =
            renew_at.min(token.expires_at() - COARSE_CLOCK_SLACK.min(token.lifetime()));
        Entry {
            fast_until_nanos: unix_nanos(fast_until),
            renew_at,
            expires_at: token.expires_at(),
            revoked: false,
            replicas: replicas.into_boxed_slice(),
        }
    }

    pub(super) fn token(&self) -> &Token {
        &self.replicas[0]
    }

    pub(super) fn is_valid(&self, now: SystemTime) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Each thread keeps, per manager, its own replica of the current token and until when it
/// may hand it out, so that the hot path touches only this thread's slot (in the
/// thread-local itself), one shared,
/// read-mostly generation counter, the token's reference count and this thread's hit
/// counter: after an idle gap, when the CPU caches have gone cold, every further cache
/// line or page is a miss (docs/performance.md, "Sparse callers").
struct LocalCache {
    shard: usize,
    /// Inline rather than in a `Vec`: the first slot shares the cache line of the
    /// thread-local itself, one line fewer to miss after an idle gap.
    slots: [Option<LocalSlot>; LOCAL_SLOTS],
}

struct LocalSlot {
    manager: Weak<Inner>,
    generation: u64,
    /// [`Entry::fast_until_nanos`] of the entry at `generation`; 0 when there was none.
    fast_until_nanos: u64,
    /// This thread's replica of that entry's token.
    token: Option<Token>,
}

impl LocalSlot {
    /// Copies what the hot path needs from `inner.current`.
    fn fill(&mut self, inner: &Inner, generation: u64, shard: usize) {
        let entry = inner.current.load();
        let (fast_until_nanos, token) = match entry.as_deref() {
            Some(e) => (
                e.fast_until_nanos,
                Some(e.replicas[shard & inner.shard_mask].clone()),
            ),
            None => (0, None),
        };
        self.generation = generation;
        self.fast_until_nanos = fast_until_nanos;
        self.token = token;
    }
}

/// How many managers one thread remembers before it forgets the oldest.
const LOCAL_SLOTS: usize = 8;

impl LocalCache {
    fn new() -> Self {
        static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
        LocalCache {
            shard: NEXT_SHARD.fetch_add(1, Ordering::Relaxed),
            slots: Default::default(),
        }
    }

    /// This thread's slot for `inner`, up to date with `generation`.
    #[inline]
    fn slot(&mut self, inner: &Arc<Inner>, generation: u64) -> Option<&LocalSlot> {
        let me = Arc::as_ptr(inner);
        let shard = self.shard;
        let found = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.manager.as_ptr() == me));
        let index = match found {
            Some(i) => {
                if let Some(slot) = &mut self.slots[i]
                    && slot.generation != generation
                {
                    slot.fill(inner, generation, shard);
                }
                i
            }
            None => self.insert(inner, generation),
        };
        self.slots[index].as_ref()
    }

    #[cold]
    fn insert(&mut self, inner: &Arc<Inner>, generation: u64) -> usize {
        // Forget managers that were dropped, then the oldest if still full.
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|s| s.manager.strong_count() == 0) {
                *s = None;
            }
        }
        let index = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.rotate_left(1);
                LOCAL_SLOTS - 1
            }
        };
        let mut slot = LocalSlot {
            manager: Arc::downgrade(inner),
            generation,
            fast_until_nanos: 0,
            token: None,
        };
        slot.fill(inner, generation, self.shard);
        self.slots[index] = Some(slot);
        index
    }
}

thread_local! {
    static LOCAL: RefCell<LocalCache> = RefCell::new(LocalCache::new());
}

/// This thread's shard number, assigned round-robin on first use.
pub(super) fn shard_of_thread() -> usize {
    LOCAL
        .try_with(|l| l.try_borrow().map(|l| l.shard).unwrap_or(0))
        .unwrap_or(0)
}

pub(super) fn shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores * 2).next_power_of_two().clamp(1, 64)
}

/// The future returned by [`TokenManager::token`].
#[must_use = "futures do nothing unless polled"]
pub struct TokenFuture<'a> {
    manager: &'a TokenManager,
    slow: Option<BoxFuture<'a, Result<Token>>>,
}

impl<'a> TokenFuture<'a> {
    #[inline]
    pub(super) fn new(manager: &'a TokenManager) -> Self {
        TokenFuture {
            manager,
            slow: None,
        }
    }
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

/// The future returned by [`TokenManager::token_owned`]: it holds its own handle to the
/// manager, so it is `'static` and can be spawned or stored. Its fast path is the one of
/// [`TokenFuture`]; the handle costs one reference-count increment when it is made.
#[must_use = "futures do nothing unless polled"]
pub struct OwnedTokenFuture {
    manager: TokenManager,
    slow: Option<BoxFuture<'static, Result<Token>>>,
}

impl OwnedTokenFuture {
    pub(super) fn new(manager: TokenManager) -> Self {
        OwnedTokenFuture {
            manager,
            slow: None,
        }
    }
}

impl Future for OwnedTokenFuture {
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
                let manager = this.manager.clone();
                this.slow
                    .insert(async move { manager.token_slow(shard).await }.boxed())
            }
        };
        slow.as_mut().poll(cx)
    }
}

impl fmt::Debug for OwnedTokenFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTokenFuture")
            .field("waiting_for_renewal", &self.slow.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFuture")
            .field("waiting_for_renewal", &self.slow.is_some())
            .finish_non_exhaustive()
    }
}

impl Inner {
    #[inline]
    pub(super) fn hit(&self, shard: usize) {
        // One writer per shard in the common case: a plain load and store is enough and
        // avoids a locked instruction on the hot path.
        if let Some(p) = self.counters.hits.get(shard) {
            let hits = p.0.load(Ordering::Relaxed).wrapping_add(1);
            p.0.store(hits, Ordering::Relaxed);
            // The `metrics` feature hands hits to the recorder in batches, off this path.
            #[cfg(feature = "metrics")]
            if hits % crate::metrics::CACHE_HIT_BATCH == 0 {
                self.flush_hit_batch();
            }
        }
    }

    /// Installs `token` as the current one. `renew_at` overrides the policy (used to
    /// retry a failed renewal later while serving a still valid token).
    pub(super) fn install(&self, token: &Token, renew_at: Option<SystemTime>) {
        let renew_at = renew_at.unwrap_or_else(|| self.policy.refresh_at(token));
        let shards = self.shard_mask + 1;
        self.current
            .store(Some(Arc::new(Entry::new(token, renew_at, shards))));
        self.generation.fetch_add(1, Ordering::Release);
        self.record_installed(token);
    }
}

impl TokenManager {
    /// The hot path: this thread's cached entry, if it is fresh. No lock, no shared write.
    #[inline]
    pub(super) fn cached_fast(&self) -> Option<Token> {
        let inner = &self.inner;
        let generation = inner.generation.load(Ordering::Acquire);
        // The system clock has a coarse reading of a few nanoseconds; others are asked.
        let now = if inner.coarse_clock {
            SystemClock.unix_nanos()
        } else {
            unix_nanos(inner.clock.now())
        };
        LOCAL
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                let shard = local.shard & inner.shard_mask;
                let slot = local.slot(inner, generation)?;
                if now < slot.fast_until_nanos {
                    let token = slot.token.clone();
                    inner.hit(shard);
                    token
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests;
