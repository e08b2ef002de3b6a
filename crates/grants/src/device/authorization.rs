//! The device authorization response (RFC 8628 §3.2) and the prompt that shows it.

use std::fmt;
use std::time::{Duration, SystemTime};

use grantkit_core::{DeviceCode, Error, Result, sanitize_server_text};
use serde::Deserialize;

/// The polling interval when the server names none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The most characters of a user code or verification URI that are kept; longer text
/// from the server is cut (and marked with `…`).
const SHOWN_CHARS: usize = 2048;

/// What the device authorization endpoint answered (RFC 8628 §3.2): the code the user
/// types, where to type it, and the device code this client polls with.
///
/// The user code and the URIs are server text: [`user_code`](Self::user_code),
/// [`verification_uri`](Self::verification_uri) and
/// [`verification_uri_complete`](Self::verification_uri_complete) return them sanitized
/// for a terminal (one line, no escape sequences or control characters, see
/// [`sanitize_server_text`]), and the URIs are `https` (or `http`) URLs or refused. The
/// device code is a [`DeviceCode`], never shown.
#[derive(Clone)]
pub struct DeviceAuthorization {
    device_code: DeviceCode,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_at: SystemTime,
    interval: Duration,
}

#[derive(Deserialize)]
struct Wire {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: serde_json::Value,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

impl DeviceAuthorization {
    /// Parses a 2xx answer received at `sent_at`. `verification_url` (Google's spelling)
    /// is read as `verification_uri`; `expires_in` and `interval` may be numbers or
    /// numeric strings; a missing `interval` is 5 s.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidResponse`](grantkit_core::ErrorKind::InvalidResponse) naming the
    /// missing or bad field (never its value).
    pub fn from_response(body: &[u8], sent_at: SystemTime) -> Result<Self> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            Error::invalid_response(format!(
                "the device authorization response is not usable: {}",
                // serde names the field and the position, not the values of strings.
                field_of(&e)
            ))
        })?;
        let expires_in = seconds(&wire.expires_in).ok_or_else(|| {
            Error::invalid_response("the device authorization response has no usable expires_in")
        })?;
        let interval = match &wire.interval {
            None | Some(serde_json::Value::Null) => DEFAULT_INTERVAL,
            Some(v) => Duration::from_secs(seconds(v).ok_or_else(|| {
                Error::invalid_response("the device authorization response has a bad interval")
            })?),
        };
        if wire.device_code.is_empty() || wire.user_code.is_empty() {
            return Err(Error::invalid_response(
                "the device authorization response has an empty device_code or user_code",
            ));
        }
        let verification_uri = checked_uri("verification_uri", &wire.verification_uri)?;
        let verification_uri_complete = wire
            .verification_uri_complete
            .as_deref()
            .map(|u| checked_uri("verification_uri_complete", u))
            .transpose()?;
        Ok(DeviceAuthorization {
            device_code: DeviceCode::new(wire.device_code),
            user_code: sanitize_server_text(&wire.user_code, SHOWN_CHARS),
            verification_uri,
            verification_uri_complete,
            expires_at: sent_at + Duration::from_secs(expires_in),
            interval,
        })
    }

    /// The device code this client polls the token endpoint with.
    ///
    /// # Security
    /// Whoever holds it receives the user's tokens once the user approves: never show or
    /// log it.
    pub fn device_code(&self) -> &DeviceCode {
        &self.device_code
    }

    /// The code the user enters at the verification URI, sanitized.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the user goes to enter the user code, sanitized.
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// The verification URI with the user code in it, if the server gave one (for a link
    /// or a QR code), sanitized.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.verification_uri_complete.as_deref()
    }

    /// When the device code expires (by the grant's clock, from `expires_in`).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The interval between polls the server asked for (default 5 s).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A device authorization for tests and for servers answering in their own format.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use grantkit_grants::DeviceAuthorization;
    ///
    /// let a = DeviceAuthorization::new("dc", "WDJB-MJHT", "https://example.com/device", UNIX_EPOCH, Duration::from_secs(5));
    /// assert_eq!(a.user_code(), "WDJB-MJHT");
    /// ```
    pub fn new(
        device_code: impl Into<DeviceCode>,
        user_code: &str,
        verification_uri: &str,
        expires_at: SystemTime,
        interval: Duration,
    ) -> Self {
        DeviceAuthorization {
            device_code: device_code.into(),
            user_code: sanitize_server_text(user_code, SHOWN_CHARS),
            verification_uri: sanitize_server_text(verification_uri, SHOWN_CHARS),
            verification_uri_complete: None,
            expires_at,
            interval,
        }
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &self.device_code)
            .field("user_code", &self.user_code)
            .field(
                "verification_uri",
                &grantkit_core::redact_url(&self.verification_uri),
            )
            .field("expires_at", &self.expires_at)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Whole seconds from a JSON number or a numeric string.
