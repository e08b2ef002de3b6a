//! Times and durations for people: RFC 3339 instants, "expires in 59m 12s".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second humantime can print (9999-12-31T23:59:59Z).
const LAST_PRINTABLE_SECS: u64 = 253_402_300_799;

/// `t` as RFC 3339 in UTC, to the second; `None` past the year 9999.
pub(crate) fn rfc3339(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs > LAST_PRINTABLE_SECS {
        return None;
    }
    Some(humantime::format_rfc3339_seconds(t).to_string())
}

/// A JWT NumericDate (seconds since the epoch, possibly fractional) as an instant.
pub(crate) fn numeric_date(value: &serde_json::Value) -> Option<SystemTime> {
    let secs = value.as_f64()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::try_from_secs_f64(secs).ok()?)
}

/// A duration in whole seconds, to its two largest units: `59m 12s`, `3h 5m`, `2days 1h`.
pub(crate) fn duration(d: Duration) -> String {
    let whole = Duration::from_secs(d.as_secs());
    humantime::format_duration(whole)
        .to_string()
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `t` relative to `now`: `in 59m 12s` or `3m 4s ago`.
pub(crate) fn relative(t: SystemTime, now: SystemTime) -> String {
    match t.duration_since(now) {
        Ok(ahead) => format!("in {}", duration(ahead)),
        Err(e) => format!("{} ago", duration(e.duration())),
    }
}

/// The expiry `exp` relative to `now`: `expires in 59m 12s` or `expired 3m 4s ago`.
pub(crate) fn expiry(exp: SystemTime, now: SystemTime) -> String {
    match exp.duration_since(now) {
        Ok(ahead) if !ahead.is_zero() => format!("expires in {}", duration(ahead)),
        Ok(_) => "expires now".to_owned(),
        Err(e) => format!("expired {} ago", duration(e.duration())),
    }
}

/// Seconds from `now` to `t`, negative when `t` has passed.
pub(crate) fn seconds_until(t: SystemTime, now: SystemTime) -> i64 {
    match t.duration_since(now) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(Duration::from_secs(3552)), "59m 12s");
        assert_eq!(duration(Duration::from_millis(180_700)), "3m");
        assert_eq!(
            duration(Duration::from_secs(3 * 3600 + 5 * 60 + 7)),
            "3h 5m"
        );
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn expiry_in_words() {
        let now = at(1_000_000);
        assert_eq!(expiry(at(1_003_552), now), "expires in 59m 12s");
        assert_eq!(expiry(at(1_000_000 - 180), now), "expired 3m ago");
        assert_eq!(expiry(now, now), "expires now");
        assert_eq!(relative(at(999_990), now), "10s ago");
        assert_eq!(relative(at(1_000_010), now), "in 10s");
    }

    #[test]
    fn rfc3339_and_numeric_dates() {
        assert_eq!(rfc3339(at(0)).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(at(LAST_PRINTABLE_SECS + 1)), None);
        assert_eq!(
            numeric_date(&serde_json::json!(10.5)),
            Some(at(10) + Duration::from_millis(500))
        );
        assert_eq!(numeric_date(&serde_json::json!(-1)), None);
        assert_eq!(numeric_date(&serde_json::json!("10")), None);
        assert_eq!(seconds_until(at(5), at(10)), -5);
        assert_eq!(seconds_until(at(15), at(10)), 5);
    }
}
