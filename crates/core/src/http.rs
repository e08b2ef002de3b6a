//! The HTTP exchange grants use: a small trait, a request builder, and the default client.
//!
//! Requests and responses are the [`http`] crate's types (a stable 1.x crate), so
//! grantkit's API does not change when the HTTP client does.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use url::Url;

use crate::error::{Error, Result};
use crate::secret::ClientSecret;

/// A request to a token endpoint.
///
/// # Security
/// Its body holds credentials: never log it with `Debug`.
pub type HttpRequest = http::Request<Vec<u8>>;

/// A token endpoint's response.
pub type HttpResponse = http::Response<Vec<u8>>;

/// The largest token response the default client reads, in bytes (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Sends one HTTP request and returns the response, whatever its status.
///
/// The default implementation is [`ReqwestHttpClient`]. Implement this to run grantkit on
/// another HTTP stack, or to answer requests in memory in tests.
///
/// # Contract
/// - Return `Ok` for every response the server sent, including 4xx and 5xx.
/// - Return [`ErrorKind::Connect`](crate::ErrorKind::Connect) or [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when no complete response
///   arrived, so the manager can retry.
/// - Do not follow redirects: a token request carries credentials.
/// - Never include the request body or headers in an error or a log.
#[async_trait]
pub trait HttpClient: Send + Sync + fmt::Debug {
    /// Sends `request`.
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse>;
}

#[async_trait]
impl<T: HttpClient + ?Sized> HttpClient for Arc<T> {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        (**self).execute(request).await
    }
}

/// Builds a token request: `POST`, `Accept: application/json`, a form or JSON body, and
/// optional HTTP Basic client authentication.
///
/// ```
/// use grantkit_core::{ClientSecret, TokenRequest};
///
/// let req = TokenRequest::post("https://auth.example.com/token")
///     .basic_auth("my client", &ClientSecret::new("s3cret"))
///     .form([("grant_type", "client_credentials"), ("scope", "read write")])
///     .build()
///     .unwrap();
/// assert_eq!(req.body(), b"grant_type=client_credentials&scope=read+write");
/// assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
/// ```
#[must_use]
pub struct TokenRequest {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    error: Option<Error>,
}

impl TokenRequest {
    /// Checks `url` the way a token request to it is checked when sent: credentials go
    /// over `https`, or plain `http` to a loopback host (`localhost`, `127.0.0.0/8`,
    /// `::1`), or plain `http` anywhere when `allow_http` is set. Grants call it with
    /// `allow_http = true` when they are built, to report a URL that is not `http(s)` at
    /// once; the manager decides about plain `http` when the request is sent.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the URL's problem.
    ///
    /// ```
    /// use grantkit_core::TokenRequest;
    /// assert!(TokenRequest::check_url("https://auth.example.com/token", false).is_ok());
    /// assert!(TokenRequest::check_url("http://127.0.0.1:8080/token", false).is_ok());
    /// assert!(TokenRequest::check_url("http://auth.example.com/token", false).is_err());
    /// assert!(TokenRequest::check_url("http://auth.example.com/token", true).is_ok());
    /// assert!(TokenRequest::check_url("ftp://auth.example.com/token", true).is_err());
    /// ```
    pub fn check_url(url: &str, allow_http: bool) -> Result<()> {
        check_token_url(url, allow_http).map(drop)
    }

