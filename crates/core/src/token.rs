//! The token and the lenient parsing of token responses.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, OAuthError, Result};
use crate::secret::{AccessToken, RefreshToken};

mod check;

pub(crate) use check::distrust_stored;
use check::{check_access_token, check_token_type, check_token_type_accepted};

/// The lifetime given to a token whose response has neither `expires_in` nor a JWT `exp`.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest lifetime a parsed token is given (100 years), whatever `expires_in` or a
/// JWT `exp` claim says.
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How much earlier than `issued_at + expires_in` a parsed token is taken to expire.
/// `expires_in` counts whole seconds, and servers commonly set the token's real expiry to
/// the current whole second plus the lifetime: the token may die up to a second before
/// `issued_at + expires_in`.
const WHOLE_SECOND_MARGIN: Duration = Duration::from_secs(1);

/// An access token with everything the token endpoint said about it.
///
/// Cheap to clone (one reference count). Its `Debug` shows the token type, the times, the
/// scope and the names of extra fields, never the access or refresh token, nor the values
/// of extra fields (an `id_token` is a credential too).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use grantkit_core::Token;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
/// let token = Token::new("abc", now, now + Duration::from_secs(3600)).with_token_type("bearer");
/// assert_eq!(token.authorization_header(), "Bearer abc");
/// assert!(!format!("{token:?}").contains("abc"));
/// ```
#[derive(Clone, PartialEq)]
pub struct Token(Arc<TokenData>);

#[derive(Clone, PartialEq)]
struct TokenData {
    access_token: AccessToken,
    token_type: String,
    issued_at: SystemTime,
    expires_at: SystemTime,
    /// What the token endpoint's `expires_in` said, when it said it.
    stated_lifetime: Option<Duration>,
    refresh_token: Option<RefreshToken>,
    scope: Option<String>,
    extra: Map<String, Value>,
    header: HeaderCache,
}

/// The `Authorization` header value, built on first use: an HTTP client sending many
/// requests with one token formats and validates it once. Copies start empty (a replica
/// or an edited token builds its own), and it plays no part in equality.
#[derive(Default)]
struct HeaderCache(std::sync::OnceLock<http::HeaderValue>);

impl Clone for HeaderCache {
    fn clone(&self) -> Self {
        HeaderCache::default()
    }
}

impl PartialEq for HeaderCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Token {
    /// A bearer token issued at `issued_at` that expires at `expires_at`.
    ///
    /// Nothing is checked here; [`Token::validate`] says whether the token can be sent in
    /// an `Authorization` header, and the [`TokenManager`](crate::TokenManager) refuses a
    /// grant's token that cannot.
    pub fn new(
        access_token: impl Into<AccessToken>,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        Token(Arc::new(TokenData {
            access_token: access_token.into(),
            token_type: "Bearer".to_owned(),
            issued_at,
            expires_at: expires_at.max(issued_at),
            stated_lifetime: None,
            refresh_token: None,
            scope: None,
            extra: Map::new(),
            header: HeaderCache::default(),
        }))
    }

    fn data_mut(&mut self) -> &mut TokenData {
        let data = Arc::make_mut(&mut self.0);
        data.header = HeaderCache::default();
        data
    }

    /// Sets the token type; any spelling of `bearer` becomes `Bearer`. Not checked here:
    /// see [`Token::validate`].
    pub fn with_token_type(mut self, token_type: impl AsRef<str>) -> Self {
        self.data_mut().token_type = normalize_token_type(token_type.as_ref());
        self
    }

