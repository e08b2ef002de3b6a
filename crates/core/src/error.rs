//! The one error type of grantkit.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

mod text;

pub use text::SERVER_TEXT_CHARS;
use text::sanitize;

/// Server-supplied text made fit for a terminal or a log line: one line, without escape
/// sequences, control characters or bidirectional overrides, cut after `max_chars`
/// characters (with `…` when something was left out). Errors show the server's `error`
/// and `error_description` through it; show any other text a server chose (a device
/// flow's `user_code` and `verification_uri`, say) through it too.
///
/// ```
/// use grantkit_core::sanitize_server_text;
///
/// assert_eq!(sanitize_server_text("\u{1b}]0;owned\u{7}ABCD-EFGH\n", 100), "ABCD-EFGH");
/// assert_eq!(sanitize_server_text("abcdefg", 6), "abcdef…");
/// ```
pub fn sanitize_server_text(text: &str, max_chars: usize) -> String {
    sanitize(text, max_chars)
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in broad classes.
///
/// New kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token endpoint could not be reached: DNS, connect, TLS, a connection closed
    /// before the response was complete. Retried.
    Connect,
    /// The token endpoint did not answer in time. Retried.
    Timeout,
    /// The token endpoint answered with an RFC 6749 §5.2 error (`invalid_client`,
    /// `invalid_grant`, …). See [`Error::oauth_error`]. Retried only for the codes
    /// `temporarily_unavailable` and `server_error`, or a 5xx/429 status.
    OAuth,
    /// The token endpoint answered an error status without an OAuth error body (an HTML
    /// 500 page, an empty 502). Retried for 5xx, 408 and 429.
    Status,
    /// The token endpoint answered 2xx, but the body is not a usable token response
    /// (not JSON, no `access_token`, too large). Not retried.
    InvalidResponse,
    /// The configuration is wrong: a missing field, a bad URL, an insecure URL that was
    /// not explicitly allowed. Not retried.
    Config,
    /// A token store failed (I/O, Redis, a corrupt record). The manager degrades around
    /// store failures rather than failing callers.
    Store,
    /// A user must log in first: a user-login grant (device authorization, authorization
    /// code) has no refresh token in its store, or the server refused the stored one. A
    /// process that cannot ask the user (a CLI's `token`, a service) returns this instead of
    /// starting an interactive login. Not retried.
    LoginRequired,
    /// Anything else, such as a custom grant's own failure.
    Other,
}

/// An OAuth 2.0 error response (RFC 6749 §5.2).
///
/// grantkit keeps nothing else of an error body.
///
/// # Security
/// The fields hold the server's text **raw**: a hostile or broken server can put terminal
/// escape sequences, line breaks or megabytes into them. Show them through `Display`
/// (the code and description, one line, each cut at [`SERVER_TEXT_CHARS`]) or
/// [`OAuthError::sanitized`], as [`Error`]'s `Display` and `Debug` do; read the fields
/// themselves only to match on them or to keep them verbatim.
///
/// ```
/// use grantkit_core::OAuthError;
///
/// let e = OAuthError::new("invalid_grant").with_description("\u{1b}[2Jgone\r\nFAKE: line");
/// assert_eq!(e.to_string(), "invalid_grant: gone FAKE: line");
/// assert!(e.error_description.as_deref().unwrap().contains('\u{1b}')); // raw
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OAuthError {
    /// The error code, e.g. `invalid_client` or `invalid_grant`.
    pub error: String,
    /// The human-readable explanation, when the server sent one.
    #[serde(default)]
    pub error_description: Option<String>,
    /// A link to a page about the error, when the server sent one.
    #[serde(default)]
    pub error_uri: Option<String>,
}

impl OAuthError {
    /// An error response with just a code.
    pub fn new(error: impl Into<String>) -> Self {
        OAuthError {
            error: error.into(),
            error_description: None,
            error_uri: None,
        }
    }

    /// Adds a description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// A copy fit to show: each field on one line, without control characters or escape
    /// sequences, cut at [`SERVER_TEXT_CHARS`] characters (then ending in `…`).
    #[must_use]
    pub fn sanitized(&self) -> OAuthError {
        let clean = |s: &str| sanitize(s, SERVER_TEXT_CHARS);
        OAuthError {
            error: clean(&self.error),
            error_description: self.error_description.as_deref().map(clean),
            error_uri: self.error_uri.as_deref().map(clean),
        }
    }

    /// Parses an error body, accepting only a JSON object whose `error` is a string.
    /// Other members are ignored; a non-string `error_description` is dropped.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        let error = obj.get("error")?.as_str()?.to_owned();
        let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Some(OAuthError {
            error,
            error_description: text("error_description"),
            error_uri: text("error_uri"),
        })
    }
}

/// The code and the description, sanitized and cut (see [`OAuthError::sanitized`]).
impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = sanitize(&self.error, SERVER_TEXT_CHARS);
        f.write_str(if code.is_empty() {
            "(unprintable error code)"
        } else {
            &code
        })?;
        if let Some(d) = &self.error_description {
            let d = sanitize(d, SERVER_TEXT_CHARS);
            if !d.is_empty() {
                write!(f, ": {d}")?;
            }
        }
        Ok(())
    }
}