    /// A `POST` to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        TokenRequest {
            url: url.into(),
            headers: vec![(ACCEPT, HeaderValue::from_static("application/json"))],
            body: Vec::new(),
            error: None,
        }
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = ser.finish().into_bytes();
        self.set_header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    /// Sets an `application/json` body.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body = bytes,
            Err(_) => {
                self.error = Some(Error::config(
                    "the request body could not be encoded as JSON",
                ));
            }
        }
        self.set_header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// Authenticates the client with HTTP Basic as RFC 6749 §2.3.1 asks: the client id and
    /// secret are each form-urlencoded, joined by `:`, and base64-encoded. The header is
    /// marked sensitive.
    pub fn basic_auth(mut self, client_id: &str, client_secret: &ClientSecret) -> Self {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!("{}:{}", encode(client_id), encode(client_secret.secret()));
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        match HeaderValue::try_from(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.set_header(AUTHORIZATION, v);
            }
            Err(_) => {
                self.error = Some(Error::config(
                    "client credentials are not valid in a header",
                ))
            }
        }
        self
    }

    /// Adds or replaces a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => self.set_header(n, v),
            _ => self.error = Some(Error::config(format!("invalid header {name:?}"))),
        }
        self
    }

    fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name, value));
    }

    /// The request.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the URL, a header or the body was invalid.
    pub fn build(self) -> Result<HttpRequest> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut builder = http::Request::post(self.url.as_str());
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder.body(self.body).map_err(|_| {
            Error::config(format!(
                "invalid token URL {}",
                crate::redact_url(self.url.as_str())
            ))
        })
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("url", &crate::redact_url(self.url.as_str()))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Checks that credentials may be sent to `url`: `https`, or `http` to a loopback host
/// (`localhost`, `127.0.0.0/8`, `::1`), or any `http` when `allow_http` is set. The one
/// rule behind [`TokenRequest::check_url`], the builder and
/// [`GrantContext::send`](crate::GrantContext::send).
pub(crate) fn check_token_url(url: &str, allow_http: bool) -> Result<Url> {
    let parsed =
        Url::parse(url).map_err(|e| Error::config(format!("token URL is not a valid URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http || is_loopback(&parsed) => Ok(parsed),
        "http" => Err(Error::config(format!(
            "refusing to send credentials over plain http to {:?}: use https, or allow it \
             explicitly with danger_allow_http(true)",
            parsed.host_str().unwrap_or_default()
        ))),
        other => Err(Error::config(format!(
            "token URL {} has unsupported scheme {other:?}; use https",
            crate::redact_url(url)
        ))),
    }
}

/// Whether `url`'s host is `localhost` or a loopback address (`127.0.0.0/8`, `::1`, or
/// `127.0.0.0/8` written as an IPv4-mapped IPv6 address).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

#[cfg(feature = "default-http-client")]
mod reqwest_client;

#[cfg(feature = "default-http-client")]
pub use reqwest_client::ReqwestHttpClient;

#[cfg(feature = "default-http-client")]
mod tls;

#[cfg(feature = "default-http-client")]
pub use tls::{ClientCertificate, RootCertificates};

/// Header pairs of a response as `(&str, &str)`, skipping values that are not text.
pub(crate) fn header_pairs(response: &HttpResponse) -> Vec<(&str, &str)> {
    response
        .headers()
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn basic_auth_form_encodes_id_and_secret_first() {
        let req = TokenRequest::post("https://a/token")
            .basic_auth("id:with space", &ClientSecret::new("p@ss/wörd+"))
            .form([("grant_type", "client_credentials")])
            .build()
            .unwrap();
        let header = req.headers()[AUTHORIZATION].clone();
        assert!(header.is_sensitive());
        let b64 = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "id%3Awith+space:p%40ss%2Fw%C3%B6rd%2B"
        );
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.headers()[ACCEPT], "application/json");
    }

    #[test]
    fn json_body_and_headers() {
        let req = TokenRequest::post("https://a/token")
            .json(&serde_json::json!({"grant_type":"client_credentials"}))
            .header("X-Extra", "1")
            .build()
            .unwrap();
        assert_eq!(req.body(), br#"{"grant_type":"client_credentials"}"#);
        assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(req.headers()["x-extra"], "1");
        assert!(
            TokenRequest::post("https://a")
                .header("bad name", "x")
                .build()
                .is_err()
        );
        assert!(TokenRequest::post("not a url at all").build().is_err());
    }

    #[test]
    fn token_url_errors_never_show_a_password() {
        let e = check_token_url("ftp://user:pw@a.example/t?client_secret=s", false).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("pw") && !shown.contains("=s"), "{shown}");
        assert!(
            shown.contains("ftp://***@a.example/t?client_secret=***"),
            "{shown}"
        );
        let e = check_token_url("https://u:pw@[bad", false).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[test]
    fn token_url_policy() {
        for ok in [
            "https://auth.example.com/t",
            "http://localhost:8080/t",
            "http://LOCALHOST/t",
            "http://127.0.0.1/t",
            "http://127.8.9.1/t",
            "http://[::1]:99/t",
            "http://[::ffff:127.0.0.1]:99/t",
        ] {
            assert!(check_token_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/t",
            "http://10.0.0.1/t",
            "ftp://example.com/t",
            "nonsense",
        ] {
            let e = check_token_url(bad, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
        }
        let e = check_token_url("http://auth.example.com/t", false).unwrap_err();
        assert!(e.to_string().contains("danger_allow_http"), "{e}");
        assert!(check_token_url("http://example.com/t", true).is_ok());
        assert!(check_token_url("ftp://example.com/t", true).is_err());
    }
}
