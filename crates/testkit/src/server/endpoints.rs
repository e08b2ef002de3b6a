//! The token endpoint and the protected API.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use grantkit_core::Clock;
use serde_json::{Map, Value, json};

use super::config::{ExpiresIn, Fault, JWT_BEARER, RecordedRequest, ServerConfig};
use super::tls::TlsPeer;
use super::{Issued, RefreshGrant, Shared, locked};

pub(super) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn parse_params(content_type: Option<&str>, body: &[u8]) -> Map<String, Value> {
    if content_type.is_some_and(|c| c.starts_with("application/json")) {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    } else {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    }
}

pub(super) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": code, "error_description": description}).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"test\""),
        );
    }
    response
}

pub(super) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The client's credentials, from HTTP Basic (form-urlencoded inside, RFC 6749 §2.3.1) or
/// the body.
pub(super) fn client_credentials(
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Option<(String, String)> {
    if let Some(basic) = header_str(headers, header::AUTHORIZATION)
        .as_deref()
        .and_then(|h| h.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((
        text("client_id")?,
        text("client_secret").unwrap_or_default(),
    ))
}

pub(super) async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<TlsPeer>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let params = parse_params(content_type.as_deref(), &body);
    let grant_type = params
        .get("grant_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let peer = peer.and_then(|Extension(ConnectInfo(peer))| peer.certificate);
    locked(&shared.requests).push(RecordedRequest {
        path: uri.path().to_owned(),
        content_type,
        authorization: header_str(&headers, header::AUTHORIZATION),
        user_agent: header_str(&headers, header::USER_AGENT),
        body: String::from_utf8_lossy(&body).into_owned(),
        params: params.clone(),
        grant_type: grant_type.clone(),
        client_certificate: peer.as_ref().map(|p| p.thumbprint.clone()),
        dpop: header_str(&headers, header::HeaderName::from_static("dpop")),
    });

    let delay = locked(&shared.config).token_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = locked(&shared.faults).pop_front();
    let mut expires_override = None;
    match fault {
        None => {}
        Some(Fault::Status(code)) => return status(code).into_response(),
        Some(Fault::Body(code, content_type, body)) => {
            return (status(code), [(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        Some(Fault::Html(code)) => {
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{code} Error</title></head>\n<body><h1>Something went wrong</h1></body></html>"
            );
            return (status(code), [(header::CONTENT_TYPE, "text/html")], page).into_response();
        }
        Some(Fault::RetryAfter(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs.to_string())],
                "",
            )
                .into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
        }
        Some(Fault::CloseMidBody) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"access_token\":\"trunc")),
                Err(std::io::Error::other("connection closed mid-body")),
            ];
            let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("200"));
            return response;
        }
        Some(Fault::Huge(size)) => {
            let mut body = String::with_capacity(size);
            body.push_str("{\"access_token\":\"big\",\"padding\":\"");
            while body.len() + 2 < size {
                body.push('x');
            }
            body.push_str("\"}");
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        Some(Fault::ExpiresIn(secs)) => expires_override = Some(secs),
        Some(Fault::Redirect(to)) => {
            return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)], "").into_response();
        }
    }

    let config = locked(&shared.config).clone();
    // DPoP first: a `use_dpop_nonce` answer must not use up a refresh token or a poll.
    let jkt = match super::dpop::token_request(&shared, &config, &headers, uri.path()) {
        Ok(jkt) => jkt,
        Err(r) => return r,
    };
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
    let scope = text("scope");
    #[allow(clippy::result_large_err)]
    let authenticate = || -> Result<String, Response> {
        // A client registered for mutual TLS proves itself with its certificate alone
        // (RFC 8705 §2): its id in the body, no secret, no Authorization header.
        let body_id = text("client_id");
        if let Some((id, tls)) = body_id
            .as_ref()
            .and_then(|id| config.tls_clients.get(id).map(|tls| (id, tls)))
        {
            let only_the_id = !headers.contains_key(header::AUTHORIZATION)
                && !params.contains_key("client_secret");
            return if only_the_id && tls.accepts(peer.as_ref()) {
                Ok(id.clone())
            } else {
                Err(oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "Client certificate authentication failed",
                ))
            };
        }
        if let Some(assertion) = text("client_assertion") {
            return super::exchange::client_assertion(&shared, &config, &assertion);
        }
        match client_credentials(&headers, &params) {
            Some((id, secret)) if config.clients.get(&id) == Some(&secret) => Ok(id),
            _ => Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            )),
        }
    };

    let (client_id, scope, with_refresh) = match grant_type.as_deref() {
        Some("client_credentials") => match authenticate() {
            Ok(id) => (id, scope, config.refresh_tokens_for_client_credentials),
            Err(r) => return r,
        },
        Some("password") => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            let user = text("username").unwrap_or_default();
            let pass = text("password").unwrap_or_default();
            if config.users.get(&user) != Some(&pass) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The resource owner credentials are invalid",
                );
            }
            (id, scope, true)
        }
        Some("refresh_token") => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            let presented = text("refresh_token").unwrap_or_default();
            let known = {
                let mut refresh = locked(&shared.refresh);
                let grant = refresh.get(&presented).cloned();
                if let Some(g) = grant.as_ref().filter(|g| g.client_id == id) {
                    // A refresh token bound to a DPoP key stays usable by that key only.
                    if let Err(r) = super::dpop::check_refresh(g.jkt.as_deref(), jkt.as_ref()) {
                        return r;
                    }
                }
                if grant.is_some() && config.rotate_refresh_tokens {
                    refresh.remove(&presented);
                }
                grant
            };
            match known {
                Some(g) if g.client_id == id => {
                    if !config.rotate_refresh_tokens {
                        let token = issue(
                            &shared,
                            &config,
                            &g.client_id,
                            g.scope.clone(),
                            false,
                            expires_override,
                        );
                        let mut body = token;
                        body.insert("refresh_token".into(), Value::String(presented));
                        return super::dpop::respond(&shared, &config, body, jkt.as_ref(), &id);
                    }
                    (id, g.scope, true)
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "The refresh token is invalid, expired or already used",
                    );
                }
            }
        }
        Some(super::device::DEVICE_CODE) => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            match super::device::poll(
                &shared,
                &config,
                &id,
                &text("device_code").unwrap_or_default(),
            ) {
                Ok(scope) => (id, scope, true),
                Err(r) => return r,
            }
        }
        Some(super::exchange::TOKEN_EXCHANGE) => {
            let id = match authenticate() {
                Ok(id) => id,
                Err(r) => return r,
            };
            match super::exchange::subject(&shared, &text("subject_token").unwrap_or_default()) {
                Ok(()) => (id, scope, false),
                Err(r) => return r,
            }
        }
        Some(JWT_BEARER) => {
            match verify_assertion(&shared, &config, &text("assertion").unwrap_or_default()) {
                Ok(issuer) => (issuer, scope, false),
                Err(reason) => {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &reason);
                }
            }
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type",
            );
        }
    };
    let mut body = issue(
        &shared,
        &config,
        &client_id,
        scope,
        with_refresh,
        expires_override,
    );
    if grant_type.as_deref() == Some(super::exchange::TOKEN_EXCHANGE) {
        body.insert(
            "issued_token_type".into(),
            "urn:ietf:params:oauth:token-type:access_token".into(),
        );
    }
    super::dpop::respond(&shared, &config, body, jkt.as_ref(), &client_id)
}

