//! The rules every authenticating HTTP adapter applies — the reqwest middleware
//! ([`crate::middleware`]) and the tower layer ([`crate::tower`]) — written once.
//!
//! An adapter asks, in order:
//! 1. [`AuthRules::decide`]: does this request get a token, go as it is, or fail? (a
//!    configured host gets one over HTTPS or to loopback and is refused otherwise; other
//!    hosts and requests with the caller's own `Authorization` header go as they are);
//! 2. [`AuthRules::auth_headers`]: which headers to set, from the token and the request's
//!    method and URL: `Authorization: <type> <token>`, marked sensitive, and for a DPoP
//!    token (feature `dpop`) a `DPoP` proof for this method and URL, with `ath` and the
//!    API's nonce;
//! 3. [`AuthRules::verdict`]: what the response says about the token (and, with DPoP, the
//!    nonce it hands out).
//!
//! [`Verdict`] is matched exhaustively by each adapter: a new kind of answer is added here
//! and the compiler points at every adapter that must handle it.

use grantkit_core::{Token, TokenManager, TokenRequest};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Method, StatusCode};
use url::Url;

/// What the adapters take for "token rejected" unless told otherwise.
pub(crate) const DEFAULT_REJECTED_STATUSES: [u16; 1] = [401];

/// gRPC's status code for "the request does not have valid authentication credentials".
pub(crate) const GRPC_UNAUTHENTICATED: &str = "16";

/// The `grpc-status` header (or trailer).
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Where tokens go and what counts as their rejection.
#[derive(Clone, Debug)]
pub(crate) struct AuthRules {
    /// Host names (lower case) and, when configured, the one port that matches.
    hosts: Vec<(String, Option<u16>)>,
    rejected: Vec<u16>,
}

/// What an adapter does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send it as it is: not for a configured host, or it has an `Authorization` header.
    PassThrough,
    /// Get a token and set [`AuthRules::auth_headers`].
    Authenticate,
    /// Fail it with [`refusal`]: a configured host, but not over HTTPS (nor HTTP to
    /// loopback).
    Refuse,
}

/// The error of a [`Decision::Refuse`]d request to `url`: names the host and the scheme,
/// nothing of the path or query.
pub(crate) fn refusal(url: &Url) -> grantkit_core::Error {
    grantkit_core::Error::config(format!(
        "refusing to send a request for {:?} over {}: a token is sent only over https \
         (or plain http to a loopback host)",
        url.host_str().unwrap_or_default(),
        url.scheme()
    ))
}

/// What a response says about the token a request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The token was not rejected (whatever else the status says).
    Accepted,
    /// The API rejected the token: invalidate it, and send the request once more with a new
    /// one if its body can be replayed.
    TokenRejected,
    /// The API wants a DPoP nonce (`401` with `WWW-Authenticate: DPoP
    /// error="use_dpop_nonce"` and a `DPoP-Nonce`, RFC 9449 §9), now remembered: send the
    /// request once more with the same token and a new proof, if its body can be replayed.
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    NonceRequired,
}

/// The header of a DPoP proof.
#[cfg(feature = "dpop")]
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The header a server sends its DPoP nonce in.
#[cfg(feature = "dpop")]
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Whether a `WWW-Authenticate` challenge is DPoP's `use_dpop_nonce` (RFC 9449 §9).
#[cfg(feature = "dpop")]
fn asks_for_nonce(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|challenge| {
            let challenge = challenge.trim_start();
            challenge
                .get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("dpop "))
                && challenge.split([',', ' ']).any(|param| {
                    matches!(
                        param.trim(),
                        r#"error="use_dpop_nonce""# | "error=use_dpop_nonce"
                    )
                })
        })
}

/// `"host"`, `"host:port"`, `"[v6]"` or `"[v6]:port"` → the host as `Url::host_str` spells
/// it, and the port.
fn split_host(spec: &str) -> (String, Option<u16>) {
    let spec = spec.trim().to_ascii_lowercase();
    let (name, port) = match spec.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((v6, tail)) => (format!("[{v6}]"), tail.strip_prefix(':')),
        None => match spec.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name.to_owned(), Some(port)),
            _ => (spec.clone(), None),
        },
    };
    // A port that does not parse matches nothing (port 0), rather than every port.
    (name, port.map(|p| p.parse().unwrap_or(0)))
}

