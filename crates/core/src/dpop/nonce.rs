//! The nonces servers hand out for DPoP proofs, remembered per origin.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The most origins remembered; past it the oldest-looking entries are dropped (a server
/// that wants a nonce answers `use_dpop_nonce` again and is remembered anew).
const MAX_ORIGINS: usize = 64;

/// The longest nonce kept; a longer `DPoP-Nonce` header is ignored.
const MAX_NONCE_LEN: usize = 1024;

/// The last `DPoP-Nonce` each server sent (RFC 9449 §8, §9), by origin
/// (`scheme://host:port`): the authorization server's for token requests, each resource
/// server's for API requests. Shared by a manager and the middleware that uses its
/// tokens; cheap to share behind an `Arc`.
///
/// A nonce is kept only when it is made of the characters RFC 9449 allows (`NQCHAR`:
/// printable ASCII except `"` and `\`) and at most 1024 of them; anything else a server
/// sends is ignored.
///
/// ```
/// use grantkit_core::DpopNonces;
///
/// let nonces = DpopNonces::default();
/// nonces.remember("https://auth.example.com/token?x=1", "eyJ7S_zG.eyJH0-Z.HX4w-7v");
/// assert_eq!(nonces.get("https://auth.example.com/other").as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
/// assert_eq!(nonces.get("https://api.example.com/"), None);
/// nonces.remember("https://api.example.com/", "bad\nnonce"); // ignored
/// assert_eq!(nonces.get("https://api.example.com/"), None);
/// ```
#[derive(Default)]
pub struct DpopNonces(Mutex<HashMap<String, String>>);

impl DpopNonces {
    /// The nonce last remembered for `url`'s origin.
    pub fn get(&self, url: &str) -> Option<String> {
        let origin = origin(url)?;
        self.lock().get(&origin).cloned()
    }

    /// Remembers `nonce` for `url`'s origin, if it is a valid nonce. Returns whether it
    /// was kept.
    pub fn remember(&self, url: &str, nonce: &str) -> bool {
        let Some(origin) = origin(url) else {
            return false;
        };
        if !valid_nonce(nonce) {
            tracing::debug!(
                origin,
                "ignoring a DPoP-Nonce that is not a valid nonce (RFC 9449 §8.1)"
            );
            return false;
        }
        let mut map = self.lock();
        if map.len() >= MAX_ORIGINS && !map.contains_key(&origin) {
            map.clear();
        }
        map.insert(origin, nonce.to_owned());
        true
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Nonces are not secrets, but they are server-chosen text: show only where from.
        let map = self.lock();
        let mut origins: Vec<&String> = map.keys().collect();
        origins.sort();
        f.debug_struct("DpopNonces")
            .field("origins", &origins)
            .finish()
    }
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, `NQCHAR = %x21 / %x23-5B / %x5D-7E`.
pub(crate) fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_LEN
        && nonce
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `scheme://host:port` of an http(s) URL.
pub(crate) fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?;
    let port = parsed.port_or_known_default()?;
    Some(format!("{}://{}:{}", parsed.scheme(), host, port))
}
