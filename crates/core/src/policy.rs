//! When to renew a token, and how to retry a failed request.

use std::fmt;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::token::Token;

/// How usable a token is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Freshness {
    /// Serve it; nothing to do.
    Fresh,
    /// Still valid, but inside the refresh window: serve it and renew it in the background.
    RefreshSoon,
    /// Expired: a new token is needed before anything can be served.
    Expired,
}

/// Decides when a token should be renewed.
///
/// The manager asks [`refresh_at`](RefreshPolicy::refresh_at) once for each token it
/// installs and then compares that instant with the clock on every call, so the answer must
/// be stable for a given token (use a deterministic jitter, not a fresh random number).
///
/// # Implementing
/// Return an instant no later than `token.expires_at()`. An instant in the past means
/// "renew at the first opportunity", which the manager does without blocking callers as
/// long as the token has not expired.
///
/// ```
/// use std::time::SystemTime;
/// use grantkit_core::{RefreshPolicy, Token};
///
/// /// Renew when 80 % of the lifetime has passed.
/// #[derive(Debug)]
/// struct EightyPercent;
///
/// impl RefreshPolicy for EightyPercent {
///     fn refresh_at(&self, token: &Token) -> SystemTime {
///         token.issued_at() + token.lifetime().mul_f64(0.8)
///     }
/// }
/// ```
pub trait RefreshPolicy: Send + Sync + fmt::Debug {
    /// When to start renewing `token`.
    fn refresh_at(&self, token: &Token) -> SystemTime;

    /// How usable `token` is at `now`.
    fn freshness(&self, token: &Token, now: SystemTime) -> Freshness {
        if token.is_expired(now) {
            Freshness::Expired
        } else if now >= self.refresh_at(token) {
            Freshness::RefreshSoon
        } else {
            Freshness::Fresh
        }
    }
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn RefreshPolicy) {}

/// The default policy: renew a fixed time before expiry, never earlier than half-way
/// through the token's lifetime, with jitter so that a fleet does not renew in lock-step.
///
/// The refresh window is `min(before, lifetime × max_fraction)`; the renewal starts at a
/// point in the first `jitter` part of that window, chosen by hashing the access token with
/// a per-policy random key: stable for one token in one process, different between
/// processes. With the defaults (60 s, ½, ¼) a one-hour token is renewed between 60 and
/// 45 s before it expires, and a 2 s token after 1 to 1.25 s: not on every call, as a fixed
/// margin longer than the lifetime would do.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use grantkit_core::{RefreshBeforeExpiry, RefreshPolicy, Token};
///
/// let policy = RefreshBeforeExpiry::new(Duration::from_secs(60)).jitter(0.0);
/// let t0 = SystemTime::UNIX_EPOCH;
/// let hour = Token::new("a", t0, t0 + Duration::from_secs(3600));
/// assert_eq!(policy.refresh_at(&hour), t0 + Duration::from_secs(3540));
/// let short = Token::new("b", t0, t0 + Duration::from_secs(2));
/// assert_eq!(policy.refresh_at(&short), t0 + Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct RefreshBeforeExpiry {
    before: Duration,
    max_fraction: f64,
    jitter: f64,
    seed: std::collections::hash_map::RandomState,
}