impl AuthRules {
    /// Tokens for `hosts` (`"api.example.com"`, `"host:port"`, `"[::1]:8443"`); 401 means
    /// "token rejected".
    pub(crate) fn new<H: Into<String>>(hosts: impl IntoIterator<Item = H>) -> Self {
        AuthRules {
            hosts: hosts.into_iter().map(|h| split_host(&h.into())).collect(),
            rejected: DEFAULT_REJECTED_STATUSES.to_vec(),
        }
    }

    /// Replaces the statuses that mean "token rejected".
    pub(crate) fn set_rejected(&mut self, statuses: impl IntoIterator<Item = u16>) {
        self.rejected = statuses.into_iter().collect();
    }

    /// The statuses that mean "token rejected".
    pub(crate) fn rejected(&self) -> &[u16] {
        &self.rejected
    }

    /// The configured hosts, for `Debug`.
    pub(crate) fn hosts(&self) -> &[(String, Option<u16>)] {
        &self.hosts
    }

    /// Whether a request to `url` may carry a token: a configured host (and port, when one
    /// was given), over HTTPS, or plain HTTP to a loopback host.
    pub(crate) fn applies_to(&self, url: &Url) -> bool {
        // https, or http to loopback: the rule token requests follow.
        let secure = url.scheme() == "https"
            || (url.scheme() == "http" && TokenRequest::check_url(url.as_str(), false).is_ok());
        secure && self.matches_host(url)
    }

    /// What to do with a request to `url` with these headers:
    /// - the caller set an `Authorization` header of their own: [`Decision::PassThrough`]
    ///   (sent as it is, never retried);
    /// - a configured host over HTTPS, or plain HTTP to a loopback host:
    ///   [`Decision::Authenticate`];
    /// - a configured host over plain HTTP (not loopback) or another scheme:
    ///   [`Decision::Refuse`] — the request fails rather than go out without the token it
    ///   was meant to carry, or with it in clear text;
    /// - any other host: [`Decision::PassThrough`].
    pub(crate) fn decide(&self, url: &Url, headers: &HeaderMap) -> Decision {
        if headers.contains_key(AUTHORIZATION) || !self.matches_host(url) {
            Decision::PassThrough
        } else if self.applies_to(url) {
            Decision::Authenticate
        } else {
            Decision::Refuse
        }
    }

    /// Whether `url`'s host (and port) is one of the configured ones, whatever the scheme.
    fn matches_host(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        self.hosts.iter().any(|(name, port)| {
            name.eq_ignore_ascii_case(host)
                && port.is_none_or(|p| Some(p) == url.port_or_known_default())
        })
    }

    /// The headers to set on a request `method url` authenticated with `token` from
    /// `manager`, each replacing a header of the same name: `Authorization: <type>
    /// <token>`, marked sensitive, and for a `DPoP` token a `DPoP` proof signed with the
    /// token's key for this method and URL (with `ath` and the API's last nonce; see
    /// [`TokenManager::dpop_proof`]), also marked sensitive.
    ///
    /// # Errors
    /// When the token cannot be a header value (a token built by hand with a line break),
    /// or a DPoP token has no key.
    pub(crate) fn auth_headers(
        &self,
        manager: &TokenManager,
        token: &Token,
        method: &Method,
        url: &Url,
    ) -> grantkit_core::Result<HeaderMap> {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(AUTHORIZATION, token.header_value()?);
        #[cfg(feature = "dpop")]
        if let Some(proof) = manager.dpop_proof(method.as_str(), url.as_str(), token)? {
            headers.insert(DPOP, proof);
        }
        #[cfg(not(feature = "dpop"))]
        let _ = (manager, method, url);
        Ok(headers)
    }

