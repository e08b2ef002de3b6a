//! Two more ways into the token endpoint: the token-exchange grant (RFC 8693), trading an
//! access token of this server for a new one, and client authentication with a signed
//! client assertion (`private_key_jwt`, RFC 7523 §2.2).

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use grantkit_core::Clock;
use serde_json::{Map, Value};

use super::config::ServerConfig;
use super::endpoints::{oauth_error, verify_assertion};
use super::{Shared, locked};

/// The token-exchange grant type.
pub(super) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Checks a token exchange's `subject_token`: an unexpired access token this server
/// issued.
#[allow(clippy::result_large_err)]
pub(super) fn subject(shared: &Shared, subject_token: &str) -> Result<(), Response> {
    let issued = locked(&shared.issued).get(subject_token).cloned();
    match issued {
        Some(i) if shared.clock.now() < i.expires_at => Ok(()),
        _ => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The subject token is not an active token of this server",
        )),
    }
}

/// Authenticates a client by its assertion (`private_key_jwt`): verified as a JWT-bearer
/// assertion (a key of [`ServerConfig::service_account_keys`] whose issuer is the client
/// id, `aud` the token endpoint), and its `jti` never seen before. Returns the client id.
#[allow(clippy::result_large_err)]
pub(super) fn client_assertion(
    shared: &Shared,
    config: &ServerConfig,
    assertion: &str,
) -> Result<String, Response> {
    let refuse = |reason: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", reason);
    let client_id = verify_assertion(shared, config, assertion).map_err(|r| refuse(&r))?;
    // Verified above: the payload is the signed one.
    let jti = assertion
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
        .and_then(|c| c.get("jti").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| refuse("the client assertion has no jti"))?;
    if !locked(&shared.assertion_jti).insert(jti) {
        return Err(refuse(
            "the client assertion's jti was seen before (replay)",
        ));
    }
    Ok(client_id)
}
