//! The manager's metrics (feature `metrics`; names in [`crate::metrics`]).
//!
//! Kept off the hot path: a cache hit still costs only its per-thread counter (plus, with
//! the feature, one comparison); the hits reach the recorder in batches (`flush`). Renewals
//! are measured in one place, `Inner::renew`, from the deltas of the [`Stats`](super::Stats)
//! counters it moved (one renewal runs at a time), so the renewal code itself has no
//! metric calls. Without the feature every hook is an empty inline function.

#[cfg(feature = "metrics")]
pub(super) use enabled::MetricsState;

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use metrics::{counter, gauge, histogram};

    use super::super::{Inner, TokenManager};
    use crate::error::{ErrorKind, Result};
    use crate::metrics as names;
    use crate::token::Token;

    /// What the metrics hooks remember between calls.
    #[derive(Default)]
    pub(in crate::manager) struct MetricsState {
        /// The cache hits already added to the recorder's counter.
        exported_hits: AtomicU64,
        /// The `store` label: the backend's name, worked out once.
        store_label: OnceLock<String>,
    }

    /// The counters a renewal moves, read before it starts.
    pub(in crate::manager) struct RenewalMarks {
        fetched: u64,
        from_store: u64,
        failures: u64,
    }

    impl Inner {
        fn grant_label(&self) -> String {
            self.identity.kind().to_owned()
        }

        /// One attempt of the grant ended with `result` after `elapsed`.
        pub(in crate::manager) fn record_attempt(&self, result: &Result<Token>, elapsed: Duration) {
            let outcome = match result {
                Ok(_) => "ok",
                Err(e) if e.kind() == ErrorKind::Timeout => "timeout",
                Err(e) if e.is_retryable() => "transient",
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::OAuth | ErrorKind::Status | ErrorKind::LoginRequired
                    ) =>
                {
                    "refused"
                }
                Err(_) => "error",
            };
            let labels = [
                ("grant", self.grant_label()),
                ("outcome", outcome.to_owned()),
            ];
            counter!(names::TOKEN_REQUESTS, &labels).increment(1);
            histogram!(names::TOKEN_REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
        }

        pub(in crate::manager) fn renewal_marks(&self) -> RenewalMarks {
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            RenewalMarks {
                fetched: get(&self.counters.tokens_fetched),
                from_store: get(&self.counters.tokens_from_store),
                failures: get(&self.counters.renewal_failures),
            }
        }

        /// A renewal that started at `before` ended after `elapsed`.
        pub(in crate::manager) fn record_renewal(&self, before: RenewalMarks, elapsed: Duration) {
            let after = self.renewal_marks();
            let fetched = after.fetched.saturating_sub(before.fetched);
            let from_store = after.from_store.saturating_sub(before.from_store);
            let outcome = if fetched + from_store > 0 {
                "ok"
            } else if after.failures > before.failures {
                "failed"
            } else {
                "deferred"
            };
            let grant = self.grant_label();
            for (source, n) in [("endpoint", fetched), ("store", from_store)] {
                if n > 0 {
                    counter!(names::TOKENS_OBTAINED, "grant" => grant.clone(), "source" => source)
                        .increment(n);
                }
            }
            let labels = [("grant", grant), ("outcome", outcome.to_owned())];
            counter!(names::RENEWALS, &labels).increment(1);
            histogram!(names::RENEWAL_DURATION, &labels).record(elapsed.as_secs_f64());
            self.flush_metrics();
        }

        /// A store operation failed (`op` as the manager's log names it).
        pub(in crate::manager) fn record_store_error(&self, op: &str) {
            let store = self
                .counters
                .metrics
                .store_label
                .get_or_init(|| store_label(&format!("{:?}", &*self.store)));
            counter!(
                names::STORE_ERRORS,
                "grant" => self.grant_label(),
                "store" => store.clone(),
                "operation" => op.replace(' ', "_"),
            )
            .increment(1);
        }

        /// `token` became the current token.
        pub(in crate::manager) fn record_installed(&self, token: &Token) {
            gauge!(names::TIME_TO_EXPIRY, "grant" => self.grant_label())
                .set(token.remaining(self.clock.now()).as_secs_f64());
        }

        /// A thread's hit counter reached a multiple of the batch size.
        #[cold]
        #[inline(never)]
        pub(in crate::manager) fn flush_hit_batch(&self) {
            self.flush_metrics();
        }

        /// Adds the cache hits counted since the last flush to the recorder and recomputes
        /// the seconds until expiry.
        pub(in crate::manager) fn flush_metrics(&self) {
            let hits: u64 = self
                .counters
                .hits
                .iter()
                .map(|p| p.0.load(Ordering::Relaxed))
                .sum();
            // The per-thread counters are written without read-modify-write and may, in a
            // race, step back by a few: never export less than already exported.
            let exported = self
                .counters
                .metrics
                .exported_hits
                .fetch_max(hits, Ordering::Relaxed);
            let grant = self.grant_label();
            if hits > exported {
                counter!(names::CACHE_HITS, "grant" => grant.clone()).increment(hits - exported);
            }
            let now = self.clock.now();
            let left = self
                .current
                .load()
                .as_deref()
                .filter(|e| e.is_valid(now))
                .map_or(0.0, |e| e.token().remaining(now).as_secs_f64());
            gauge!(names::TIME_TO_EXPIRY, "grant" => grant).set(left);
        }
    }

    /// `RedisStore { … }` → `redis`; `SharedTokenStore(FileStore { … })` → `file`; a
    /// custom store → its type name as its `Debug` prints it, in lower case.
    pub(super) fn store_label(debug: &str) -> String {
        let mut name = debug.trim_start();
        while let Some(inner) = name.strip_prefix("SharedTokenStore(") {
            name = inner.trim_start();
        }
        let end = name
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(name.len());
        let name = &name[..end];
        let name = name
            .strip_suffix("Store")
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        if name.is_empty() {
            "unknown".to_owned()
        } else {
            name.to_ascii_lowercase()
        }
    }

    impl TokenManager {
        /// Hands the counters that the hot path keeps per thread to the `metrics` recorder
        /// now ([`CACHE_HITS`](crate::metrics::CACHE_HITS)), and recomputes
        /// [`TIME_TO_EXPIRY`](crate::metrics::TIME_TO_EXPIRY) from the current token's
        /// expiry. The manager does this by itself after every renewal and every
        /// [`CACHE_HIT_BATCH`](crate::metrics::CACHE_HIT_BATCH) hits of a thread; call it
        /// before rendering metrics (a Prometheus scrape) for exact figures. Cheap: it sums
        /// a few counters.
        ///
        /// ```
        /// # fn run(manager: grantkit_core::TokenManager) {
        /// manager.flush_metrics();
        /// # }
        /// ```
        pub fn flush_metrics(&self) {
            self.inner.flush_metrics();
        }
    }

    #[cfg(test)]
    #[test]
    fn store_labels_name_the_backend() {
        assert_eq!(store_label("MemoryStore { keys: 1, .. }"), "memory");
        assert_eq!(
            store_label("SharedTokenStore(RedisStore { prefix: \"x\" })"),
            "redis"
        );
        assert_eq!(store_label("FileStore { dir: \"/tmp\" }"), "file");
        assert_eq!(store_label("BrokenStore"), "broken");
        assert_eq!(store_label("Store"), "store");
        assert_eq!(store_label("[..]"), "unknown");
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::time::Duration;

    use super::super::Inner;
    use crate::error::Result;
    use crate::token::Token;

    /// Nothing to remember without the feature.
    pub(in crate::manager) struct RenewalMarks;

    impl Inner {
        #[inline(always)]
        pub(in crate::manager) fn record_attempt(&self, _: &Result<Token>, _: Duration) {}
        #[inline(always)]
        pub(in crate::manager) fn renewal_marks(&self) -> RenewalMarks {
            RenewalMarks
        }
        #[inline(always)]
        pub(in crate::manager) fn record_renewal(&self, _: RenewalMarks, _: Duration) {}
        #[inline(always)]
        pub(in crate::manager) fn record_store_error(&self, _: &str) {}
        #[inline(always)]
        pub(in crate::manager) fn record_installed(&self, _: &Token) {}
    }
}

#[cfg(test)]
mod tests;
