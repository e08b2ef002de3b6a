//! DPoP (RFC 9449) on the test server: the proofs of token requests (§4.3, §5), the
//! nonces it hands out (§8), tokens bound to a key's thumbprint, and the proofs of API
//! requests to the protected resource (§7).
//!
//! The checks are written from the RFC, independently of grantkit's own DPoP code: the
//! JWK's thumbprint is computed here (RFC 7638) and signatures are verified with
//! `jsonwebtoken`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::UNIX_EPOCH;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use grantkit_core::Clock;
use serde_json::{Map, Value};

use super::config::ServerConfig;
use super::{Shared, locked};

mod proof;
pub(crate) use proof::{Expected, Refusal, invalid, verify};

/// How the token endpoint treats DPoP proofs (`ServerConfig::dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopMode {
    /// The `DPoP` header is ignored and every token is a bearer token, as by a server that
    /// knows nothing of DPoP. The default.
    #[default]
    Off,
    /// A request with a proof gets a `DPoP` token bound to its key (the proof is verified
    /// in full); a request without one gets a bearer token.
    Accept,
    /// Every token request must carry a valid proof.
    Require,
    /// As [`Require`](Self::Require), and the proof must carry one of the server's nonces:
    /// a proof without one (or with an expired one) is answered
    /// `400 {"error":"use_dpop_nonce"}` with a `DPoP-Nonce` header. Every token response
    /// carries a new nonce; the last two handed out are accepted.
    RequireNonce,
}

/// What the server has seen and handed out for DPoP.
#[derive(Debug, Default)]
pub(super) struct DpopState {
    /// Every `jti` of an accepted proof (token endpoint and API alike).
    pub(super) seen_jti: HashSet<String>,
    /// The token endpoint's valid nonces, newest last.
    pub(super) token_nonces: VecDeque<String>,
    /// The resource server's valid nonces, newest last.
    pub(super) api_nonces: VecDeque<String>,
    /// Why proofs were refused, in order.
    pub(super) refusals: Vec<String>,
    /// Proofs accepted at the token endpoint.
    pub(super) token_accepted: usize,
    /// API requests with a DPoP token accepted / refused.
    pub(super) api_accepted: usize,
    pub(super) api_refused: usize,
    /// Access token → the thumbprint it is bound to.
    pub(super) bound: HashMap<String, String>,
    pub(super) serial: u64,
}

pub(super) fn now_secs(shared: &Shared) -> i64 {
    shared
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn new_nonce(state: &mut DpopState) -> String {
    state.serial += 1;
    format!("n{}-{:016x}", state.serial, fastrand::u64(..))
}

/// Makes sure `nonces` has a current nonce, and returns it.
pub(super) fn current_nonce(state: &mut DpopState, api: bool) -> String {
    let have = if api {
        state.api_nonces.back().cloned()
    } else {
        state.token_nonces.back().cloned()
    };
    match have {
        Some(n) => n,
        None => rotate(state, api),
    }
}

/// Hands out a new nonce; it and the one before it are accepted.
fn rotate(state: &mut DpopState, api: bool) -> String {
    let nonce = new_nonce(state);
    let list = if api {
        &mut state.api_nonces
    } else {
        &mut state.token_nonces
    };
    list.push_back(nonce.clone());
    while list.len() > 2 {
        list.pop_front();
    }
    nonce
}

/// The single `DPoP` header, if there is one; an error for two or more.
pub(super) fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let mut all = headers.get_all("dpop").iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(|s| Some(s.to_owned()))
            .map_err(|_| invalid("the DPoP header is not text")),
        (Some(_), Some(_)) => Err(invalid("more than one DPoP header")),
    }
}

pub(super) fn oauth_json(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": code, "error_description": description}).to_string(),
    )
        .into_response()
}

