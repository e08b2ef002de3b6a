//! Wall-clock time, injected so that expiry logic can be tested without waiting.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Token lifetimes are absolute instants shared between processes (through a file or Redis),
/// so grantkit measures them on the wall clock. The manager reads the clock on every
/// `token()` call; [`SystemClock`] makes that read cost a few nanoseconds.
///
/// # Implementing
/// Return the current time. The manager never assumes the clock is monotonic: a clock that
/// jumps back only delays a refresh, one that jumps forward starts one early.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use grantkit_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_005));
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// The system's real-time clock.
///
/// On Linux it reads `CLOCK_REALTIME_COARSE` (a few nanoseconds instead of tens) and adds
/// that clock's resolution, so it never reads earlier than the precise clock: a token is
/// at worst considered expired a few milliseconds early, never late. Elsewhere it reads
/// [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    pub const fn new() -> Self {
        SystemClock
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use rustix::time::{ClockId, clock_getres, clock_gettime};

    fn resolution() -> Duration {
        static RES: OnceLock<Duration> = OnceLock::new();
        *RES.get_or_init(|| {
            let res = clock_getres(ClockId::RealtimeCoarse);
            let res = Duration::new(
                u64::try_from(res.tv_sec).unwrap_or(0),
                u32::try_from(res.tv_nsec).unwrap_or(0),
            );
            // Guard against a kernel that reports nonsense: never trust less than 1 ms
            // nor more than 100 ms of slack.
            res.clamp(Duration::from_millis(1), Duration::from_millis(100))
        })
    }

    pub(super) fn now() -> SystemTime {
        let ts = clock_gettime(ClockId::RealtimeCoarse);
        match (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
            (Ok(secs), Ok(nanos)) => UNIX_EPOCH + Duration::new(secs, nanos) + resolution(),
            #[allow(clippy::disallowed_methods)] // fallback for a clock before 1970
            _ => SystemTime::now(),
        }
    }
}

impl Clock for SystemClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    fn now(&self) -> SystemTime {
        coarse::now()
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    #[inline]
    #[allow(clippy::disallowed_methods)] // the one sanctioned reader of the system clock
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to; for tests and simulations.
///
/// Clones share the same time, so a test can keep one and hand the other to a manager.
#[derive(Clone)]
pub struct ManualClock {
    nanos_since_epoch: Arc<AtomicU64>,
}

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
        let nanos = to
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.nanos_since_epoch.store(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
    }
}

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
    fn system_clock_never_reads_earlier_than_the_precise_clock() {
        for _ in 0..1_000 {
            let precise = SystemTime::now();
            let coarse = SystemClock.now();
            assert!(coarse >= precise, "{coarse:?} < {precise:?}");
            let drift = coarse.duration_since(precise).unwrap_or_default();
            assert!(drift <= Duration::from_secs(2), "drift {drift:?}");
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