pub(super) fn json_ok(body: Map<String, Value>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Value::Object(body).to_string(),
    )
        .into_response()
}

pub(super) fn issue(
    shared: &Shared,
    config: &ServerConfig,
    client_id: &str,
    scope: Option<String>,
    with_refresh: bool,
    expires_override: Option<i64>,
) -> Map<String, Value> {
    let n = shared.serial.fetch_add(1, Ordering::SeqCst) + 1;
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let now = shared.clock.now();
    let lifetime_secs = expires_override
        .unwrap_or_else(|| i64::try_from(config.lifetime.as_secs()).unwrap_or(i64::MAX));
    // `exp` claims and many servers count whole seconds from the current second.
    let second = UNIX_EPOCH
        + Duration::from_secs(
            now.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
    let base = if config.whole_second_expiry {
        second
    } else {
        now
    };
    let expires_at = if lifetime_secs <= 0 {
        now
    } else {
        base + Duration::from_secs(lifetime_secs.unsigned_abs())
    };
    let rand = fastrand::u64(..);
    let access_token = if config.expires_in == ExpiresIn::JwtOnly {
        let exp = expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig{rand:x}",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&json!({"sub": client_id, "iat": iat, "exp": exp, "jti": n})),
        )
    } else {
        format!("at-{n}-{rand:016x}")
    };
    locked(&shared.issued).insert(access_token.clone(), Issued { expires_at });
    let mut body = Map::new();
    body.insert("access_token".into(), Value::String(access_token));
    body.insert("token_type".into(), Value::String("Bearer".into()));
    match (config.expires_in, expires_override) {
        (_, Some(secs)) => {
            body.insert("expires_in".into(), Value::from(secs));
        }
        (ExpiresIn::Number, None) => {
            body.insert("expires_in".into(), Value::from(lifetime_secs));
        }
        (ExpiresIn::String, None) => {
            body.insert(
                "expires_in".into(),
                Value::String(lifetime_secs.to_string()),
            );
        }
        (ExpiresIn::JwtOnly | ExpiresIn::Absent, None) => {}
    }
    if let Some(scope) = scope.as_ref().filter(|_| !config.omit_scope) {
        body.insert("scope".into(), Value::String(scope.clone()));
    }
    if with_refresh {
        let refresh_token = format!("rt-{n}-{:016x}", fastrand::u64(..));
        locked(&shared.refresh).insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                scope,
                jkt: None,
            },
        );
        body.insert("refresh_token".into(), Value::String(refresh_token));
    }
    body
}