/// The error returned by every fallible operation of grantkit.
///
/// One pointer wide, cheap to clone (all callers waiting on one token request receive the
/// same error), `Send + Sync`. Its `Display` says what happened and never repeats its
/// [`source`](StdError::source); print the whole chain with [`Error::report`]. It never
/// holds a secret or a raw successful response body: error bodies are kept only as their
/// OAuth fields or a short excerpt of a non-JSON page.
///
/// ```
/// use grantkit_core::{Error, ErrorKind};
///
/// let e = Error::from_response(401, &[], br#"{"error":"invalid_client","error_description":"bad secret"}"#);
/// assert_eq!(e.kind(), ErrorKind::OAuth);
/// assert!(!e.is_retryable());
/// assert_eq!(e.oauth_error().map(|o| o.error.as_str()), Some("invalid_client"));
/// assert_eq!(e.to_string(), "token endpoint refused the request (HTTP 401): invalid_client: bad secret");
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    status: Option<u16>,
    oauth: Option<OAuthError>,
    excerpt: Option<String>,
    retry_after: Option<Duration>,
    retryable: Option<bool>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// The longest excerpt of a non-JSON error body that an [`Error`] keeps, in characters
/// (followed by `…` when the body was longer).
pub const EXCERPT_CHARS: usize = 160;

impl Error {
    fn build(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Inner {
        Inner {
            kind,
            message: message.into(),
            status: None,
            oauth: None,
            excerpt: None,
            retry_after: None,
            retryable: None,
            source: None,
        }
    }

    fn from_inner(inner: Inner) -> Self {
        Error {
            inner: Arc::new(inner),
        }
    }

    /// An error of `kind` with a message saying what was wrong.
    ///
    /// The message must not contain a secret.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_inner(Self::build(kind, message))
    }

