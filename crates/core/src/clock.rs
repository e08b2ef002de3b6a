//! Wall-clock time, injected so that expiry logic can be tested without waiting.

use std::fmt;
use std::sync::Arc;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Token lifetimes are absolute instants shared between processes (through a file or Redis),
/// so grantkit measures them on the wall clock. The manager reads the clock on every
/// `token()` call.
///
/// # Implementing
/// Return the current time; that is the whole contract. The manager never assumes the
/// clock is monotonic: a clock that jumps back only delays a renewal, one that jumps
/// forward starts one early.
///
/// With the default [`SystemClock`] (or `.clock(SystemClock)`), the manager's hot path
/// reads the system's coarse clock instead ([`SystemClock::unix_nanos`], a few
/// nanoseconds); with any other clock it calls [`now`](Clock::now).
///
/// ```
/// use std::time::SystemTime;
/// use grantkit_core::Clock;
///
/// /// A clock that runs five minutes ahead, to see refresh-ahead happen sooner.
/// #[derive(Debug)]
/// struct Ahead;
///
/// impl Clock for Ahead {
///     fn now(&self) -> SystemTime {
///         grantkit_core::SystemClock::new().now() + std::time::Duration::from_secs(300)
///     }
/// }
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// How far [`SystemClock::unix_nanos`] may lag behind [`Clock::now`]. The manager serves a
/// token from its hot path only until this long before the token expires; closer to
/// expiry, it decides with the precise clock.
pub(crate) const COARSE_CLOCK_SLACK: Duration = Duration::from_millis(250);

/// `t` in nanoseconds since the Unix epoch, saturating (0 before 1970).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// The system's real-time clock.
///
/// [`now`](Clock::now) reads [`SystemTime::now`]. On Linux,
/// [`unix_nanos`](SystemClock::unix_nanos) reads `CLOCK_REALTIME_COARSE` instead, a few
/// nanoseconds instead of tens; it trails the precise clock by about one scheduler tick
/// (a few milliseconds).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    pub const fn new() -> Self {
        SystemClock
    }

    /// A fast reading of the current time in nanoseconds since the Unix epoch (0 before
    /// 1970): the one the manager's hot path uses. On Linux it reads
    /// `CLOCK_REALTIME_COARSE` and may trail [`now`](Clock::now) by a scheduler tick; the
    /// manager never relies on it within 250 ms of an expiry. Elsewhere it converts
    /// `now()`.
    #[inline]
    pub fn unix_nanos(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            coarse::unix_nanos()
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            unix_nanos(self.now())
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::sync::atomic::{AtomicU64, Ordering};

    use rustix::time::{ClockId, clock_getres, clock_gettime};

    /// The coarse clock's resolution in nanoseconds; 0 until first measured.
    static RESOLUTION_NANOS: AtomicU64 = AtomicU64::new(0);

    #[cold]
    fn measure_resolution() -> u64 {
        let res = clock_getres(ClockId::RealtimeCoarse);
        let nanos = u64::try_from(res.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(res.tv_nsec).unwrap_or(0));
        // Never trust less than 1 ms nor more than 100 ms of slack from a kernel.
        let nanos = nanos.clamp(1_000_000, 100_000_000);
        RESOLUTION_NANOS.store(nanos, Ordering::Relaxed);
        nanos
    }

    /// Nanoseconds since the epoch, about one tick behind the precise clock.
    #[inline]
    pub(super) fn unix_nanos() -> u64 {
        let ts = clock_gettime(ClockId::RealtimeCoarse);
        let res = match RESOLUTION_NANOS.load(Ordering::Relaxed) {
            0 => measure_resolution(),
            r => r,
        };
        // A clock before 1970 reads as 0: every token is then "not yet expired" by the
        // clock's own account, which is all such a clock can tell.
        u64::try_from(ts.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
            .saturating_add(res)
    }
}

impl Clock for SystemClock {
    #[inline]
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the system clock
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to; for tests and simulations.
///
/// Clones share the same time, so a test can keep one and hand the other to a manager.
/// Available with the `test-util` feature.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use grantkit_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_005));
/// ```
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Clone)]
pub struct ManualClock {
    nanos_since_epoch: Arc<AtomicU64>,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// A clock standing at `start` (instants before 1970 are clamped to 1970).
    pub fn new(start: SystemTime) -> Self {
        let clock = ManualClock {
            nanos_since_epoch: Arc::new(AtomicU64::new(0)),
        };
        clock.set(start);
        clock
    }

    /// A clock standing at a fixed, recognisable instant (2030-01-01T00:00:00Z).
    pub fn at_fixed_epoch() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_893_456_000))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos_since_epoch.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        self.nanos_since_epoch
            .store(unix_nanos(to), Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
    }
}

#[cfg(any(test, feature = "test-util"))]
impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn the_fast_reading_stays_within_the_slack_of_the_precise_clock() {
        let slack = u64::try_from(COARSE_CLOCK_SLACK.as_nanos()).unwrap();
        for _ in 0..10_000 {
            let before = unix_nanos(SystemTime::now());
            let fast = SystemClock.unix_nanos();
            let after = unix_nanos(SystemTime::now());
            assert!(
                fast + slack >= before,
                "fast reading lags by {} ns",
                before - fast
            );
            assert!(
                fast <= after + 100_000_000,
                "fast reading leads by {} ns",
                fast - after
            );
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_fixed_epoch();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        let shared = c.clone();
        shared.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), t0 + Duration::from_millis(1500));
        c.set(UNIX_EPOCH);
        assert_eq!(shared.now(), UNIX_EPOCH);
    }
}