impl RefreshBeforeExpiry {
    /// Renew `before` the expiry (capped at half the lifetime), with the default jitter.
    pub fn new(before: Duration) -> Self {
        RefreshBeforeExpiry {
            before,
            max_fraction: 0.5,
            jitter: 0.25,
            seed: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The part of the refresh window (0 to 1) in which the renewal may start; 0 renews
    /// exactly at the window's start. Values outside 0..=1 are clamped.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = clamp_unit(fraction);
        self
    }

    /// The largest part of a token's lifetime (0 to 1) the window may take; ½ by default.
    /// Values outside 0..=1 are clamped.
    pub fn max_fraction(mut self, fraction: f64) -> Self {
        self.max_fraction = clamp_unit(fraction);
        self
    }

    /// The configured time before expiry.
    pub fn before(&self) -> Duration {
        self.before
    }

    fn unit_jitter(&self, token: &Token) -> f64 {
        let h = self.seed.hash_one(token.access_token().secret());
        // 53 random bits into [0, 1).
        (h >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl Default for RefreshBeforeExpiry {
    /// 60 seconds before expiry, as the vendors' guides ask.
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl RefreshPolicy for RefreshBeforeExpiry {
    fn refresh_at(&self, token: &Token) -> SystemTime {
        let window = self.before.min(token.lifetime().mul_f64(self.max_fraction));
        let delay = window.mul_f64(self.jitter * self.unit_jitter(token));
        token.expires_at() - window + delay
    }
}

impl fmt::Debug for RefreshBeforeExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshBeforeExpiry")
            .field("before", &self.before)
            .field("max_fraction", &self.max_fraction)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

/// How failed token requests are retried: bounded exponential backoff with jitter, and the
/// server's `Retry-After` honoured.
///
/// Only [retryable](Error::is_retryable) errors are retried. The n-th retry waits a random
/// time between half and all of `min(initial_backoff × 2ⁿ⁻¹, max_backoff)`, or exactly
/// the server's `Retry-After` when it sent one. A `Retry-After` longer than
/// `max_retry_after` ends the retries at once: waiting that long inside a `token()` call
/// helps nobody, and a still-valid token keeps being served meanwhile.
///
/// ```
/// use std::time::Duration;
/// use grantkit_core::RetryPolicy;
///
/// let retry = RetryPolicy::default()
///     .with_max_attempts(5)
///     .with_initial_backoff(Duration::from_millis(50));
/// assert_eq!(retry.max_attempts(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms initial backoff, at most 5 s between attempts, `Retry-After`
    /// honoured up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt only.
    pub fn none() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// The total number of attempts, the first included (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff before the first retry.
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest backoff between two attempts.
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` that is waited for.
    pub fn with_max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// The configured number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long to wait before attempt `attempt + 1` after `attempt` (1-based) failed with
    /// `error`; `None` means give up.
    pub fn delay_after(&self, attempt: u32, error: &Error) -> Option<Duration> {
        if attempt >= self.max_attempts || !error.is_retryable() {
            return None;
        }
        if let Some(wait) = error.retry_after() {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        Some(base.mul_f64(0.5 + fastrand::f64() / 2.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn token(name: &str, lifetime_secs: u64) -> Token {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        Token::new(name, t0, t0 + Duration::from_secs(lifetime_secs))
    }

    #[test]
    fn window_is_before_expiry_capped_at_half_the_lifetime() {
        let p = RefreshBeforeExpiry::default().jitter(0.0);
        let t = token("a", 3600);
        assert_eq!(p.refresh_at(&t), t.expires_at() - Duration::from_secs(60));
        let t = token("b", 2);
        assert_eq!(p.refresh_at(&t), t.issued_at() + Duration::from_secs(1));
        let t = token("c", 100);
        assert_eq!(p.refresh_at(&t), t.issued_at() + Duration::from_secs(50));
        let t = token("d", 0);
        assert_eq!(p.refresh_at(&t), t.expires_at());
    }

    #[test]
    fn jitter_stays_inside_the_window_and_is_stable_per_token() {
        let p = RefreshBeforeExpiry::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let t = token(&format!("tok-{i}"), 3600);
            let at = p.refresh_at(&t);
            assert!(at >= t.expires_at() - Duration::from_secs(60));
            assert!(at <= t.expires_at() - Duration::from_secs(45));
            assert_eq!(at, p.refresh_at(&t), "stable");
            seen.insert(at);
        }
        assert!(seen.len() > 150, "jitter spreads renewals: {}", seen.len());
    }

    #[test]
    fn freshness_follows_refresh_at_and_expiry() {
        let p = RefreshBeforeExpiry::default().jitter(0.0);
        let t = token("a", 3600);
        let t0 = t.issued_at();
        assert_eq!(p.freshness(&t, t0), Freshness::Fresh);
        assert_eq!(
            p.freshness(&t, t0 + Duration::from_secs(3539)),
            Freshness::Fresh
        );
        assert_eq!(
            p.freshness(&t, t0 + Duration::from_secs(3540)),
            Freshness::RefreshSoon
        );
        assert_eq!(
            p.freshness(&t, t0 + Duration::from_secs(3600)),
            Freshness::Expired
        );
    }

    #[test]
    fn retry_backoff_is_bounded_and_honours_retry_after() {
        let r = RetryPolicy::default()
            .with_max_attempts(6)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(300));
        let retryable = Error::from_response(503, &[], b"");
        for (attempt, hi) in [(1, 100), (2, 200), (3, 300), (4, 300), (5, 300)] {
            let d = r.delay_after(attempt, &retryable).unwrap();
            assert!(
                d >= Duration::from_millis(hi / 2) && d <= Duration::from_millis(hi),
                "{attempt}: {d:?}"
            );
        }
        assert_eq!(r.delay_after(6, &retryable), None);
        let permanent = Error::from_response(401, &[], br#"{"error":"invalid_client"}"#);
        assert_eq!(r.delay_after(1, &permanent), None);
        let limited = Error::from_response(429, &[("Retry-After", "7")], b"");
        assert_eq!(r.delay_after(1, &limited), Some(Duration::from_secs(7)));
        let too_long = Error::from_response(429, &[("Retry-After", "3600")], b"");
        assert_eq!(r.delay_after(1, &too_long), None);
        assert_eq!(RetryPolicy::none().delay_after(1, &retryable), None);
    }
}
