//! The protected API: `{url}/api/...` with any method, on the main port and on the
//! resource server's own ([`TestServer::resource_url`](super::TestServer::resource_url)).
//! Bearer tokens are checked against the issued ones; `DPoP` tokens with their proofs as
//! RFC 9449 §7 says.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantkit_core::Clock;

use super::config::ServerConfig;
use super::dpop::{DpopState, Expected, Refusal, current_nonce, dpop_header, now_secs, verify};
use super::endpoints::header_str;
use super::endpoints::status;
use super::{Shared, locked};

/// Any method on `/api/{*rest}`.
pub(super) async fn api_endpoint(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    shared.api_requests.fetch_add(1, Ordering::SeqCst);
    let config = locked(&shared.config).clone();
    let authorization = header_str(&headers, header::AUTHORIZATION);
    if let Some(token) = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("DPoP "))
    {
        let scheme = shared.base_url.split("://").next().unwrap_or("http");
        let host = header_str(&headers, header::HOST).unwrap_or_default();
        let htu = format!("{scheme}://{host}{}", uri.path());
        return match api_request(&shared, &config, &headers, method.as_str(), &htu, token) {
            Some(refused) => refused,
            None => ok_json(),
        };
    }
    let bearer = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "));
    if bearer.is_some_and(|token| is_bound(&shared, token)) {
        // A DPoP-bound token sent as a bearer token (RFC 9449 §7.2).
        return bound_as_bearer(&shared);
    }
    match check_bearer(&shared, authorization.as_deref()) {
        Ok(()) => ok_json(),
        Err(why) => (status(config.api_reject_status), why).into_response(),
    }
}

/// Counts an API request and checks its `Authorization` header: `Bearer <a token this
/// server issued, not revoked, not expired, not bound to a DPoP key>`; else the reason it
/// is refused.
pub(super) fn check_api_authorization(
    shared: &Shared,
    authorization: Option<&str>,
) -> Result<(), &'static str> {
    shared.api_requests.fetch_add(1, Ordering::SeqCst);
    check_bearer(shared, authorization)
}

fn check_bearer(shared: &Shared, authorization: Option<&str>) -> Result<(), &'static str> {
    let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err("missing bearer token");
    };
    if is_bound(shared, token) {
        return Err("a DPoP-bound token sent as a bearer token");
    }
    let issued = locked(&shared.issued).get(token).cloned();
    match issued {
        Some(i) if shared.clock.now() < i.expires_at => Ok(()),
        Some(_) => Err("token expired"),
        None => Err("unknown token"),
    }
}

fn ok_json() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"ok":true}"#,
    )
        .into_response()
}

/// The protected API's check of a `DPoP` token: the proof (with `ath`, `htm` and `htu`
/// of this request, the resource server's nonce when `ServerConfig::api_dpop_nonce`) and
/// the token's binding. `Some(response)` refuses the request.
fn api_request(
    shared: &Shared,
    config: &ServerConfig,
    headers: &HeaderMap,
    method: &str,
    htu: &str,
    token: &str,
) -> Option<Response> {
    let mut state = locked(&shared.dpop);
    let refuse = |state: &mut DpopState, error: &str, reason: String, nonce: Option<String>| {
        state.refusals.push(format!("api: {reason}"));
        state.api_refused += 1;
        let challenge = format!(
            "DPoP algs=\"ES256 ES384 RS256 PS256 EdDSA\", error=\"{error}\", error_description=\"{}\"",
            reason.replace(['"', '\\'], "'")
        );
        let mut r = (StatusCode::UNAUTHORIZED, reason).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            r.headers_mut().insert("dpop-nonce", v);
        }
        r
    };
    let Some(bound) = state.bound.get(token).cloned() else {
        return Some(refuse(
            &mut state,
            "invalid_token",
            "the token is not a DPoP-bound token of this server".into(),
            None,
        ));
    };
    let issued = locked(&shared.issued).get(token).cloned();
    if issued.is_none_or(|i| shared.clock.now() >= i.expires_at) {
        return Some(refuse(
            &mut state,
            "invalid_token",
            "the token is unknown or expired".into(),
            None,
        ));
    }
    let proof = match dpop_header(headers) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Some(refuse(
                &mut state,
                "invalid_dpop_proof",
                "a DPoP token needs a DPoP proof".into(),
                None,
            ));
        }
        Err(Refusal::Invalid(r) | Refusal::Nonce(r)) => {
            return Some(refuse(&mut state, "invalid_dpop_proof", r, None));
        }
    };
    let nonces = config.api_dpop_nonce.then(|| state.api_nonces.clone());
    let now = now_secs(shared);
    let expected = Expected {
        method,
        htu,
        nonces: nonces.as_ref(),
        access_token: Some(token),
        now_secs: now,
        window: config.dpop_iat_window,
    };
    match verify(&mut state, &proof, &expected) {
        Ok(jkt) if jkt == bound => {
            state.api_accepted += 1;
            None
        }
        Ok(_) => Some(refuse(
            &mut state,
            "invalid_token",
            "the proof's key is not the key the token is bound to".into(),
            None,
        )),
        Err(Refusal::Nonce(reason)) => {
            let nonce = current_nonce(&mut state, true);
            Some(refuse(&mut state, "use_dpop_nonce", reason, Some(nonce)))
        }
        Err(Refusal::Invalid(reason)) => {
            Some(refuse(&mut state, "invalid_dpop_proof", reason, None))
        }
    }
}

/// The answer to a DPoP-bound token sent as a bearer token (RFC 9449 §7.2).
fn bound_as_bearer(shared: &Shared) -> Response {
    let mut state = locked(&shared.dpop);
    state.api_refused += 1;
    state
        .refusals
        .push("api: a DPoP-bound token sent as a bearer token".into());
    let mut r = (StatusCode::UNAUTHORIZED, "a DPoP-bound token needs a proof").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("DPoP error=\"invalid_token\""),
    );
    r
}

/// Whether `token` was issued bound to a DPoP key.
fn is_bound(shared: &Shared, token: &str) -> bool {
    locked(&shared.dpop).bound.contains_key(token)
}
