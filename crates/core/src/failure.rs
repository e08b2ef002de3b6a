//! [`FailureRecord`]: a renewal that ended without a token, as a store keeps it for the
//! other processes sharing the key.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, OAuthError, Result};

/// The longest text a record keeps of a message or an OAuth field, in characters; longer
/// text is cut and ends with `…`.
pub const FAILURE_TEXT_CHARS: usize = 300;

/// The longest encoded record a store needs to read back, in bytes (four fields of at
/// most [`FAILURE_TEXT_CHARS`] characters of up to four bytes each, escaped, plus the
/// rest). A store may refuse larger input as unreadable.
pub const MAX_FAILURE_RECORD_BYTES: usize = 16 * 1024;

/// A failed renewal, left in a store by the process that made it so that processes
/// waiting for the same key return its error at once instead of waiting out the refresh
/// lock and asking the token endpoint again (see
/// [`TokenStore::save_failure`](crate::TokenStore::save_failure)).
///
/// It keeps what a caller needs to act on the error and nothing that could be secret or
/// raw: the [`ErrorKind`], the error's own message, the HTTP status, the OAuth `error`,
/// `error_description` and `error_uri` (control characters removed, each cut at
/// [`FAILURE_TEXT_CHARS`]), whether it is retryable, and until when it holds. An error's
/// source chain and body excerpt are dropped.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use grantkit_core::{Error, ErrorKind, FailureRecord};
///
/// let error = Error::from_response(401, &[], br#"{"error":"invalid_client","error_description":"bad secret"}"#);
/// let until = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let record = FailureRecord::from_error(&error, until);
/// let back = FailureRecord::decode(&record.encode()).unwrap();
/// assert_eq!(back, record);
/// let again = back.to_error();
/// assert_eq!(again.kind(), ErrorKind::OAuth);
/// assert!(again.is_invalid_client() && !again.is_retryable());
/// assert_eq!(again.to_string(), error.to_string());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    oauth: Option<OAuthError>,
    retryable: bool,
    until: SystemTime,
}

/// The stored form; field names are part of the store formats (see `docs/stores.md`).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    v: u32,
    kind: Cow<'a, str>,
    message: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_description: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_uri: Option<Cow<'a, str>>,
    retryable: bool,
    until_ms: u64,
}

impl FailureRecord {
    /// The record of `error`, holding until `until` (by the clock of the manager that
    /// failed).
    pub fn from_error(error: &Error, until: SystemTime) -> Self {
        let oauth = error.oauth_error().map(|o| OAuthError {
            error: clean(&o.error),
            error_description: o.error_description.as_deref().map(clean),
            error_uri: o.error_uri.as_deref().map(clean),
        });
        FailureRecord {
            kind: error.kind(),
            message: clean(error.message()),
            status: error.status(),
            oauth,
            retryable: error.is_retryable(),
            until: to_millis_precision(until),
        }
    }

    /// The error again: same kind, message, status, OAuth fields and retryability (no
    /// source, no body excerpt).
    pub fn to_error(&self) -> Error {
        let mut error = Error::new(self.kind, self.message.clone());
        if let Some(status) = self.status {
            error = error.with_status(status);
        }
        if let Some(oauth) = &self.oauth {
            error = error.with_oauth_error(oauth.clone());
        }
        error.with_retryable(self.retryable)
    }

    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error's message (without status or OAuth fields).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status the token endpoint answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The OAuth error fields, if the endpoint sent them.
    pub fn oauth_error(&self) -> Option<&OAuthError> {
        self.oauth.as_ref()
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Until when the failure holds: the end of the failing manager's failure cool-down.
    pub fn until(&self) -> SystemTime {
        self.until
    }

    /// The record as JSON (see `docs/stores.md`); no secret, a few hundred bytes.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            v: 1,
            kind: Cow::Borrowed(kind_name(self.kind)),
            message: Cow::Borrowed(&self.message),
            status: self.status,
            error: self.oauth.as_ref().map(|o| Cow::Borrowed(o.error.as_str())),
            error_description: self
                .oauth
                .as_ref()
                .and_then(|o| o.error_description.as_deref().map(Cow::Borrowed)),
            error_uri: self
                .oauth
                .as_ref()
                .and_then(|o| o.error_uri.as_deref().map(Cow::Borrowed)),
            retryable: self.retryable,
            until_ms: u64::try_from(
                self.until
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
        };
        // A struct of strings, numbers and booleans always serialises.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a record written by [`encode`](Self::encode). Text is cleaned and cut again,
    /// so a planted record cannot smuggle control characters or megabytes into errors.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when `bytes` is not such a record (or a later version of it).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FAILURE_RECORD_BYTES {
            return Err(Error::store("the failure record is too large"));
        }
        let wire: Wire<'_> = serde_json::from_slice(bytes)
            .map_err(|e| Error::store("the failure record is not readable").with_source(e))?;
        if wire.v != 1 {
            return Err(Error::store(format!(
                "the failure record has an unknown version {}",
                wire.v
            )));
        }
        let kind = kind_from_name(&wire.kind);
        let oauth = wire.error.map(|code| OAuthError {
            error: clean(&code),
            error_description: wire.error_description.as_deref().map(clean),
            error_uri: wire.error_uri.as_deref().map(clean),
        });
        Ok(FailureRecord {
            kind,
            message: clean(&wire.message),
            status: wire.status,
            oauth,
            retryable: wire.retryable,
            until: UNIX_EPOCH + Duration::from_millis(wire.until_ms),
        })
    }
}

