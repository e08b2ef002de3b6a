//! DPoP (RFC 9449) on the test server: the proofs of token requests (§4.3, §5), the
//! nonces it hands out (§8), tokens bound to a key's thumbprint, and the proofs of API
//! requests to the protected resource (§7).
//!
//! The checks are written from the RFC, independently of grantkit's own DPoP code: the
//! JWK's thumbprint is computed here (RFC 7638) and signatures are verified with
//! `jsonwebtoken`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use grantkit_core::Clock;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::config::ServerConfig;
use super::{Shared, locked};

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
    seen_jti: HashSet<String>,
    /// The token endpoint's valid nonces, newest last.
    token_nonces: VecDeque<String>,
    /// The resource server's valid nonces, newest last.
    api_nonces: VecDeque<String>,
    /// Why proofs were refused, in order.
    refusals: Vec<String>,
    /// Proofs accepted at the token endpoint.
    token_accepted: usize,
    /// API requests with a DPoP token accepted / refused.
    api_accepted: usize,
    api_refused: usize,
    /// Access token → the thumbprint it is bound to.
    bound: HashMap<String, String>,
    serial: u64,
}

/// Why a proof was refused: `use_dpop_nonce`, or anything else (`invalid_dpop_proof`).
#[derive(Debug)]
enum Refusal {
    Nonce(String),
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> Refusal {
    Refusal::Invalid(reason.into())
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 thumbprint of a public JWK: its required members, in lexicographic order,
/// without whitespace, SHA-256, base64url.
pub(super) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |k: &str| jwk.get(k).and_then(Value::as_str);
    let json = |s: &str| serde_json::to_string(s).ok();
    let canonical = match member("kty")? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            json(member("crv")?)?,
            json(member("x")?)?,
            json(member("y")?)?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            json(member("e")?)?,
            json(member("n")?)?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            json(member("crv")?)?,
            json(member("x")?)?
        ),
        _ => return None,
    };
    Some(B64URL.encode(Sha256::digest(canonical.as_bytes())))
}

/// The part of a JWT before the first dot, decoded as a JSON object.
fn json_part(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&B64URL.decode(part).ok()?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The key of `jwk` for `alg`, checking that the two fit and that the JWK is public.
fn decoding_key(alg: Algorithm, jwk: &Map<String, Value>) -> Result<DecodingKey, Refusal> {
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(invalid(format!(
            "the jwk holds a private key member {private:?}"
        )));
    }
    let member = |k: &str| {
        jwk.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("the jwk has no {k:?}")))
    };
    let kty = member("kty")?;
    let key = match (alg, kty) {
        (Algorithm::ES256 | Algorithm::ES384, "EC") => {
            let crv = if alg == Algorithm::ES256 {
                "P-256"
            } else {
                "P-384"
            };
            if member("crv")? != crv {
                return Err(invalid(format!("{alg:?} needs a {crv} key")));
            }
            DecodingKey::from_ec_components(member("x")?, member("y")?)
        }
        (Algorithm::RS256 | Algorithm::PS256, "RSA") => {
            DecodingKey::from_rsa_components(member("n")?, member("e")?)
        }
        (Algorithm::EdDSA, "OKP") => {
            if member("crv")? != "Ed25519" {
                return Err(invalid("EdDSA needs an Ed25519 key"));
            }
            DecodingKey::from_ed_components(member("x")?)
        }
        _ => return Err(invalid(format!("a {kty} key cannot sign {alg:?}"))),
    };
    key.map_err(|e| invalid(format!("the jwk is not a usable key: {e}")))
}

/// Verifies `proof` for a request of `method` to `htu`, as RFC 9449 §4.3 says, with the
/// nonces in `nonces` when one is required, and `ath` for `access_token` when given.
fn verify(
    state: &mut DpopState,
    now_secs: i64,
    window: Duration,
    proof: &str,
    method: &str,
    htu: &str,
    nonces: Option<&VecDeque<String>>,
    access_token: Option<&str>,
) -> Result<String, Refusal> {
    let mut parts = proof.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the proof is not a compact JWS"));
    };
    let header = json_part(h).ok_or_else(|| invalid("the proof's header is not JSON"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("typ is not dpop+jwt"));
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => Algorithm::ES256,
        Some("ES384") => Algorithm::ES384,
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        Some("EdDSA") => Algorithm::EdDSA,
        other => {
            return Err(invalid(format!(
                "alg {other:?} is not an accepted asymmetric algorithm"
            )));
        }
    };
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        _ => return Err(invalid("the header has no jwk")),
    };
    let key = decoding_key(alg, jwk)?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|e| invalid(format!("the signature does not verify with the jwk: {e}")))?
        .claims;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("htm") != Some(method) {
        return Err(invalid(format!("htm {:?} is not {method}", text("htm"))));
    }
    let claimed_htu = text("htu")
        .and_then(|u| url::Url::parse(u).ok())
        .map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        });
    if claimed_htu.as_deref() != Some(htu) {
        return Err(invalid(format!("htu {:?} is not {htu}", text("htu"))));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("no numeric iat"))?;
    let window_secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    if (now_secs - iat).abs() > window_secs {
        return Err(invalid(format!(
            "iat {iat} is more than {window_secs}s from now ({now_secs})"
        )));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("no jti"))?
        .to_owned();
    match access_token {
        Some(token) => {
            let expected = B64URL.encode(Sha256::digest(token.as_bytes()));
            if text("ath") != Some(expected.as_str()) {
                return Err(invalid("ath is not the hash of the access token"));
            }
        }
        None if claims.contains_key("ath") => {
            return Err(invalid("a token request's proof carries ath"));
        }
        None => {}
    }
    if let Some(valid) = nonces {
        let ok = text("nonce").is_some_and(|n| valid.iter().any(|v| v == n));
        if !ok {
            return Err(Refusal::Nonce(match text("nonce") {
                Some(_) => "the nonce is not a current one".into(),
                None => "a nonce is required".into(),
            }));
        }
    }
    if !state.seen_jti.insert(jti) {
        return Err(invalid("the proof's jti was seen before (replay)"));
    }
    thumbprint(jwk).ok_or_else(|| invalid("no thumbprint for the jwk"))
}

fn now_secs(shared: &Shared) -> i64 {
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
fn current_nonce(state: &mut DpopState, api: bool) -> String {
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
fn dpop_header(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
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

fn oauth_json(status: StatusCode, code: &str, description: &str) -> Response {
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
    match verify(
        &mut state,
        now,
        config.dpop_iat_window,
        &proof,
        "POST",
        &htu,
        nonces.as_ref(),
        None,
    ) {
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
        if let Some(refresh) = text("refresh_token").filter(|_| public) {
            if let Some(grant) = locked(&shared.refresh).get_mut(&refresh) {
                grant.jkt = Some(jkt.clone());
            }
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

/// The protected API's check of a `DPoP` token: the proof (with `ath`, `htm` and `htu`
/// of this request, the resource server's nonce when `ServerConfig::api_dpop_nonce`) and
/// the token's binding. `Some(response)` refuses the request.
pub(super) fn api_request(
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
    if !issued.is_some_and(|i| shared.clock.now() < i.expires_at) {
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
    match verify(
        &mut state,
        now,
        config.dpop_iat_window,
        &proof,
        method,
        htu,
        nonces.as_ref(),
        Some(token),
    ) {
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
pub(super) fn bound_as_bearer(shared: &Shared) -> Response {
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
pub(super) fn is_bound(shared: &Shared, token: &str) -> bool {
    locked(&shared.dpop).bound.contains_key(token)
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