    /// What the response's status and headers say about the token: one of the rejected
    /// statuses, or a gRPC "trailers-only" answer (HTTP 200, `content-type: application/grpc…`)
    /// whose headers carry `grpc-status: 16` (`UNAUTHENTICATED`), means rejected.
    ///
    /// A `grpc-status` sent in trailers after a body is not seen here: the response has
    /// been handed to the caller by then (servers reject credentials before any message,
    /// trailers-only, which is what tonic's and grpc-go's interceptors do).
    ///
    /// With DPoP, a `DPoP-Nonce` in any answer is remembered for `url`'s origin, and a `401`
    /// whose `WWW-Authenticate: DPoP` challenge says `use_dpop_nonce` with a new nonce is
    /// [`Verdict::NonceRequired`], not a rejected token.
    pub(crate) fn verdict(
        &self,
        manager: &TokenManager,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Verdict {
        #[cfg(feature = "dpop")]
        {
            let fresh_nonce = headers
                .get(DPOP_NONCE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|nonce| manager.dpop_nonces().remember(url.as_str(), nonce));
            if fresh_nonce && status == StatusCode::UNAUTHORIZED && asks_for_nonce(headers) {
                return Verdict::NonceRequired;
            }
        }
        #[cfg(not(feature = "dpop"))]
        let _ = (manager, url);
        if self.rejected.contains(&status.as_u16()) || grpc_unauthenticated(status, headers) {
            Verdict::TokenRejected
        } else {
            Verdict::Accepted
        }
    }
}

/// A gRPC trailers-only response with `grpc-status: 16`.
fn grpc_unauthenticated(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::OK
        && headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"))
        && headers
            .get(GRPC_STATUS)
            .is_some_and(|v| v.as_bytes() == GRPC_UNAUTHENTICATED.as_bytes())
}

/// Sets `headers` on `target`, each replacing any value of the same name (a retry replaces
/// the rejected token's header).
pub(crate) fn set_headers(target: &mut HeaderMap, headers: HeaderMap) {
    let mut last = None;
    for (name, value) in headers {
        match name {
            Some(name) => {
                target.insert(name.clone(), value);
                last = Some(name);
            }
            None => {
                if let Some(name) = &last {
                    target.append(name, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use grantkit_core::{Clock, SystemClock};
    use http::HeaderValue;

    use super::*;

    /// A manager whose grant hands out `at-1` (never called by these tests' bearer paths).
    fn manager() -> TokenManager {
        TokenManager::builder()
            .grant(grantkit_core::grant_fn(
                grantkit_core::GrantIdentity::new("test", "https://auth.example.com/token"),
                |cx| async move {
                    let now = cx.now();
                    Ok(Token::new("at-1", now, now + Duration::from_secs(60)))
                },
            ))
            .build()
            .unwrap()
    }

    fn api() -> Url {
        "https://api.example.com/x".parse().unwrap()
    }

    fn rules() -> AuthRules {
        AuthRules::new([
            "api.example.com",
            "localhost",
            "127.0.0.1:8080",
            "[::1]:9000",
            "bad.example:port",
        ])
    }

    #[test]
    fn applies_only_to_configured_hosts_over_https_or_loopback() {
        let r = rules();
        for u in [
            "https://api.example.com/x",
            "https://API.example.com:443/x",
            "http://localhost/x",
            "http://127.0.0.1:8080/x",
            "http://[::1]:9000/x",
        ] {
            assert!(r.applies_to(&u.parse().unwrap()), "{u}");
        }
        for u in [
            "http://api.example.com/x",
            "https://evil.example.com/x",
            "https://api.example.com.evil.com/x",
            "http://127.0.0.1:9090/x",
            "http://[::1]:9001/x",
            "https://bad.example/x",
            "ftp://api.example.com/x",
        ] {
            assert!(!r.applies_to(&u.parse().unwrap()), "{u}");
        }
    }

    #[test]
    fn decisions() {
        let r = rules();
        let none = HeaderMap::new();
        let decide = |u: &str, h: &HeaderMap| r.decide(&u.parse().unwrap(), h);
        assert_eq!(
            decide("https://api.example.com/x", &none),
            Decision::Authenticate
        );
        assert_eq!(
            decide("http://localhost:1234/x", &none),
            Decision::Authenticate
        );
        assert_eq!(decide("http://api.example.com/x", &none), Decision::Refuse);
        assert_eq!(decide("ftp://api.example.com/x", &none), Decision::Refuse);
        assert_eq!(
            decide("http://127.0.0.1:9090/x", &none),
            Decision::PassThrough
        );
        assert_eq!(
            decide("http://other.example/x", &none),
            Decision::PassThrough
        );
        let mut own = HeaderMap::new();
        own.insert(AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(
            decide("https://api.example.com/x", &own),
            Decision::PassThrough
        );
        assert_eq!(
            decide("http://api.example.com/x", &own),
            Decision::PassThrough
        );
        let error = refusal(&"http://api.example.com/secret-path?key=k".parse().unwrap());
        let text = error.to_string();
        assert!(text.contains("\"api.example.com\" over http"), "{text}");
        assert!(
            !text.contains("secret-path") && !text.contains("key=k"),
            "{text}"
        );
    }

    #[test]
    fn the_authorization_header_is_the_tokens_and_sensitive() {
        let now = SystemClock::new().now();
        let token = Token::new("at-1", now, now + Duration::from_secs(60));
        let url: Url = "https://api.example.com/x".parse().unwrap();
        let set = rules()
            .auth_headers(&manager(), &token, &Method::GET, &url)
            .unwrap();
        assert_eq!(set.len(), 1);
        let value = set.get(AUTHORIZATION).unwrap();
        assert_eq!(value, "Bearer at-1");
        assert!(value.is_sensitive());

        let mut target = HeaderMap::new();
        target.insert(AUTHORIZATION, HeaderValue::from_static("Bearer old"));
        target.insert("x-other", HeaderValue::from_static("kept"));
        set_headers(&mut target, set);
        assert_eq!(target.get_all(AUTHORIZATION).iter().count(), 1);
        assert_eq!(target[AUTHORIZATION], "Bearer at-1");
        assert_eq!(target["x-other"], "kept");
    }

    #[test]
    fn verdicts() {
        let mut r = rules();
        let none = HeaderMap::new();
        let (m, api) = (manager(), api());
        let r_verdict =
            |r: &AuthRules, status, headers: &HeaderMap| r.verdict(&m, &api, status, headers);
        assert_eq!(
            r_verdict(&r, StatusCode::UNAUTHORIZED, &none),
            Verdict::TokenRejected
        );
        assert_eq!(
            r_verdict(&r, StatusCode::FORBIDDEN, &none),
            Verdict::Accepted
        );
        r.set_rejected([401, 403]);
        assert_eq!(
            r_verdict(&r, StatusCode::FORBIDDEN, &none),
            Verdict::TokenRejected
        );

        let grpc = |status: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            h.insert(GRPC_STATUS, HeaderValue::from_static(status));
            h
        };
        assert_eq!(
            r_verdict(&r, StatusCode::OK, &grpc("16")),
            Verdict::TokenRejected
        );
        assert_eq!(r_verdict(&r, StatusCode::OK, &grpc("7")), Verdict::Accepted);
        assert_eq!(r_verdict(&r, StatusCode::OK, &grpc("0")), Verdict::Accepted);
        // Not gRPC: a grpc-status header on a JSON answer means nothing.
        let mut json = grpc("16");
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(r_verdict(&r, StatusCode::OK, &json), Verdict::Accepted);
    }

    #[cfg(feature = "dpop")]
    mod dpop {
        use base64::Engine as _;
        use grantkit_core::{Dpop, DpopAlgorithm, DpopKey};

        use super::*;

        fn dpop_manager() -> TokenManager {
            TokenManager::builder()
                .grant(grantkit_core::grant_fn(
                    grantkit_core::GrantIdentity::new("test", "https://auth.example.com/token"),
                    |cx| async move {
                        let now = cx.now();
                        let key = cx.dpop_key().cloned().unwrap();
                        Ok(Token::new("bound", now, now + Duration::from_secs(60))
                            .with_token_type("DPoP")
                            .with_dpop_key(key))
                    },
                ))
                .dpop(Dpop::new(DpopAlgorithm::Es256))
                .build()
                .unwrap()
        }

        fn claims(value: &HeaderValue) -> serde_json::Value {
            let jwt = value.to_str().unwrap();
            let payload = jwt.split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap()
        }

        #[tokio::test]
        async fn a_dpop_token_gets_its_scheme_and_a_proof_for_the_request() {
            let m = dpop_manager();
            let token = m.token().await.unwrap();
            let url: Url = "https://api.example.com/v1/items?page=3".parse().unwrap();
            let set = rules()
                .auth_headers(&m, &token, &Method::PUT, &url)
                .unwrap();
            assert_eq!(set.len(), 2);
            assert_eq!(set[AUTHORIZATION], "DPoP bound");
            let proof = &set[DPOP];
            assert!(proof.is_sensitive());
            let c = claims(proof);
            assert_eq!(c["htm"], "PUT");
            assert_eq!(c["htu"], "https://api.example.com/v1/items");
            assert_eq!(c["ath"], DpopKey::access_token_hash("bound"));
            assert!(c.get("nonce").is_none());
            // A bearer token from the same manager gets no proof.
            let now = SystemClock::new().now();
            let bearer = Token::new("plain", now, now + Duration::from_secs(60));
            let set = rules()
                .auth_headers(&m, &bearer, &Method::GET, &url)
                .unwrap();
            assert_eq!(set.len(), 1);
        }

        #[tokio::test]
        async fn use_dpop_nonce_is_a_nonce_request_and_the_nonce_goes_into_the_next_proof() {
            let m = dpop_manager();
            let token = m.token().await.unwrap();
            let url = api();
            let r = rules();
            let mut h = HeaderMap::new();
            h.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
                ),
            );
            // Without a nonce to use, it is a rejection like any other 401.
            assert_eq!(
                r.verdict(&m, &url, StatusCode::UNAUTHORIZED, &h),
                Verdict::TokenRejected
            );
            h.insert("dpop-nonce", HeaderValue::from_static("rs-n1"));
            assert_eq!(
                r.verdict(&m, &url, StatusCode::UNAUTHORIZED, &h),
                Verdict::NonceRequired
            );
            let set = r.auth_headers(&m, &token, &Method::GET, &url).unwrap();
            assert_eq!(claims(&set[DPOP])["nonce"], "rs-n1");
            // invalid_token is a rejected token, whatever nonce comes with it.
            h.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"DPoP error="invalid_token", algs="ES256""#),
            );
            h.insert("dpop-nonce", HeaderValue::from_static("rs-n2"));
            assert_eq!(
                r.verdict(&m, &url, StatusCode::UNAUTHORIZED, &h),
                Verdict::TokenRejected
            );
            // A nonce on a success is remembered for the next request.
            let mut ok = HeaderMap::new();
            ok.insert("dpop-nonce", HeaderValue::from_static("rs-n3"));
            assert_eq!(r.verdict(&m, &url, StatusCode::OK, &ok), Verdict::Accepted);
            let set = r.auth_headers(&m, &token, &Method::GET, &url).unwrap();
            assert_eq!(claims(&set[DPOP])["nonce"], "rs-n3");
            // A Bearer challenge is not DPoP's.
            let mut bearer = HeaderMap::new();
            bearer.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="use_dpop_nonce""#),
            );
            bearer.insert("dpop-nonce", HeaderValue::from_static("rs-n4"));
            assert_eq!(
                r.verdict(&m, &url, StatusCode::UNAUTHORIZED, &bearer),
                Verdict::TokenRejected
            );
        }

        #[test]
        fn challenges_are_read_in_any_case_and_spacing() {
            let asks = |v: &'static str| {
                let mut h = HeaderMap::new();
                h.insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
                asks_for_nonce(&h)
            };
            assert!(asks(r#"DPoP error="use_dpop_nonce""#));
            assert!(asks(r#"dpop algs="ES256", error="use_dpop_nonce""#));
            assert!(asks("DPoP error=use_dpop_nonce"));
            assert!(!asks(r#"DPoP error="invalid_token""#));
            assert!(!asks(r#"DPoPx error="use_dpop_nonce""#));
            assert!(!asks(r#"Bearer error="use_dpop_nonce""#));
        }
    }
}
