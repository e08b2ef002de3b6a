//! Single flight: however many callers need a new token at once, one renewal runs and
//! all of them get its outcome.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tracing::Instrument as _;

use super::{Inner, TokenManager};
use crate::error::{Error, ErrorKind, Result};
use crate::token::Token;

/// A renewal that any number of callers await together.
pub(super) type SharedRenewal = Shared<BoxFuture<'static, Result<Token>>>;

impl TokenManager {
    /// The slow path of [`token`](TokenManager::token): the shared entry, a background
    /// renewal inside the refresh window, or the renewal's outcome.
    pub(super) async fn token_slow(&self, shard: usize) -> Result<Token> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if let Some(entry) = inner.current.load_full() {
            if now < entry.renew_at {
                inner.hit(shard);
                return Ok(entry.replicas[shard].clone());
            }
            if entry.is_valid(now) {
                // Refresh ahead: renew in the background, serve the valid token meanwhile.
                self.renew_in_background();
                inner.hit(shard);
                return Ok(entry.replicas[shard].clone());
            }
        }
        if let Some((running, span)) = self.running_renewal() {
            return self.wait_for(running, span).await;
        }
        if let Some(error) = inner.recent_failure(now) {
            // A renewal just failed: repeat its outcome for a moment rather than send a
            // request per call to an endpoint that refuses (invalid_client) or is down.
            return Err(error);
        }
        let (renewal, span) = self.start_or_join_renewal();
        self.wait_for(renewal, span).await
    }

    /// Awaits `renewal` in a `grantkit.token.wait` span that follows from the renewal's
    /// span, so that a trace shows which renewal a caller waited for.
    async fn wait_for(&self, renewal: SharedRenewal, renewal_span: tracing::Span) -> Result<Token> {
        if renewal_span.is_none() {
            // An outcome at hand (or tracing is off): nothing to wait for, or to link.
            return renewal.await;
        }
        let wait = tracing::info_span!("grantkit.token.wait", grant = %self.inner.identity.kind());
        wait.follows_from(&renewal_span);
        renewal.instrument(wait).await
    }

    /// The renewal in progress, if any, and its span.
    fn running_renewal(&self) -> Option<(SharedRenewal, tracing::Span)> {
        let slot = self.inner.in_flight_slot();
        slot.as_ref()
            .filter(|(_, running, _)| running.peek().is_none())
            .map(|(_, running, span)| (running.clone(), span.clone()))
    }

    /// Starts a renewal in the background and lets the caller go on with the valid token
    /// it holds: the renewal runs on its own task and installs its outcome when done.
    fn renew_in_background(&self) {
        drop(self.start_or_join_renewal());
    }

    /// The running renewal, or a new one started on a task of its own, with its span: its
    /// outcome goes to everyone awaiting it, and dropping it does not cancel the renewal.
    fn start_or_join_renewal(&self) -> (SharedRenewal, tracing::Span) {
        let mut slot = self.inner.in_flight_slot();
        if let Some((_, running, span)) = slot.as_ref()
            && running.peek().is_none()
        {
            return (running.clone(), span.clone());
        }
        // A renewal installs its token before it clears the slot, so a caller that saw no
        // fresh token a moment ago finds it here, under the lock, instead of renewing again.
        let now = self.inner.clock.now();
        if let Some(entry) = self.inner.current.load_full()
            && now < entry.renew_at
        {
            let ready = futures_util::future::ready(Ok(entry.token().clone()));
            return (ready.boxed().shared(), tracing::Span::none());
        }
        let id = self.inner.next_renewal_id.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let span = inner.renewal_span();
        let renewal_span = span.clone();
        let work = async move {
            let result = inner.renew(renewal_span).await;
            let mut slot = inner.in_flight_slot();
            if slot.as_ref().is_some_and(|(running, _, _)| *running == id) {
                *slot = None;
            }
            result
        };
        let renewal: SharedRenewal = match tokio::runtime::Handle::try_current() {
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
                let error = futures_util::future::ready(Err(Error::config(
                    "grantkit needs a tokio runtime: call token() from within one",
                )));
                return (error.boxed().shared(), tracing::Span::none());
            }
        };
        *slot = Some((id, renewal.clone(), span.clone()));
        (renewal, span)
    }
}

impl Inner {
    /// The renewal in flight, with the number that tells it from a later one.
    fn in_flight_slot(&self) -> MutexGuard<'_, Option<(u64, SharedRenewal, tracing::Span)>> {
        // The slot holds a handle, replaced whole; a panic cannot leave it half-written.
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
