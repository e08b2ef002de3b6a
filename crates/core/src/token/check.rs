//! What a token may hold, and when a stored one is trusted.
//!
//! An access token and its type end up in an `Authorization` header (and in the output of
//! `grantkit token -f header`, pasted into `curl -H`): a line break there adds a header of
//! the server's choosing. So both are checked wherever a token enters grantkit — parsing a
//! response, reading a store record, the manager receiving a grant's token — and errors
//! name the kind of character, never the value.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::token::Token;

/// The longest token type an error message repeats; longer ones are not shown.
const SHOWN_TOKEN_TYPE_CHARS: usize = 40;

/// The most a stored token's `issued_at` may lie ahead of this process's clock (capped
/// further at a quarter of the token's lifetime) before the record is distrusted.
pub(crate) const STORE_CLOCK_TOLERANCE: Duration = Duration::from_secs(60);

/// Whether `b` may appear in an access token: visible ASCII, `!` to `~` (RFC 6750's
/// `b64token` is a subset; real servers use the rest of the printable set too).
fn is_access_token_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// Whether `b` may appear in an HTTP token (RFC 9110 §5.6.2 `tchar`), the syntax of an
/// authentication scheme.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The kind of a byte that is not allowed, for error messages.
fn describe(b: u8) -> &'static str {
    match b {
        b'\r' | b'\n' => "a line break (CR or LF)",
        0 => "a NUL byte",
        0x01..=0x1f | 0x7f => "a control character",
        b' ' => "a space",
        0x80..=0xff => "a non-ASCII character",
        _ => "a character that is not allowed in an HTTP token",
    }
}

/// Checks an access token; `what` names the source ("token response", "token").
pub(crate) fn check_access_token(what: &str, token: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::invalid_response(format!(
            "{what} has an empty access_token"
        )));
    }
    match token.bytes().find(|b| !is_access_token_byte(*b)) {
        None => Ok(()),
        Some(b) => Err(Error::invalid_response(format!(
            "{what} has an access_token containing {}; only visible ASCII can be sent in an \
             Authorization header",
            describe(b)
        ))),
    }
}

/// Checks the syntax of a token type (an HTTP token: no space, no control character, no
/// separator, ASCII only).
pub(crate) fn check_token_type(what: &str, token_type: &str) -> Result<()> {
    if token_type.is_empty() {
        return Err(Error::invalid_response(format!(
            "{what} has an empty token_type"
        )));
    }
    match token_type.bytes().find(|b| !is_tchar(*b)) {
        None => Ok(()),
        Some(b) => Err(Error::invalid_response(format!(
            "{what} has a token_type containing {}; a token type is one HTTP token",
            describe(b)
        ))),
    }
}

/// Checks that `token_type` (already checked by [`check_token_type`] and normalised) is
/// `Bearer` or one of `accepted` (compared case-insensitively).
pub(crate) fn check_token_type_accepted(token_type: &str, accepted: &[&str]) -> Result<()> {
    if token_type == "Bearer" || accepted.iter().any(|a| a.eq_ignore_ascii_case(token_type)) {
        return Ok(());
    }
    let named = if token_type.len() <= SHOWN_TOKEN_TYPE_CHARS {
        format!("token_type `{token_type}`")
    } else {
        "a token_type other than Bearer".to_owned()
    };
    Err(Error::invalid_response(format!(
        "token response has {named}, which this grant does not accept: only Bearer is \
         accepted unless the grant opts in to other types (GrantContext::accept_token_type)"
    )))
}

/// Why a token read from a store is not trusted at `now`, or `None` if it is: its
/// `issued_at` lies ahead of `now` by more than [`STORE_CLOCK_TOLERANCE`] (or a quarter of
/// its lifetime, if less) — written by a process whose clock runs ahead, so its expiry is
/// late by as much — or it lives longer than the `expires_in` its server stated.
pub(crate) fn distrust_stored(token: &Token, now: SystemTime) -> Option<&'static str> {
    let tolerance = STORE_CLOCK_TOLERANCE.min(token.lifetime() / 4);
    if token
        .issued_at()
        .duration_since(now)
        .is_ok_and(|ahead| ahead > tolerance)
    {
        return Some("the stored token was issued in the future (a clock running ahead)");
    }
    if token
        .stated_lifetime()
        .is_some_and(|stated| token.lifetime() > stated)
    {
        return Some("the stored token lives longer than its token endpoint said");
    }
    None
}
