//! The rules every authenticating HTTP adapter applies — the reqwest middleware
//! ([`crate::middleware`]) and the tower layer ([`crate::tower`]) — written once.
//!
//! An adapter asks, in order:
//! 1. [`AuthRules::decide`]: does this request get a token, go as it is, or fail? (a
//!    configured host gets one over HTTPS or to loopback and is refused otherwise; other
//!    hosts and requests with the caller's own `Authorization` header go as they are);
//! 2. [`AuthRules::auth_headers`]: which headers to set, from the token and the request's
//!    method and URL (today `Authorization: <type> <token>`, marked sensitive; a scheme
//!    that signs each request, such as DPoP's proof header, adds its headers here);
//! 3. [`AuthRules::verdict`]: what the response says about the token.
//!
//! [`Verdict`] is matched exhaustively by each adapter: a new kind of answer (DPoP's
//! `use_dpop_nonce`, say) is added here and the compiler points at every adapter that must
//! handle it.

use grantkit_core::{Token, TokenRequest};
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

    /// The headers to set on a request `method url` authenticated with `token`, each
    /// replacing a header of the same name. Today: `Authorization: <type> <token>`, marked
    /// sensitive. The method and URL are there for schemes that sign each request.
    ///
    /// # Errors
    /// When the token cannot be a header value (a token built by hand with a line break).
    pub(crate) fn auth_headers(
        &self,
        token: &Token,
        _method: &Method,
        _url: &Url,
    ) -> grantkit_core::Result<HeaderMap> {
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(AUTHORIZATION, token.header_value()?);
        Ok(headers)
    }

    /// What the response's status and headers say about the token: one of the rejected
    /// statuses, or a gRPC "trailers-only" answer (HTTP 200, `content-type: application/grpc…`)
    /// whose headers carry `grpc-status: 16` (`UNAUTHENTICATED`), means rejected.
    ///
    /// A `grpc-status` sent in trailers after a body is not seen here: the response has
    /// been handed to the caller by then (servers reject credentials before any message,
    /// trailers-only, which is what tonic's and grpc-go's interceptors do).
    pub(crate) fn verdict(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
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
        let set = rules().auth_headers(&token, &Method::GET, &url).unwrap();
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
        assert_eq!(
            r.verdict(StatusCode::UNAUTHORIZED, &none),
            Verdict::TokenRejected
        );
        assert_eq!(r.verdict(StatusCode::FORBIDDEN, &none), Verdict::Accepted);
        r.set_rejected([401, 403]);
        assert_eq!(
            r.verdict(StatusCode::FORBIDDEN, &none),
            Verdict::TokenRejected
        );

        let grpc = |status: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            h.insert(GRPC_STATUS, HeaderValue::from_static(status));
            h
        };
        assert_eq!(
            r.verdict(StatusCode::OK, &grpc("16")),
            Verdict::TokenRejected
        );
        assert_eq!(r.verdict(StatusCode::OK, &grpc("7")), Verdict::Accepted);
        assert_eq!(r.verdict(StatusCode::OK, &grpc("0")), Verdict::Accepted);
        // Not gRPC: a grpc-status header on a JSON answer means nothing.
        let mut json = grpc("16");
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(r.verdict(StatusCode::OK, &json), Verdict::Accepted);
    }
}
