//! Parsing a token endpoint's answer: lenient about what servers send (`expires_in` as a
//! string, a JWT's `exp` when it is missing, token types in any case), strict about what
//! may go into a header.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    HeaderCache, MAX_LIFETIME, Token, TokenData, WHOLE_SECOND_MARGIN, check_access_token,
    check_token_type, check_token_type_accepted,
};
use crate::error::{Error, OAuthError, Result};
use crate::secret::{AccessToken, RefreshToken};

impl Token {
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
            #[cfg(feature = "dpop")]
            dpop: None,
        })))
    }
}

/// `t` without the spaces and tabs HTTP allows around a value (never line breaks).
fn trim_ows(t: &str) -> &str {
    t.trim_matches([' ', '\t'])
}

pub(super) fn normalize_token_type(t: &str) -> String {
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