    /// Sets the refresh token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<RefreshToken>) -> Self {
        self.data_mut().refresh_token = Some(refresh_token.into());
        self
    }

    /// Removes the refresh token.
    pub fn without_refresh_token(mut self) -> Self {
        self.data_mut().refresh_token = None;
        self
    }

    /// Sets the granted scope (space-separated, as in RFC 6749 §3.3).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.data_mut().scope = Some(scope.into());
        self
    }

    /// Adds a field the token endpoint returned beyond the standard ones.
    pub fn with_extra(mut self, name: impl Into<String>, value: Value) -> Self {
        self.data_mut().extra.insert(name.into(), value);
        self
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.0.access_token
    }

    /// The token type as the server said it, with `bearer` in any case normalised to
    /// `Bearer`; `Bearer` when the server did not say.
    pub fn token_type(&self) -> &str {
        &self.0.token_type
    }

    /// When the token was requested (the base for `expires_in`).
    pub fn issued_at(&self) -> SystemTime {
        self.0.issued_at
    }

    /// When the token expires. For a parsed token this is one second before
    /// `issued_at + expires_in` (or the access token's JWT `exp` if that is earlier): see
    /// [`Token::from_response`].
    pub fn expires_at(&self) -> SystemTime {
        self.0.expires_at
    }

    /// The lifetime the token endpoint stated in `expires_in` (before the one-second
    /// margin), if it stated one; kept in stores so that a record claiming a longer life is
    /// not trusted.
    pub fn stated_lifetime(&self) -> Option<Duration> {
        self.0.stated_lifetime
    }

    /// The whole lifetime, from `issued_at` to `expires_at`.
    pub fn lifetime(&self) -> Duration {
        self.0
            .expires_at
            .duration_since(self.0.issued_at)
            .unwrap_or_default()
    }

    /// The time left at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.0.expires_at.duration_since(now).unwrap_or_default()
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.0.expires_at
    }

    /// The refresh token, if the server issued one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.0.refresh_token.as_ref()
    }

    /// The scope the server granted, if it said.
    pub fn scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// Fields of the token response beyond the standard ones (e.g. `id_token`, vendor
    /// fields).
    pub fn extra(&self) -> &Map<String, Value> {
        &self.0.extra
    }

    /// Checks that the token can be sent in an `Authorization` header: a non-empty access
    /// token of visible ASCII (`!` to `~`) and a token type that is one HTTP token (no
    /// space, control character or non-ASCII).
    ///
    /// Tokens parsed by [`Token::from_response`], read back from a store or handed out by
    /// the [`TokenManager`](crate::TokenManager) always pass; a token built by hand with
    /// [`Token::new`] may not.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) naming the field
    /// and the kind of character, never the value.
    pub fn validate(&self) -> Result<()> {
        check_access_token("token", self.0.access_token.secret())?;
        check_token_type("token", &self.0.token_type)
    }

    /// The value of an `Authorization` header: token type, a space, the access token.
    ///
    /// # Security
    /// The returned string contains the access token. Prefer [`Token::header_value`] for
    /// HTTP clients: it is marked sensitive. A token from a token response, a store or the
    /// manager is [valid](Token::validate), so this string holds no line break or other
    /// control character; a token built by hand is not checked here.
    pub fn authorization_header(&self) -> String {
        format!("{} {}", self.0.token_type, self.0.access_token.secret())
    }

    /// The `Authorization` header value, marked sensitive so HTTP libraries do not log it.
    ///
    /// # Errors
    /// When the token is not [valid](Token::validate) (a token built by hand).
    pub fn header_value(&self) -> Result<http::HeaderValue> {
        if let Some(value) = self.0.header.0.get() {
            return Ok(value.clone());
        }
        self.validate()?;
        let mut value = http::HeaderValue::try_from(self.authorization_header()).map_err(|_| {
            Error::invalid_response("the access token contains characters not allowed in a header")
        })?;
        value.set_sensitive(true);
        Ok(self.0.header.0.get_or_init(|| value).clone())
    }

    /// Whether `other` carries the same access token (compared in constant time).
    pub fn same_access_token(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.access_token == other.0.access_token
    }

    /// A copy in its own allocation; lets the manager give each thread its own reference
    /// count so that concurrent `token()` calls do not contend on one cache line.
    pub(crate) fn replicate(&self) -> Token {
        Token(Arc::new((*self.0).clone()))
    }

    /// Parses a token endpoint's answer, accepting only `Bearer` tokens; see
    /// [`Token::from_response_accepting`] for the rules.
    ///
    /// # Errors
    /// As for [`Token::from_response_accepting`].
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use grantkit_core::Token;
    ///
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    /// let body = br#"{"access_token":"abc","token_type":"bearer","expires_in":"3600"}"#;
    /// let token = Token::from_response(200, &[], body, now, Duration::from_secs(3600)).unwrap();
    /// // `expires_in` counts whole seconds: the token is taken to expire one second early.
    /// assert_eq!(token.expires_at(), now + Duration::from_secs(3599));
    /// assert_eq!(token.token_type(), "Bearer");
    /// ```
    pub fn from_response(
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        issued_at: SystemTime,
        default_lifetime: Duration,
    ) -> Result<Token> {
        Self::from_response_accepting(status, headers, body, issued_at, default_lifetime, &[])
    }

    /// Parses a token endpoint's answer, accepting `Bearer` tokens and those of the
    /// `token_types` given (compared case-insensitively, e.g. `["DPoP"]`).
    ///
    /// - Any 2xx with a JSON object holding a string `access_token` is a token. A 2xx body
    ///   with an `error` member is an error.
    /// - The access token must be visible ASCII (`!` to `~`), and the token type one HTTP
    ///   token (no space, control character or non-ASCII): both go into an `Authorization`
    ///   header, where a line break would add a header of the server's choosing.
    /// - `token_type` may be in any case; absent, `null` or empty means `Bearer`. A type
    ///   other than `Bearer` is refused unless it is one of `token_types`.
    /// - `expires_in` may be a number or a numeric string, counted from `issued_at` (the
    ///   time the request was sent, so network latency shortens rather than lengthens the
    ///   lifetime). It counts whole seconds and servers commonly end a token at the current
    ///   whole second plus the lifetime, so the token is taken to expire **one second
    ///   earlier** than `issued_at + expires_in`, or at the access token's JWT `exp` claim
    ///   if that is earlier. Zero or negative (and anything up to one second) means already
    ///   expired.
    /// - Without `expires_in`, the access token's JWT `exp` claim is used if it is a JWT
    ///   (decoded without verification, for timing only), else `default_lifetime`.
    /// - `scope` may be a string or an array of strings.
    /// - Every other member is kept in [`Token::extra`].
    /// - Any other status is parsed as an error body: RFC 6749 §5.2 JSON, or an excerpt.
    ///
    /// # Errors
    /// [`ErrorKind::OAuth`](crate::ErrorKind::OAuth) or [`ErrorKind::Status`](crate::ErrorKind::Status)
    /// for error answers, [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse)
    /// for a 2xx that is not a usable token (no access token, characters that cannot go
    /// into a header, a token type not accepted). Error messages name the problem, never
    /// the body or the value.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use grantkit_core::{ErrorKind, Token};
    ///
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    /// let body = br#"{"access_token":"abc","token_type":"DPoP","expires_in":60}"#;
    /// let hour = Duration::from_secs(3600);
    /// let refused = Token::from_response(200, &[], body, now, hour).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::InvalidResponse);
    /// let token = Token::from_response_accepting(200, &[], body, now, hour, &["dpop"]).unwrap();
    /// assert_eq!(token.authorization_header(), "DPoP abc");
    /// ```
    pub fn from_response_accepting(
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        issued_at: SystemTime,
        default_lifetime: Duration,
        token_types: &[&str],
    ) -> Result<Token> {
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, headers, body));
        }
        let object = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(
                    Error::invalid_response("token response is JSON but not an object")
                        .with_status(status),
                );
            }
            Err(_) if body.iter().all(u8::is_ascii_whitespace) => {
                return Err(Error::invalid_response("token response is empty").with_status(status));
            }
            Err(_) => {
                return Err(
                    Error::invalid_response("token response is not JSON").with_status(status)
                );
            }
        };
        Self::from_json_object_accepting(object, issued_at, default_lifetime, token_types)
            .map_err(|e| e.with_status(status))
    }

    /// Parses the JSON object of a successful token response, accepting only `Bearer`
    /// tokens; see [`Token::from_response_accepting`].
    ///
    /// # Errors
    /// As for [`Token::from_response_accepting`].
    pub fn from_json_object(
        object: Map<String, Value>,
        issued_at: SystemTime,
        default_lifetime: Duration,
    ) -> Result<Token> {
        Self::from_json_object_accepting(object, issued_at, default_lifetime, &[])
    }

    /// Parses the JSON object of a successful token response, accepting `Bearer` tokens
    /// and those of `token_types`; see [`Token::from_response_accepting`].
    ///
    /// # Errors
    /// As for [`Token::from_response_accepting`].
    pub fn from_json_object_accepting(
        mut object: Map<String, Value>,
        issued_at: SystemTime,
        default_lifetime: Duration,
        token_types: &[&str],
    ) -> Result<Token> {
        if object.get("error").is_some_and(Value::is_string) {
            let body = Value::Object(object).to_string();
            let oauth = OAuthError::parse(body.as_bytes())
                .unwrap_or_else(|| OAuthError::new("unknown_error"));
            return Err(Error::new(
                crate::ErrorKind::OAuth,
                "token endpoint answered success with an error body",
            )
            .with_oauth_error(oauth));
        }
        let access_token = match object.remove("access_token") {
            Some(Value::String(s)) => {
                check_access_token("token response", &s)?;
                AccessToken::new(s)
            }
            Some(_) => {
                return Err(Error::invalid_response(
                    "token response has an access_token that is not a string",
                ));
            }
            None => {
                return Err(Error::invalid_response(
                    "token response has no access_token",
                ));
            }
        };
        let token_type = match object.remove("token_type") {
            None | Some(Value::Null) => "Bearer".to_owned(),
            Some(Value::String(t)) if trim_ows(&t).is_empty() => "Bearer".to_owned(),
            Some(Value::String(t)) => {
                check_token_type("token response", trim_ows(&t))?;
                normalize_token_type(&t)
            }
            Some(_) => {
                return Err(Error::invalid_response(
                    "token response has a token_type that is not a string",
                ));
            }
        };
        check_token_type_accepted(&token_type, token_types)?;
        // Whatever the server says, a lifetime ends within MAX_LIFETIME: a later instant
        // may not even be representable (`expires_in: 1e19` must not panic).
        let latest = issued_at.checked_add(MAX_LIFETIME).unwrap_or(issued_at);
        let after = |lifetime: Duration| {
            issued_at
                .checked_add(lifetime.min(MAX_LIFETIME))
                .unwrap_or(latest)
        };
        let jwt_exp = || jwt_expiry(access_token.secret()).map(|exp| exp.min(latest));
        let (expires_at, stated_lifetime) =
            match object.remove("expires_in").as_ref().and_then(seconds_of) {
                Some(secs) if secs <= 0.0 => (issued_at, Some(Duration::ZERO)),
                Some(secs) => {
                    let stated = Duration::try_from_secs_f64(secs)
                        .unwrap_or(MAX_LIFETIME)
                        .min(MAX_LIFETIME);
                    let by_expires_in = after(stated.saturating_sub(WHOLE_SECOND_MARGIN));
                    let expires_at = match jwt_exp() {
                        Some(exp) => by_expires_in.min(exp),
                        None => by_expires_in,
                    };
                    (expires_at, Some(stated))
                }
                None => (jwt_exp().unwrap_or_else(|| after(default_lifetime)), None),
            };
        let refresh_token = match object.remove("refresh_token") {
            Some(Value::String(s)) if !s.is_empty() => Some(RefreshToken::new(s)),
            _ => None,
        };
        let scope = match object.remove("scope") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        Ok(Token(Arc::new(TokenData {
            access_token,
            token_type,
            issued_at,
            expires_at: expires_at.max(issued_at),
            stated_lifetime,
            refresh_token,
            scope,
            extra: object,
            header: HeaderCache::default(),
        })))
    }
}

