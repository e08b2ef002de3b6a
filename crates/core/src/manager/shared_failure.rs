//! Failures shared through the store: a lock holder whose renewal ends without a token
//! leaves its error where the processes waiting for the lock see it, so that they return
//! it at once instead of queueing behind the lock and asking the endpoint one by one.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;

use super::{Inner, MAX_RETRY_AFTER_COOLDOWN, bump};
use crate::error::{Error, ErrorKind, Result};
use crate::failure::FailureRecord;
use crate::store::StoreLock;
use crate::token::Token;

/// How a wait for another lock holder ended.
pub(super) enum Waited {
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
    /// How long the error of a failed renewal is repeated without a new request: the
    /// configured cool-down, or the server's `Retry-After` (up to a minute) when longer.
    pub(super) fn cooldown_for(&self, error: &Error) -> Duration {
        match error.retry_after() {
            Some(wait) if !self.failure_cooldown.is_zero() => self
                .failure_cooldown
                .max(wait.min(MAX_RETRY_AFTER_COOLDOWN)),
            _ => self.failure_cooldown,
        }
    }

    /// Records `error` in the store for the cool-down, so that processes waiting for the
    /// lock see it. Called by a lock holder before it releases the lock.
    pub(super) async fn share_failure(&self, error: &Error) {
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
    pub(super) async fn shared_failure(&self) -> Option<FailureRecord> {
        if self.failure_cooldown.is_zero() {
            return None;
        }
        match self.store.load_failure(&self.key).await {
            Ok(Some(record)) => {
                let now = self.clock.now();
                let longest = self.failure_cooldown.max(MAX_RETRY_AFTER_COOLDOWN);
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
    pub(super) fn adopt_failure(
        &self,
        record: &FailureRecord,
        fallback: Option<Token>,
    ) -> Result<Token> {
        let error = record.to_error();
        let now = self.clock.now();
        if let Some(valid) = fallback.filter(|t| !t.is_expired(now)) {
            tracing::debug!(error = %error, "another process's renewal failed; serving the current token");
            self.install(&valid, Some(self.retry_later(&valid, now)));
            return Ok(valid);
        }
        bump(&self.counters.refresh_failures);
        let longest = self.failure_cooldown.max(MAX_RETRY_AFTER_COOLDOWN);
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

    /// [`fetch`](Inner::fetch), with a panicking grant turned into an error, so that a
    /// lock holder always gets to record its failure and release the lock.
    pub(super) async fn fetch_holding_lock(
        self: &Arc<Self>,
        previous: Option<Token>,
    ) -> Result<Token> {
        AssertUnwindSafe(self.fetch(previous))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(Error::new(ErrorKind::Other, "the grant panicked")))
    }
}