fn to_millis_precision(t: SystemTime) -> SystemTime {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// `text` without control characters, cut at [`FAILURE_TEXT_CHARS`] characters.
fn clean(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().filter(|c| !c.is_control()).enumerate() {
        if n == FAILURE_TEXT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::OAuth => "oauth",
        ErrorKind::Status => "status",
        ErrorKind::InvalidResponse => "invalid_response",
        ErrorKind::Config => "config",
        ErrorKind::Store => "store",
        ErrorKind::LoginRequired => "login_required",
        ErrorKind::Other => "other",
    }
}

/// The kind named `name`; a name written by a later version is [`ErrorKind::Other`].
fn kind_from_name(name: &str) -> ErrorKind {
    match name {
        "connect" => ErrorKind::Connect,
        "timeout" => ErrorKind::Timeout,
        "oauth" => ErrorKind::OAuth,
        "status" => ErrorKind::Status,
        "invalid_response" => ErrorKind::InvalidResponse,
        "config" => ErrorKind::Config,
        "store" => ErrorKind::Store,
        "login_required" => ErrorKind::LoginRequired,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn every_kind_survives_a_round_trip_with_status_code_and_retryability() {
        let errors = [
            Error::new(ErrorKind::Connect, "could not reach the token endpoint"),
            Error::new(ErrorKind::Timeout, "the token request did not complete in time"),
            Error::from_response(
                400,
                &[],
                br#"{"error":"invalid_grant","error_description":"revoked","error_uri":"https://x/e"}"#,
            ),
            Error::from_response(503, &[], b""),
            Error::invalid_response("token response is not JSON"),
            Error::config("no grant"),
            Error::store("disk on fire"),
            Error::retryable("custom, retry me"),
            Error::permanent("custom, give up"),
        ];
        for error in errors {
            let record = FailureRecord::from_error(&error, at(1_700_000_000));
            let back = FailureRecord::decode(&record.encode()).unwrap();
            assert_eq!(back, record);
            assert_eq!(back.until(), at(1_700_000_000));
            let again = back.to_error();
            assert_eq!(again.kind(), error.kind(), "{error}");
            assert_eq!(again.status(), error.status(), "{error}");
            assert_eq!(again.oauth_error(), error.oauth_error(), "{error}");
            assert_eq!(again.is_retryable(), error.is_retryable(), "{error}");
            assert_eq!(again.to_string(), error.to_string());
        }
    }

    #[test]
    fn no_source_no_excerpt_no_control_characters_and_bounded_text() {
        let error = Error::from_response(500, &[], b"<html>secret-looking page body</html>")
            .with_source(std::io::Error::other("inner detail"));
        let record = FailureRecord::from_error(&error, at(1));
        let text = String::from_utf8(record.encode()).unwrap();
        assert!(
            !text.contains("page body") && !text.contains("inner detail"),
            "{text}"
        );
        assert!(record.to_error().body_excerpt().is_none());

        let huge = format!("{}\u{1b}[31m{}", "d".repeat(10), "e".repeat(900_000));
        let error = Error::new(ErrorKind::OAuth, "refused").with_oauth_error(
            OAuthError::new("invalid_client\r\nX-Evil: 1").with_description(huge),
        );
        let record = FailureRecord::from_error(&error, at(1));
        let oauth = record.oauth_error().unwrap();
        assert_eq!(oauth.error, "invalid_clientX-Evil: 1");
        let description = oauth.error_description.as_deref().unwrap();
        assert_eq!(description.chars().count(), FAILURE_TEXT_CHARS + 1);
        assert!(description.starts_with("dddddddddd[31me") && description.ends_with('…'));
        assert!(record.encode().len() < MAX_FAILURE_RECORD_BYTES);
    }

    #[test]
    fn planted_or_foreign_records_are_refused_or_cleaned() {
        assert_eq!(
            FailureRecord::decode(b"garbage").unwrap_err().kind(),
            ErrorKind::Store
        );
        assert!(
            FailureRecord::decode(
                br#"{"v":2,"kind":"oauth","message":"m","retryable":false,"until_ms":1}"#
            )
            .is_err()
        );
        assert!(FailureRecord::decode(&vec![b' '; MAX_FAILURE_RECORD_BYTES + 1]).is_err());
        let planted = format!(
            r#"{{"v":1,"kind":"brand_new","message":"a\u0007b{}","retryable":true,"until_ms":5}}"#,
            "m".repeat(1000)
        );
        let record = FailureRecord::decode(planted.as_bytes()).unwrap();
        assert_eq!(record.kind(), ErrorKind::Other);
        assert!(record.message().starts_with("abm"));
        assert_eq!(record.message().chars().count(), FAILURE_TEXT_CHARS + 1);
        assert_eq!(record.until(), UNIX_EPOCH + Duration::from_millis(5));
    }
}