/// `t` without the spaces and tabs HTTP allows around a value (never line breaks).
fn trim_ows(t: &str) -> &str {
    t.trim_matches([' ', '\t'])
}

fn normalize_token_type(t: &str) -> String {
    let t = trim_ows(t);
    if t.eq_ignore_ascii_case("bearer") {
        "Bearer".to_owned()
    } else {
        t.to_owned()
    }
}

fn seconds_of(value: &Value) -> Option<f64> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    secs.is_finite().then_some(secs)
}

/// The `exp` claim of a JWT, read without verifying anything; `None` if `token` is not a
/// JWT with a numeric `exp`.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(exp).ok()?)
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        f.debug_struct("Token")
            .field("access_token", &d.access_token)
            .field("token_type", &d.token_type)
            .field("issued_at", &unix_secs(d.issued_at))
            .field("expires_at", &unix_secs(d.expires_at))
            .field("refresh_token", &d.refresh_token)
            .field("scope", &d.scope)
            .field("extra_fields", &d.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The serialized form used by token stores.
#[derive(Serialize, Deserialize)]
struct StoredToken<'a> {
    v: u32,
    access_token: std::borrow::Cow<'a, str>,
    token_type: std::borrow::Cow<'a, str>,
    issued_at_ms: u64,
    expires_at_ms: u64,
    /// What `expires_in` said, in milliseconds; absent in records written before it was
    /// kept, and for tokens whose server did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    extra: Map<String, Value>,
}

