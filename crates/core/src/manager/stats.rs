//! The manager's counters and their snapshot, [`Stats`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::TokenManager;

/// A snapshot of a manager's counters; see [`TokenManager::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `token()` calls answered from memory. Counted per thread without atomic
    /// read-modify-write, so under heavy contention between threads sharing a shard it may
    /// undercount slightly.
    pub cache_hits: u64,
    /// HTTP requests sent to the token endpoint (retries and refresh-token requests
    /// included): every `POST` a grant sends.
    pub token_requests: u64,
    /// HTTP requests for authorization server metadata (discovery, RFC 8414): every `GET`
    /// a grant sends. One per manager unless the token endpoint failed.
    pub discovery_requests: u64,
    /// Attempts made through the grant (one per try, retries included).
    pub grant_calls: u64,
    /// New tokens obtained from the token endpoint.
    pub tokens_fetched: u64,
    /// Tokens taken from the store, renewed by another manager or process.
    pub tokens_from_store: u64,
    /// Renewals that ended without a new token (after their retries).
    pub renewal_failures: u64,
    /// Store operations that failed and were worked around.
    pub store_errors: u64,
}

/// A cache line of its own for a counter that one thread writes.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Padded(pub(super) AtomicU64);

/// The manager's counters, written by the hot path (`hits`) and by renewals. `hits` comes
/// first, beside the other fields the hot path reads (see `Inner`).
#[derive(Default)]
#[repr(C)]
pub(super) struct Counters {
    pub(super) hits: Box<[Padded]>,
    pub(super) token_requests: AtomicU64,
    pub(super) discovery_requests: AtomicU64,
    pub(super) grant_calls: AtomicU64,
    pub(super) tokens_fetched: AtomicU64,
    pub(super) tokens_from_store: AtomicU64,
    pub(super) renewal_failures: AtomicU64,
    pub(super) store_errors: AtomicU64,
    /// What the `metrics` feature remembers.
    #[cfg(feature = "metrics")]
    pub(super) metrics: super::metrics::MetricsState,
}

/// Adds one to `counter`.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counters with one hit counter per shard.
    pub(super) fn new(shards: usize) -> Self {
        Counters {
            hits: (0..shards).map(|_| Padded::default()).collect(),
            ..Counters::default()
        }
    }
}

impl TokenManager {
    /// The manager's counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            cache_hits: c.hits.iter().map(|p| get(&p.0)).sum(),
            token_requests: get(&c.token_requests),
            discovery_requests: get(&c.discovery_requests),
            grant_calls: get(&c.grant_calls),
            tokens_fetched: get(&c.tokens_fetched),
            tokens_from_store: get(&c.tokens_from_store),
            renewal_failures: get(&c.renewal_failures),
            store_errors: get(&c.store_errors),
        }
    }
}
