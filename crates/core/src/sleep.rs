//! Waiting, injected like the [`Clock`](crate::Clock): a grant that must wait between
//! requests (a device flow polling its token endpoint) sleeps through a [`Sleeper`], so
//! tests move a manual clock instead of waiting for real.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// Waits for a while. The default, [`TokioSleeper`], is `tokio::time::sleep`;
/// [`ManualSleeper`] (feature `test-util`) returns at once and moves a
/// [`ManualClock`](crate::ManualClock) instead.
///
/// # Contract
/// [`sleep`](Sleeper::sleep) returns once `duration` has passed on the clock the caller
/// reads; a sleeper paired with a manual clock advances that clock by `duration`.
///
/// # Implementing
/// ```
/// use std::time::Duration;
/// use grantkit_core::{async_trait, Sleeper};
///
/// /// Sleeps half as long (a demo's impatience).
/// #[derive(Debug)]
/// struct Hurried;
///
/// #[async_trait]
/// impl Sleeper for Hurried {
///     async fn sleep(&self, duration: Duration) {
///         tokio::time::sleep(duration / 2).await;
///     }
/// }
/// ```
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Returns after `duration`.
    async fn sleep(&self, duration: Duration);
}

/// `tokio::time::sleep`: the default [`Sleeper`]. Needs a tokio runtime with its timer
/// enabled.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TokioSleeper;

impl TokioSleeper {
    /// The tokio sleeper.
    ///
    /// ```
    /// let sleeper = grantkit_core::TokioSleeper::new();
    /// # let _ = sleeper;
    /// ```
    pub const fn new() -> Self {
        TokioSleeper
    }
}

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A [`Sleeper`] for tests: each `sleep` returns at once, advances its
/// [`ManualClock`](crate::ManualClock) by the duration, and is recorded.
///
/// ```
/// use std::time::Duration;
/// use grantkit_core::{Clock, ManualClock, ManualSleeper, Sleeper};
///
/// # tokio_test_block_on(async {
/// let clock = ManualClock::at_fixed_epoch();
/// let sleeper = ManualSleeper::new(clock.clone());
/// let t0 = clock.now();
/// sleeper.sleep(Duration::from_secs(5)).await;
/// assert_eq!(clock.now(), t0 + Duration::from_secs(5));
/// assert_eq!(sleeper.slept(), vec![Duration::from_secs(5)]);
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Debug, Clone)]
pub struct ManualSleeper {
    clock: crate::ManualClock,
    slept: std::sync::Arc<std::sync::Mutex<Vec<Duration>>>,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualSleeper {
    /// A sleeper advancing `clock`.
    pub fn new(clock: crate::ManualClock) -> Self {
        ManualSleeper {
            clock,
            slept: std::sync::Arc::default(),
        }
    }

    /// Every duration slept so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl Sleeper for ManualSleeper {
    async fn sleep(&self, duration: Duration) {
        match self.slept.lock() {
            Ok(mut s) => s.push(duration),
            Err(poisoned) => poisoned.into_inner().push(duration),
        }
        self.clock.advance(duration);
    }
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn Sleeper) {}
