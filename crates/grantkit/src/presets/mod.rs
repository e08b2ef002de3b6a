//! Pre-filled builders for known vendors and for the generic environment variables.
//!
//! Every preset returns a [`TokenManagerBuilder`](grantkit_core::TokenManagerBuilder), so the store, the policy and the
//! HTTP client can still be changed:
//!
//! ```no_run
//! # fn run() -> grantkit::Result<()> {
//! use grantkit::{presets, store::FileStore};
//!
//! let manager = presets::twenty_four_seven_office("client-id", "client-secret", "123456")
//!     .store(FileStore::in_cache_dir()?)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # One module per vendor
//! Each vendor's rules (endpoint, wire format, refresh window, validation, the statuses
//! its API rejects a token with) live in one module: [`twenty_four_seven_office`](mod@twenty_four_seven_office),
//! [`disruptive_technologies`](mod@disruptive_technologies), [`google`](mod@google), [`env`](mod@env). The module's input type (e.g.
//! [`TwentyFourSevenOffice`]) is the single source both this builder API and the
//! configuration file apply: a `preset = "…"` profile is turned into that type and its
//! `builder()` called. The input type also takes a token URL override (a test server).
//!
//! Adding a vendor means adding one file here; `docs/presets.md` says how.

use grantkit_core::{Error, Result};

pub mod disruptive_technologies;
pub mod env;
pub mod google;
pub mod twenty_four_seven_office;

#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use disruptive_technologies::{
    DisruptiveTechnologies, disruptive_technologies, disruptive_technologies_from_env,
};
pub use env::{from_env, from_lookup};
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use google::{GoogleServiceAccount, google_service_account, google_service_account_from_env};
pub use twenty_four_seven_office::{TwentyFourSevenOffice, twenty_four_seven_office};

/// The process environment, as a lookup function.
#[cfg_attr(not(feature = "grant-jwt-bearer"), allow(dead_code))]
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The values of `names`, or an error naming every one that is missing or empty.
pub(crate) fn required<const N: usize>(
    lookup: &impl Fn(&str) -> Option<String>,
    names: [&str; N],
) -> Result<[String; N]> {
    let values = names.map(|name| lookup(name).filter(|v| !v.trim().is_empty()));
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.as_slice() {
        [] => Ok(values.map(Option::unwrap_or_default)),
        [one] => Err(Error::config(format!(
            "environment variable {one} is not set"
        ))),
        many => Err(Error::config(format!(
            "environment variables {} are not set",
            many.join(", ")
        ))),
    }
}
