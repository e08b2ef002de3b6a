//! The device authorization endpoint (RFC 8628 §3.1–3.2) and the token endpoint's
//! `device_code` grant (§3.4–3.5), with a simulated user (see [`DeviceFlow`]).
//!
//! [`DeviceFlow`]: super::config::DeviceFlow

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use grantkit_core::Clock;
use serde_json::{Map, Value};

use super::config::{RecordedRequest, ServerConfig};
use super::endpoints::{client_credentials, header_str, json_ok, oauth_error, parse_params};
use super::{Shared, locked};

/// The `grant_type` of device token requests.
pub(super) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One issued device code.
#[derive(Debug, Clone)]
pub(super) struct DeviceState {
    client_id: String,
    scope: Option<String>,
    expires_at: SystemTime,
    polls: usize,
}

/// `POST /device`: authenticates the client as the token endpoint does, records the
/// request, and answers a device code, a user code and the verification URIs.
pub(super) async fn device_endpoint(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let params = parse_params(content_type.as_deref(), &body);
    locked(&shared.requests).push(RecordedRequest {
        path: "/device".to_owned(),
        content_type,
        authorization: header_str(&headers, header::AUTHORIZATION),
        user_agent: header_str(&headers, header::USER_AGENT),
        body: String::from_utf8_lossy(&body).into_owned(),
        params: params.clone(),
        grant_type: None,
        client_certificate: None,
        dpop: None,
    });
    let config = locked(&shared.config).clone();
    let client_id = match client_credentials(&headers, &params) {
        Some((id, secret)) if config.clients.get(&id) == Some(&secret) => id,
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            );
        }
    };
    let n = shared.serial.fetch_add(1, Ordering::SeqCst) + 1;
    let device_code = format!("dc-{n}-{:016x}", fastrand::u64(..));
    let user_code = format!("WDJB-{n:04}");
    let flow = &config.device;
    locked(&shared.devices).insert(
        device_code.clone(),
        DeviceState {
            client_id,
            scope: params
                .get("scope")
                .and_then(Value::as_str)
                .map(str::to_owned),
            expires_at: shared.clock.now() + Duration::from_secs(flow.expires_in_secs),
            polls: 0,
        },
    );
    let uri = format!("{}/activate", shared.base_url);
    let mut answer = Map::new();
    answer.insert("device_code".into(), Value::String(device_code));
    answer.insert("user_code".into(), Value::String(user_code.clone()));
    answer.insert(
        "verification_uri_complete".into(),
        Value::String(format!("{uri}?user_code={user_code}")),
    );
    answer.insert("verification_uri".into(), Value::String(uri));
    answer.insert("expires_in".into(), Value::from(flow.expires_in_secs));
    answer.insert("interval".into(), Value::from(flow.interval_secs));
    json_ok(answer)
}

/// A `device_code` token request of `client_id`: the granted scope once the simulated
/// user approved, else the RFC 8628 §3.5 error.
#[allow(clippy::result_large_err)]
pub(super) fn poll(
    shared: &Shared,
    config: &ServerConfig,
    client_id: &str,
    device_code: &str,
) -> Result<Option<String>, Response> {
    let bad = |code: &str, why: &str| oauth_error(StatusCode::BAD_REQUEST, code, why);
    let mut devices = locked(&shared.devices);
    let Some(state) = devices.get_mut(device_code) else {
        return Err(bad("invalid_grant", "Unknown device code"));
    };
    if state.client_id != client_id {
        return Err(bad(
            "invalid_grant",
            "The device code belongs to another client",
        ));
    }
    if shared.clock.now() >= state.expires_at {
        devices.remove(device_code);
        return Err(bad("expired_token", "The device code has expired"));
    }
    state.polls += 1;
    if state.polls <= config.device.pending_polls {
        return Err(bad(
            "authorization_pending",
            "The user has not yet approved",
        ));
    }
    let scope = state.scope.clone();
    devices.remove(device_code);
    if config.device.deny {
        return Err(bad("access_denied", "The user denied the request"));
    }
    Ok(scope)
}
