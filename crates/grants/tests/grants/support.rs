//! Shared helpers: a context on a manual clock, expected header values, leak checks.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use grantkit_core::{GrantContext, ManualClock, ReqwestHttpClient};

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";
pub(crate) const JSON: &str = "application/json";

/// `ManualClock::at_fixed_epoch()`, in seconds since 1970.
pub(crate) const T0: u64 = 1_893_456_000;

pub(crate) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

pub(crate) fn clock() -> ManualClock {
    let clock = ManualClock::at_fixed_epoch();
    assert_eq!(grantkit_core::Clock::now(&clock), t0());
    clock
}

/// A context sending with the default reqwest client and reading `clock`.
pub(crate) fn cx(clock: &ManualClock) -> GrantContext {
    GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(clock.clone()),
    )
}

/// `Basic base64(credentials)`, where `credentials` is already `id:secret` form-encoded.
pub(crate) fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// A token response body.
pub(crate) fn token_body(access: &str, extra: &str) -> String {
    format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":3600{extra}}}"#)
}

/// Fails if any of `secrets` appears in `text`.
#[track_caller]
pub(crate) fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
    }
}

/// Display, Debug and the full report of an error, for leak checks.
pub(crate) fn error_texts(e: &grantkit_core::Error) -> String {
    format!("{e}\n{e:?}\n{}", e.report())
}