fn seconds(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A sanitized `http(s)` URI; anything else (a `javascript:` link, garbage) is refused.
fn checked_uri(field: &str, uri: &str) -> Result<String> {
    let clean = sanitize_server_text(uri, SHOWN_CHARS);
    let lower = clean.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || clean.contains(' ') {
        return Err(Error::invalid_response(format!(
            "the device authorization response's {field} is not an http(s) URL"
        )));
    }
    Ok(clean)
}

/// The field a serde error is about, without any value.
fn field_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find("missing field `") {
        Some(i) => text[i..]
            .split(" at line")
            .next()
            .unwrap_or("missing field")
            .to_owned(),
        None => format!("not the expected JSON object ({:?})", e.classify()),
    }
}

/// Shows a device authorization to the user: where to go and what code to enter.
///
/// The CLI prints it on stderr; a GUI would show a dialog or a QR code of
/// [`verification_uri_complete`](DeviceAuthorization::verification_uri_complete). The
/// text is already sanitized. Make one from a closure with [`device_prompt_fn`].
pub trait DevicePrompt: Send + Sync + fmt::Debug {
    /// Shows `authorization`; polling starts when this returns.
    ///
    /// # Errors
    /// A failure to show it (a closed terminal) ends the login with that error.
    fn show(&self, authorization: &DeviceAuthorization) -> Result<()>;
}

/// A [`DevicePrompt`] made of a closure; see [`device_prompt_fn`].
pub struct DevicePromptFn<F>(F);

/// Makes a [`DevicePrompt`] from a closure.
///
/// ```
/// use grantkit_grants::device_prompt_fn;
///
/// let prompt = device_prompt_fn(|a| {
///     eprintln!("Open {} and enter {}", a.verification_uri(), a.user_code());
///     Ok(())
/// });
/// # let _ = prompt;
/// ```
pub fn device_prompt_fn<F>(f: F) -> DevicePromptFn<F>
where
    F: Fn(&DeviceAuthorization) -> Result<()> + Send + Sync,
{
    DevicePromptFn(f)
}

impl<F> DevicePrompt for DevicePromptFn<F>
where
    F: Fn(&DeviceAuthorization) -> Result<()> + Send + Sync,
{
    fn show(&self, authorization: &DeviceAuthorization) -> Result<()> {
        (self.0)(authorization)
    }
}

impl<F> fmt::Debug for DevicePromptFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicePromptFn").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn parses_strings_google_spelling_and_defaults() {
        let a = DeviceAuthorization::from_response(
            br#"{"device_code":"dc-1","user_code":"AB-CD","verification_url":"https://g.example/device","expires_in":"1800"}"#,
            UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(a.device_code().secret(), "dc-1");
        assert_eq!(a.verification_uri(), "https://g.example/device");
        assert_eq!(a.verification_uri_complete(), None);
        assert_eq!(a.expires_at(), UNIX_EPOCH + Duration::from_secs(1800));
        assert_eq!(a.interval(), DEFAULT_INTERVAL);
        assert!(!format!("{a:?}").contains("dc-1"));
    }

    #[test]
    fn server_text_is_sanitized_and_bad_uris_refused() {
        let a = DeviceAuthorization::from_response(
            "{\"device_code\":\"d\",\"user_code\":\"\\u001b[2J\\u001b]0;x\\u0007WDJB\\nMJHT\",\
             \"verification_uri\":\"https://a.example/d\\u202e\",\"verification_uri_complete\":\
             \"https://a.example/d?c=WDJB\",\"expires_in\":600,\"interval\":7}"
                .as_bytes(),
            UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(a.user_code(), "WDJB MJHT");
        assert_eq!(a.verification_uri(), "https://a.example/d");
        assert_eq!(
            a.verification_uri_complete(),
            Some("https://a.example/d?c=WDJB")
        );
        assert_eq!(a.interval(), Duration::from_secs(7));
        let bad = DeviceAuthorization::from_response(
            br#"{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)","expires_in":600}"#,
            UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "the device authorization response's verification_uri is not an http(s) URL"
        );
        let missing = DeviceAuthorization::from_response(
            br#"{"device_code":"secret-dc","verification_uri":"https://a","expires_in":600}"#,
            UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "the device authorization response is not usable: missing field `user_code`"
        );
    }
}