/// Serializes every field, secrets included, for token stores.
///
/// # Security
/// The serialized form holds the access and refresh tokens in clear. Stores that write it
/// somewhere shared should restrict access to it or encrypt it.
impl Serialize for Token {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let d = &self.0;
        StoredToken {
            v: 1,
            access_token: d.access_token.secret().into(),
            token_type: d.token_type.as_str().into(),
            issued_at_ms: unix_millis(d.issued_at),
            expires_at_ms: unix_millis(d.expires_at),
            expires_in_ms: d
                .stated_lifetime
                .map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
            refresh_token: d.refresh_token.as_ref().map(|r| r.secret().into()),
            scope: d.scope.as_deref().map(Into::into),
            extra: d.extra.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = StoredToken::deserialize(deserializer)?;
        if s.v != 1 {
            return Err(serde::de::Error::custom(format!(
                "unsupported stored token version {}",
                s.v
            )));
        }
        // A record that could not come from a valid token (planted, corrupt, or written
        // before tokens were checked) is refused, so stores treat it as absent.
        check_access_token("stored token", &s.access_token)
            .and_then(|()| check_token_type("stored token", &s.token_type))
            .map_err(serde::de::Error::custom)?;
        let issued_at = UNIX_EPOCH + Duration::from_millis(s.issued_at_ms);
        Ok(Token(Arc::new(TokenData {
            access_token: AccessToken::new(s.access_token.into_owned()),
            token_type: s.token_type.into_owned(),
            issued_at,
            expires_at: (UNIX_EPOCH + Duration::from_millis(s.expires_at_ms)).max(issued_at),
            stated_lifetime: s.expires_in_ms.map(Duration::from_millis),
            refresh_token: s.refresh_token.map(|r| RefreshToken::new(r.into_owned())),
            scope: s.scope.map(std::borrow::Cow::into_owned),
            extra: s.extra,
            header: HeaderCache::default(),
        })))
    }
}

#[cfg(test)]
mod tests;