    /// A configuration error naming what is wrong.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A token store failure.
    pub fn store(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Store, message)
    }

    /// A 2xx response that is not a usable token response.
    pub fn invalid_response(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidResponse, message)
    }

    /// A failure that is worth retrying (for custom grants).
    pub fn retryable(message: impl Into<Cow<'static, str>>) -> Self {
        let mut inner = Self::build(ErrorKind::Other, message);
        inner.retryable = Some(true);
        Self::from_inner(inner)
    }

    /// A failure that retrying will not fix (for custom grants).
    pub fn permanent(message: impl Into<Cow<'static, str>>) -> Self {
        let mut inner = Self::build(ErrorKind::Other, message);
        inner.retryable = Some(false);
        Self::from_inner(inner)
    }

    /// The token endpoint answered `status` (not 2xx) with `body`.
    ///
    /// An RFC 6749 §5.2 JSON body becomes [`ErrorKind::OAuth`] with its fields; anything
    /// else becomes [`ErrorKind::Status`] with a short, whitespace-collapsed excerpt of the
    /// body. A `Retry-After` header given in seconds is kept (see [`Error::retry_after`]).
    pub fn from_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let retry_after = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| parse_retry_after(v));
        let mut inner = match OAuthError::parse(body) {
            Some(oauth) => {
                let mut inner = Self::build(ErrorKind::OAuth, "token endpoint refused the request");
                inner.oauth = Some(oauth);
                inner
            }
            None => {
                let mut inner = Self::build(ErrorKind::Status, "token endpoint answered an error");
                inner.excerpt = excerpt(body);
                inner
            }
        };
        inner.status = Some(status);
        inner.retry_after = retry_after;
        Self::from_inner(inner)
    }

    /// The same error with `source` as its cause.
    ///
    /// Use only for sources whose messages carry no secret.
    pub fn with_source(self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        let source: Box<dyn StdError + Send + Sync> = source.into();
        self.map_inner(|i| i.source = Some(Arc::from(source)))
    }

    /// The same error with an HTTP status attached.
    pub fn with_status(self, status: u16) -> Self {
        self.map_inner(|i| i.status = Some(status))
    }

    /// The same error with an OAuth error body attached (its kind becomes
    /// [`ErrorKind::OAuth`]).
    pub fn with_oauth_error(self, oauth: OAuthError) -> Self {
        self.map_inner(|i| {
            i.kind = ErrorKind::OAuth;
            i.oauth = Some(oauth);
        })
    }

    /// The same error with a server-requested delay before the next attempt.
    pub fn with_retry_after(self, delay: Duration) -> Self {
        self.map_inner(|i| i.retry_after = Some(delay))
    }

    /// The same error, but with its retryability decided explicitly.
    pub fn with_retryable(self, retryable: bool) -> Self {
        self.map_inner(|i| i.retryable = Some(retryable))
    }

    /// The same error with a different message; for adding context such as the name of a
    /// profile or a field.
    pub fn with_message(self, message: impl Into<Cow<'static, str>>) -> Self {
        self.map_inner(|i| i.message = message.into())
    }

    /// The same error with `context` put before its message, e.g. the profile or field
    /// it concerns.
    pub fn with_context(self, context: impl fmt::Display) -> Self {
        self.map_inner(|i| i.message = Cow::Owned(format!("{context}: {}", i.message)))
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                kind: shared.kind,
                message: shared.message.clone(),
                status: shared.status,
                oauth: shared.oauth.clone(),
                excerpt: shared.excerpt.clone(),
                retry_after: shared.retry_after,
                retryable: shared.retryable,
                source: shared.source.clone(),
            },
        };
        f(&mut inner);
        Self::from_inner(inner)
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status the token endpoint answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The parsed RFC 6749 §5.2 error body, if the endpoint sent one.
    ///
    /// # Security
    /// Its fields are the server's raw text (see [`OAuthError`]); this error's `Display`
    /// shows them sanitized and cut.
    pub fn oauth_error(&self) -> Option<&OAuthError> {
        self.inner.oauth.as_ref()
    }

    /// A short excerpt of a non-JSON error body (an HTML page, plain text), if any: one
    /// line without control characters or escape sequences, at most [`EXCERPT_CHARS`]
    /// characters and `…`. The body itself is not kept.
    pub fn body_excerpt(&self) -> Option<&str> {
        self.inner.excerpt.as_deref()
    }

    /// How long the server asked the client to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether trying again may succeed: connection failures, timeouts, 5xx, 408 and 429,
    /// and the OAuth codes `temporarily_unavailable` and `server_error`. Not: other 4xx,
    /// `invalid_client`, `invalid_grant`, bad responses, configuration errors.
    pub fn is_retryable(&self) -> bool {
        if let Some(explicit) = self.inner.retryable {
            return explicit;
        }
        let status_retryable =
            matches!(self.inner.status, Some(s) if s >= 500 || s == 408 || s == 429);
        match self.inner.kind {
            ErrorKind::Connect | ErrorKind::Timeout => true,
            ErrorKind::Status => status_retryable,
            ErrorKind::OAuth => {
                status_retryable
                    || self.inner.oauth.as_ref().is_some_and(|o| {
                        o.error == "temporarily_unavailable" || o.error == "server_error"
                    })
            }
            ErrorKind::InvalidResponse
            | ErrorKind::Config
            | ErrorKind::Store
            | ErrorKind::LoginRequired
            | ErrorKind::Other => false,
        }
    }

    /// Whether the endpoint answered `invalid_grant` (e.g. a refresh token that was
    /// revoked or already used).
    pub fn is_invalid_grant(&self) -> bool {
        self.oauth_code() == Some("invalid_grant")
    }

    /// Whether the endpoint answered `invalid_client` (wrong client id or secret).
    pub fn is_invalid_client(&self) -> bool {
        self.oauth_code() == Some("invalid_client")
    }

    /// Whether the endpoint answered `access_denied`: the user declined an interactive
    /// login (RFC 8628 §3.5, RFC 6749 §4.1.2.1).
    pub fn is_access_denied(&self) -> bool {
        self.oauth_code() == Some("access_denied")
    }

    /// Whether the device code of a device authorization expired before the user approved
    /// it (RFC 8628 §3.5 `expired_token`, said by the server or found by the client's clock).
    pub fn is_expired_token(&self) -> bool {
        self.oauth_code() == Some("expired_token")
    }

    /// Whether a user must log in first ([`ErrorKind::LoginRequired`]).
    pub fn is_login_required(&self) -> bool {
        self.inner.kind == ErrorKind::LoginRequired
    }

    fn oauth_code(&self) -> Option<&str> {
        self.inner.oauth.as_ref().map(|o| o.error.as_str())
    }

    /// The message alone, without status, OAuth fields or excerpt.
    pub(crate) fn message(&self) -> &str {
        &self.inner.message
    }

    /// Displays this error followed by every cause in its source chain, separated by `: `;
    /// for logs.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// Displays an error with its whole source chain; see [`Error::report`].
#[derive(Debug)]
pub struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = StdError::source(self.0);
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    // Only the delta-seconds form; an HTTP-date would need the server's clock.
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn excerpt(body: &[u8]) -> Option<String> {
    let out = sanitize(&String::from_utf8_lossy(body), EXCERPT_CHARS);
    (!out.is_empty()).then_some(out)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.write_str(&i.message)?;
        if let Some(status) = i.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(oauth) = &i.oauth {
            write!(f, ": {oauth}")?;
        } else if let Some(excerpt) = &i.excerpt {
            write!(f, ": {excerpt:?}")?;
        } else if i.kind == ErrorKind::Status {
            f.write_str(": empty body")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("message", &i.message);
        if let Some(s) = i.status {
            d.field("status", &s);
        }
        if let Some(o) = &i.oauth {
            // Sanitized like Display: Debug ends up in logs too.
            d.field("oauth", &o.sanitized());
        }
        if let Some(e) = &i.excerpt {
            d.field("excerpt", e);
        }
        if let Some(r) = i.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(s) = &i.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.source {
            Some(s) => Some(&**s as &(dyn StdError + 'static)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests;