/// The token endpoint's check of a request's proof: `Ok(None)` without DPoP (mode `Off`,
/// or `Accept` and no proof), `Ok(Some(jkt))` for a valid proof, or the error response.
#[allow(clippy::result_large_err)]
pub(super) fn token_request(
    shared: &Shared,
    config: &ServerConfig,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<String>, Response> {
    if config.dpop == DpopMode::Off {
        return Ok(None);
    }
    let mut state = locked(&shared.dpop);
    let refuse = |state: &mut DpopState, refusal: Refusal| -> Response {
        match refusal {
            Refusal::Nonce(reason) => {
                state.refusals.push(format!("token: {reason}"));
                let nonce = current_nonce(state, false);
                let mut r = oauth_json(
                    StatusCode::BAD_REQUEST,
                    "use_dpop_nonce",
                    "Authorization server requires nonce in DPoP proof",
                );
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    r.headers_mut().insert("dpop-nonce", v);
                }
                r
            }
            Refusal::Invalid(reason) => {
                state.refusals.push(format!("token: {reason}"));
                oauth_json(StatusCode::BAD_REQUEST, "invalid_dpop_proof", &reason)
            }
        }
    };
    let proof = match dpop_header(headers) {
        Ok(Some(p)) => p,
        Ok(None) if config.dpop == DpopMode::Accept => return Ok(None),
        Ok(None) => return Err(refuse(&mut state, invalid("a DPoP proof is required"))),
        Err(refusal) => return Err(refuse(&mut state, refusal)),
    };
    let htu = format!("{}{path}", shared.base_url);
    let nonces = (config.dpop == DpopMode::RequireNonce).then(|| state.token_nonces.clone());
    let now = now_secs(shared);
    let expected = Expected {
        method: "POST",
        htu: &htu,
        nonces: nonces.as_ref(),
        access_token: None,
        now_secs: now,
        window: config.dpop_iat_window,
    };
    match verify(&mut state, &proof, &expected) {
        Ok(jkt) => {
            state.token_accepted += 1;
            Ok(Some(jkt))
        }
        Err(refusal) => Err(refuse(&mut state, refusal)),
    }
}

/// Whether a refresh token bound to `bound` may be used with a proof of `jkt`.
#[allow(clippy::result_large_err)]
pub(super) fn check_refresh(bound: Option<&str>, jkt: Option<&String>) -> Result<(), Response> {
    match (bound, jkt) {
        (None, _) => Ok(()),
        (Some(b), Some(k)) if b == k => Ok(()),
        (Some(_), Some(_)) => Err(oauth_json(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the refresh token is bound to another DPoP key",
        )),
        (Some(_), None) => Err(oauth_json(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the refresh token is bound to a DPoP key: a proof is required",
        )),
    }
}

/// The success response of a token request: with a proof, the token is a `DPoP` token
/// bound to `jkt` (and so is the refresh token of a public client); in
/// [`DpopMode::RequireNonce`] it carries a new nonce.
pub(super) fn respond(
    shared: &Shared,
    config: &ServerConfig,
    mut body: Map<String, Value>,
    jkt: Option<&String>,
    client_id: &str,
) -> Response {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut nonce = None;
    if let Some(jkt) = jkt {
        if let Some(access) = text("access_token") {
            locked(&shared.dpop).bound.insert(access, jkt.clone());
        }
        let public = config.clients.get(client_id).is_some_and(String::is_empty);
        if let Some(refresh) = text("refresh_token").filter(|_| public)
            && let Some(grant) = locked(&shared.refresh).get_mut(&refresh)
        {
            grant.jkt = Some(jkt.clone());
        }
        body.insert("token_type".into(), Value::String("DPoP".into()));
    }
    if config.dpop == DpopMode::RequireNonce {
        nonce = Some(rotate(&mut locked(&shared.dpop), false));
    }
    let mut response = super::endpoints::json_ok(body);
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("dpop-nonce", v);
    }
    response
}

/// Counters and records for assertions, read through [`TestServer`](super::TestServer).
impl super::TestServer {
    /// The thumbprint (`jkt`) the access token is bound to, if it is a DPoP token.
    pub fn dpop_binding(&self, access_token: &str) -> Option<String> {
        locked(&self.shared.dpop).bound.get(access_token).cloned()
    }

    /// Token requests whose DPoP proof was accepted.
    pub fn dpop_token_proofs_accepted(&self) -> usize {
        locked(&self.shared.dpop).token_accepted
    }

    /// API requests with a DPoP token that were accepted.
    pub fn dpop_api_accepted(&self) -> usize {
        locked(&self.shared.dpop).api_accepted
    }

    /// API requests with a DPoP token (or a proof) that were refused.
    pub fn dpop_api_refused(&self) -> usize {
        locked(&self.shared.dpop).api_refused
    }

    /// Why DPoP proofs were refused, in order: `token: <reason>` or `api: <reason>`.
    pub fn dpop_refusals(&self) -> Vec<String> {
        locked(&self.shared.dpop).refusals.clone()
    }

    /// The token endpoint's current nonce (one is made if none was handed out yet).
    pub fn dpop_nonce(&self) -> String {
        current_nonce(&mut locked(&self.shared.dpop), false)
    }

    /// Expires every nonce of the token endpoint and of the resource server, as a server
    /// does when its nonces age out: the next proof with an old nonce gets
    /// `use_dpop_nonce` and a new one.
    pub fn expire_dpop_nonces(&self) {
        let mut state = locked(&self.shared.dpop);
        state.token_nonces.clear();
        state.api_nonces.clear();
    }
}