/// Verifies an HS256 JWT-bearer assertion: the key id, the signature, `iss` for that key,
/// `aud` equal to one of the token URLs, and `exp - iat` within the allowed lifetime.
pub(super) fn verify_assertion(
    shared: &Shared,
    config: &ServerConfig,
    assertion: &str,
) -> Result<String, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let header = decode_header(assertion).map_err(|e| format!("malformed assertion: {e}"))?;
    let kid = header.kid.ok_or("the assertion has no kid")?;
    let (issuer, key) = if header.alg == Algorithm::HS256 {
        let (issuer, secret) = config
            .service_accounts
            .get(&kid)
            .ok_or_else(|| format!("unknown key id {kid:?}"))?;
        (issuer, DecodingKey::from_secret(secret.as_bytes()))
    } else {
        let (issuer, public) = config
            .service_account_keys
            .get(&kid)
            .ok_or_else(|| format!("unknown key id {kid:?} for {:?}", header.alg))?;
        let pem = public.as_bytes();
        let key = match header.alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            other => return Err(format!("unsupported algorithm {other:?}")),
        }
        .map_err(|e| format!("the service account's public key: {e}"))?;
        (issuer, key)
    };
    let mut validation = Validation::new(header.alg);
    let audiences: Vec<String> = ["/oauth/token", "/oauth2/token", "/token"]
        .iter()
        .map(|p| format!("{}{p}", shared.base_url))
        .collect();
    validation.set_audience(&audiences);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    // The server's clock may be a manual one: check exp against it, not the system's.
    validation.validate_exp = false;
    let data = decode::<Map<String, Value>>(assertion, &key, &validation)
        .map_err(|e| format!("invalid assertion: {e}"))?;
    let claim = |k: &str| data.claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (iat, exp) = (claim("iat"), claim("exp"));
    if exp - iat > config.max_assertion_lifetime_secs {
        return Err(format!(
            "the assertion lives {}s; at most {}s is allowed",
            exp - iat,
            config.max_assertion_lifetime_secs
        ));
    }
    let now = shared
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if u64::try_from(exp).unwrap_or(0) <= now {
        return Err("the assertion has expired".into());
    }
    Ok(issuer.clone())
}
