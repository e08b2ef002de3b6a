//! The token and the lenient parsing of token responses.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::secret::{AccessToken, RefreshToken};

mod check;
mod response;

pub(crate) use check::distrust_stored;
use check::{check_access_token, check_token_type, check_token_type_accepted};
#[cfg(test)]
pub(crate) use response::jwt_expiry;
use response::normalize_token_type;

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
    /// The DPoP key the token is bound to, and the `ath` of its proofs.
    #[cfg(feature = "dpop")]
    dpop: Option<(crate::DpopKey, AthCache)>,
}

/// The `ath` claim of DPoP proofs for this token, computed on first use.
#[cfg(feature = "dpop")]
#[derive(Default)]
struct AthCache(std::sync::OnceLock<String>);

#[cfg(feature = "dpop")]
impl Clone for AthCache {
    fn clone(&self) -> Self {
        AthCache::default()
    }
}

#[cfg(feature = "dpop")]
impl PartialEq for AthCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
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
            #[cfg(feature = "dpop")]
            dpop: None,
        }))
    }

    fn data_mut(&mut self) -> &mut TokenData {
        let data = Arc::make_mut(&mut self.0);
        data.header = HeaderCache::default();
        #[cfg(feature = "dpop")]
        if let Some((_, ath)) = &mut data.dpop {
            *ath = AthCache::default();
        }
        data
    }

    /// Binds the token to a DPoP key (RFC 9449): the key its proofs are signed with. The
    /// token's type says whether the server bound it (`DPoP`) or issued a bearer token
    /// anyway (`Bearer`, sent without proofs).
    #[cfg(feature = "dpop")]
    pub fn with_dpop_key(mut self, key: crate::DpopKey) -> Self {
        self.data_mut().dpop = Some((key, AthCache::default()));
        self
    }

    /// The DPoP key the token is bound to, if any.
    #[cfg(feature = "dpop")]
    pub fn dpop_key(&self) -> Option<&crate::DpopKey> {
        self.0.dpop.as_ref().map(|(key, _)| key)
    }

    /// Whether the token is sent with DPoP proofs: its type is `DPoP` (RFC 9449 §7.1).
    pub fn is_dpop(&self) -> bool {
        self.0.token_type.eq_ignore_ascii_case("DPoP")
    }

    /// The `ath` claim of DPoP proofs for this token: base64url(SHA-256(access token)),
    /// computed once per token; `None` for a token without a DPoP key.
    #[cfg(feature = "dpop")]
    pub fn dpop_ath(&self) -> Option<&str> {
        let (_, ath) = self.0.dpop.as_ref()?;
        Some(
            ath.0
                .get_or_init(|| crate::DpopKey::access_token_hash(self.0.access_token.secret())),
        )
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

    /// A copy that expired when it was issued: the same access token, refresh token, scope
    /// and extras, no longer valid. What a store keeps when only the access token was
    /// rejected: every process sharing it renews through the refresh token instead of
    /// losing it (a user's login stays a login).
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use grantkit_core::Token;
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    /// let token = Token::new("at", t0, t0 + Duration::from_secs(60)).with_refresh_token("rt");
    /// let expired = token.expired();
    /// assert!(expired.is_expired(t0));
    /// assert_eq!(expired.refresh_token().map(|r| r.secret()), Some("rt"));
    /// assert!(expired.same_access_token(&token));
    /// ```
    pub fn expired(&self) -> Token {
        let mut data = (*self.0).clone();
        data.expires_at = data.issued_at;
        data.header = HeaderCache::default();
        Token(Arc::new(data))
    }

    /// A copy in its own allocation; lets the manager give each thread its own reference
    /// count so that concurrent `token()` calls do not contend on one cache line.
    pub(crate) fn replicate(&self) -> Token {
        Token(Arc::new((*self.0).clone()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        let mut out = f.debug_struct("Token");
        out.field("access_token", &d.access_token)
            .field("token_type", &d.token_type)
            .field("issued_at", &unix_secs(d.issued_at))
            .field("expires_at", &unix_secs(d.expires_at))
            .field("refresh_token", &d.refresh_token)
            .field("scope", &d.scope)
            .field("extra_fields", &d.extra.keys().collect::<Vec<_>>());
        #[cfg(feature = "dpop")]
        if let Some((key, _)) = &d.dpop {
            out.field("dpop_key", key);
        }
        out.finish()
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
    /// The DPoP key the token is bound to: algorithm and PKCS#8 DER (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<StoredDpopKey<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredDpopKey<'a> {
    alg: std::borrow::Cow<'a, str>,
    pkcs8: std::borrow::Cow<'a, str>,
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
            dpop_key: stored_dpop_key(self),
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
        #[cfg(feature = "dpop")]
        let dpop = match s.dpop_key {
            Some(stored) => Some((
                read_dpop_key(&stored).map_err(serde::de::Error::custom)?,
                AthCache::default(),
            )),
            None => None,
        };
        #[cfg(not(feature = "dpop"))]
        if s.dpop_key.is_some() {
            return Err(serde::de::Error::custom(
                "the stored token is bound to a DPoP key, and this build has no DPoP support",
            ));
        }
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
            #[cfg(feature = "dpop")]
            dpop,
        })))
    }
}

/// The stored form of `token`'s DPoP key.
#[cfg(feature = "dpop")]
fn stored_dpop_key(token: &Token) -> Option<StoredDpopKey<'static>> {
    use base64::Engine as _;
    let key = token.dpop_key()?;
    Some(StoredDpopKey {
        alg: key.algorithm().as_str().into(),
        pkcs8: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(key.export_pkcs8_der())
            .into(),
    })
}

#[cfg(not(feature = "dpop"))]
fn stored_dpop_key(_: &Token) -> Option<StoredDpopKey<'static>> {
    None
}

/// The DPoP key of a stored record; the message never holds the key.
#[cfg(feature = "dpop")]
fn read_dpop_key(stored: &StoredDpopKey<'_>) -> Result<crate::DpopKey> {
    use base64::Engine as _;
    let alg: crate::DpopAlgorithm = stored.alg.parse()?;
    let der = secrecy::zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(stored.pkcs8.as_bytes())
            .map_err(|_| Error::invalid_response("the stored DPoP key is not base64url"))?,
    );
    crate::DpopKey::from_pkcs8_der(alg, &der)
        .map_err(|_| Error::invalid_response("the stored DPoP key cannot be read"))
}

#[cfg(test)]
mod tests;
