//! Calling the grant: retries with backoff, the attempt timeout and the renewal's
//! deadline, and a pause after tokens that arrive (nearly) expired.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;
use tracing::Instrument as _;

use super::Inner;
use super::stats::bump;
use crate::error::{Error, ErrorKind, Result};
use crate::grant::GrantContext;
use crate::http::{HttpClient, HttpRequest, HttpResponse};
use crate::token::Token;

/// The least time between the start of a token request that obtained a token with less
/// than half this to live (`expires_in` of a second or less, or shorter than the round
/// trip) and the start of the next one: such tokens serve only the callers of the renewal
/// that obtained them, and without a pause every later call would fetch again. (Half, so
/// that a 2 s token, which lives 1 s once parsed, is renewed ahead as usual.)
pub(super) const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(1);

impl Inner {
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

    /// When the next token request may start, if a (nearly) expired token made it wait.
    pub(super) fn not_before_slot(&self) -> MutexGuard<'_, Option<tokio::time::Instant>> {
        self.not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Calls the grant, retrying retryable failures, each attempt within the attempt
    /// timeout and all of them within the renewal's deadline.
    pub(super) async fn fetch(self: &Arc<Self>, previous: Option<Token>) -> Result<Token> {
        let counting = Arc::new(CountingHttp {
            inner: Arc::clone(&self.http),
            manager: Arc::downgrade(self),
            attempt: AtomicU32::new(1),
        });
        #[cfg(feature = "dpop")]
        let dpop = match &self.settings.dpop {
            Some((dpop, nonces)) => Some((dpop.key_for(previous.as_ref())?, Arc::clone(nonces))),
            None => None,
        };
        let http: Arc<dyn HttpClient> = Arc::clone(&counting) as _;
        let cx = GrantContext::new(http, Arc::clone(&self.clock))
            .with_previous(previous)
            .with_default_lifetime(self.settings.default_lifetime)
            .danger_allow_http(self.settings.allow_http);
        #[cfg(feature = "dpop")]
        let cx = match dpop {
            Some((key, nonces)) => cx.with_dpop(key, nonces),
            None => cx,
        };
        let deadline = tokio::time::Instant::now() + self.settings.deadline;
        let mut attempt = 1;
        loop {
            bump(&self.counters.grant_calls);
            counting.attempt.store(attempt, Ordering::Relaxed);
            let started = tokio::time::Instant::now();
            let left = deadline.saturating_duration_since(started);
            let result = tokio::time::timeout(
                self.settings.attempt_timeout.min(left),
                self.grant.fetch_token(&cx),
            )
            .await
            .unwrap_or_else(|_| Err(self.timed_out(left)))
            // A grant may build its token by hand: nothing that cannot go into a
            // header is ever handed out.
            .and_then(|token| token.validate().map(|()| token));
            self.record_attempt(&result, started.elapsed());
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
            let delay = self.settings.retry.delay_after(attempt, &error);
            match delay {
                Some(delay) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %error.report(), "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Some(delay) => {
                    tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %error.report(), "token request failed; the next attempt would end past the deadline");
                    return Err(error.with_attempts(attempt));
                }
                None => return Err(error.with_attempts(attempt)),
            }
        }
    }

    /// The error of an attempt cut short: by the attempt timeout, or by the renewal's
    /// deadline when less than an attempt's time was `left`.
    fn timed_out(&self, left: Duration) -> Error {
        let message = if left < self.settings.attempt_timeout {
            format!(
                "no token within the renewal deadline of {:?}",
                self.settings.deadline
            )
        } else {
            format!(
                "the token request did not complete within the attempt timeout of {:?}",
                self.settings.attempt_timeout
            )
        };
        Error::new(ErrorKind::Timeout, message)
    }
}

/// Counts the requests a grant sends (`GET`s fetch metadata, the rest are token requests)
/// and runs each in a `grantkit.http` span.
struct CountingHttp {
    inner: Arc<dyn HttpClient>,
    manager: Weak<Inner>,
    /// The attempt of the grant under way, for the spans.
    attempt: AtomicU32,
}

impl fmt::Debug for CountingHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl HttpClient for CountingHttp {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        let manager = self.manager.upgrade();
        if let Some(m) = &manager {
            if request.method() == http::Method::GET {
                bump(&m.counters.discovery_requests);
            } else {
                bump(&m.counters.token_requests);
            }
        }
        // Never the path or query (a misconfigured URL could carry a secret), never a
        // header or the body: the host, the method and what came back.
        let span = tracing::info_span!(
            "grantkit.http",
            host = request.uri().host().unwrap_or("-"),
            method = %request.method(),
            grant = manager.as_ref().map_or("-", |m| m.identity.kind()),
            attempt = self.attempt.load(Ordering::Relaxed),
            status = tracing::field::Empty,
            error = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let mut ending = SpanEnding {
            span: span.clone(),
            started: tokio::time::Instant::now(),
            done: false,
        };
        let result = self.inner.execute(request).instrument(span).await;
        match &result {
            Ok(response) => ending.span.record("status", response.status().as_u16()),
            Err(e) => ending.span.record("error", tracing::field::debug(e.kind())),
        };
        ending.done = true;
        result
    }
}

/// Records the duration of an HTTP attempt's span when the attempt ends, and
/// `error=Cancelled` when it never finished: the attempt timeout or the renewal's deadline
/// dropped it.
struct SpanEnding {
    span: tracing::Span,
    started: tokio::time::Instant,
    done: bool,
}

impl Drop for SpanEnding {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("error", "Cancelled");
        }
        self.span
            .record("duration_ms", self.started.elapsed().as_secs_f64() * 1e3);
    }
}

#[cfg(test)]
mod tests;
