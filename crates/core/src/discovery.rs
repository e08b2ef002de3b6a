//! Authorization server discovery (RFC 8414, OpenID Connect Discovery 1.0): an issuer in
//! place of a token URL.
//!
//! [`Discovery`] fetches and caches an issuer's [`ServerMetadata`]; [`TokenEndpoint`] is
//! what grants hold, either a token URL or an issuer whose metadata names the token
//! endpoint.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use http::header::{ACCEPT, CONTENT_TYPE};
use url::Url;

use crate::error::{Error, Result};
use crate::grant::GrantContext;
use crate::http::HttpResponse;
use crate::redact_url;

mod endpoint;
mod metadata;

pub use endpoint::{ResolvedEndpoint, TokenEndpoint};
pub use metadata::{MAX_METADATA_BYTES, ServerMetadata};

/// The OpenID Connect discovery suffix (OpenID Connect Discovery 1.0 §4).
const OIDC_SUFFIX: &str = "/.well-known/openid-configuration";
/// The RFC 8414 suffix (§3, §7.3).
const OAUTH_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// An issuer and its metadata, fetched on first use and cached: the handle grants share.
///
/// Cheap to clone; clones share the cache. The metadata is fetched by the first
/// [`metadata`](Discovery::metadata) call — through the [`GrantContext`]'s HTTP client, so
/// with the manager's TLS settings, timeouts and URL rule — and kept until
/// [`forget`](Discovery::forget) drops it. Concurrent callers wait for one fetch (single
/// flight); a failed fetch is not cached.
///
/// # Where the metadata is looked for
/// As Spring Security's `ClientRegistrations.fromIssuerLocation` does, the first answer
/// that is not a 4xx wins:
///
/// 1. `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4);
/// 2. for an issuer with a path, `{origin}/.well-known/openid-configuration{path}` (the
///    RFC 8414 §5 form of the OpenID suffix);
/// 3. `{origin}/.well-known/oauth-authorization-server{path}` (RFC 8414 §3.1: the suffix
///    goes between the host and the path, after a trailing `/` is removed).
///
/// A 4xx answer moves on to the next URL; anything else (a 5xx, a network error, a
/// document that fails a check) is the answer. [`with_metadata_url`](Discovery::with_metadata_url)
/// names the one URL to use instead.
///
/// # Checks
/// The request is `GET` with `Accept: application/json` and no credentials, sent only to
/// a URL a token request could go to (`https`, or `http` to a loopback host, or any `http`
/// when the manager allows it); redirects are not followed. The document must be a JSON
/// object of at most [`MAX_METADATA_BYTES`], its `issuer` identical to the configured one
/// (RFC 8414 §3.3), and every endpoint in it must pass the same URL rule. Each failure is a
/// typed [`Error`] naming the metadata URL (credentials redacted).
///
/// ```no_run
/// # async fn run(cx: grantkit_core::GrantContext) -> grantkit_core::Result<()> {
/// use grantkit_core::Discovery;
///
/// let discovery = Discovery::new("https://auth.example.com/realms/acme");
/// assert_eq!(
///     discovery.metadata_urls()?,
///     [
///         "https://auth.example.com/realms/acme/.well-known/openid-configuration",
///         "https://auth.example.com/.well-known/openid-configuration/realms/acme",
///         "https://auth.example.com/.well-known/oauth-authorization-server/realms/acme",
///     ]
/// );
/// let metadata = discovery.metadata(&cx).await?;
/// println!("token endpoint: {:?}", metadata.token_endpoint());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Discovery {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    metadata_url: Option<String>,
    cached: Mutex<Option<Arc<ServerMetadata>>>,
    /// Held while fetching, so that one fetch serves every waiting caller.
    gate: tokio::sync::Mutex<()>,
}

impl Discovery {
    /// Discovery of `issuer`, the authorization server's issuer identifier (an `https`
    /// URL without query or fragment, RFC 8414 §2), written exactly as the server writes
    /// it in its metadata.
    pub fn new(issuer: impl Into<String>) -> Self {
        Discovery {
            inner: Arc::new(Inner {
                issuer: issuer.into(),
                metadata_url: None,
                cached: Mutex::new(None),
                gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Discovery of `issuer` from the metadata document at `url` only, for servers that
    /// publish it elsewhere (authlib's `server_metadata_url`). The `issuer` check still
    /// applies.
    ///
    /// ```
    /// use grantkit_core::Discovery;
    ///
    /// let d = Discovery::new("https://auth.example.com")
    ///     .with_metadata_url("https://auth.example.com/meta.json");
    /// assert_eq!(d.metadata_urls().unwrap(), ["https://auth.example.com/meta.json"]);
    /// ```
    #[must_use]
    pub fn with_metadata_url(self, url: impl Into<String>) -> Self {
        Discovery {
            inner: Arc::new(Inner {
                issuer: self.inner.issuer.clone(),
                metadata_url: Some(url.into()),
                cached: Mutex::new(None),
                gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The configured issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Checks the issuer without sending anything: an `http(s)` URL with a host, without
    /// credentials, query or fragment (RFC 8414 §2). Whether plain `http` is acceptable is
    /// decided when the metadata is fetched.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming what is wrong.
    ///
    /// ```
    /// use grantkit_core::Discovery;
    /// assert!(Discovery::new("https://auth.example.com").validate().is_ok());
    /// assert!(Discovery::new("https://auth.example.com?tenant=1").validate().is_err());
    /// assert!(Discovery::new("auth.example.com").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.parsed_issuer().map(drop)
    }

    fn parsed_issuer(&self) -> Result<Url> {
        let issuer = &self.inner.issuer;
        let shown = redact_url(issuer);
        let url = Url::parse(issuer)
            .map_err(|e| Error::config(format!("issuer {shown} is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(Error::config(format!(
                "issuer {shown} must be an https URL with a host"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(format!(
                "issuer {shown} must not have a query or fragment (RFC 8414 §2)"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(format!(
                "issuer {shown} must not contain credentials"
            )));
        }
        Ok(url)
    }

    /// The URLs the metadata is looked for at, in order (see [the type's
    /// docs](Discovery#where-the-metadata-is-looked-for)).
    ///
    /// # Errors
    /// As for [`validate`](Discovery::validate).
    pub fn metadata_urls(&self) -> Result<Vec<String>> {
        let issuer = self.parsed_issuer()?;
        if let Some(url) = &self.inner.metadata_url {
            return Ok(vec![url.clone()]);
        }
        let origin = issuer.origin().ascii_serialization();
        let path = issuer.path().trim_end_matches('/');
        let mut urls = vec![format!("{origin}{path}{OIDC_SUFFIX}")];
        if !path.is_empty() {
            urls.push(format!("{origin}{OIDC_SUFFIX}{path}"));
        }
        urls.push(format!("{origin}{OAUTH_SUFFIX}{path}"));
        Ok(urls)
    }

    /// The metadata, from the cache or fetched now (once, whoever else is waiting).
    ///
    /// # Errors
    /// The first failure among the [URLs](Discovery::metadata_urls): the HTTP client's
    /// error (retryable), an error status, or a document that fails a check; or, when
    /// every URL answered 4xx, a [`Config`](crate::ErrorKind::Config) error listing them.
    pub async fn metadata(&self, cx: &GrantContext) -> Result<Arc<ServerMetadata>> {
        if let Some(cached) = self.cached() {
            return Ok(cached);
        }
        let _fetching = self.inner.gate.lock().await;
        if let Some(cached) = self.cached() {
            return Ok(cached);
        }
        let metadata = Arc::new(self.fetch(cx).await?);
        *self.slot() = Some(Arc::clone(&metadata));
        Ok(metadata)
    }

    /// The cached metadata, if any; never fetches.
    pub fn cached(&self) -> Option<Arc<ServerMetadata>> {
        self.slot().clone()
    }

    /// Drops `stale` from the cache, so the next [`metadata`](Discovery::metadata) call
    /// fetches it again — unless the cache already holds a newer document. Grants call it
    /// when the token endpoint could not be reached or answered 404.
    pub fn forget(&self, stale: &Arc<ServerMetadata>) {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
            tracing::debug!(
                issuer = %redact_url(&self.inner.issuer),
                "forgetting the authorization server metadata"
            );
            *slot = None;
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<ServerMetadata>>> {
        // The slot only ever holds a complete value: a poisoned lock is still consistent.
        self.inner
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch(&self, cx: &GrantContext) -> Result<ServerMetadata> {
        let urls = self.metadata_urls()?;
        let mut refused = Vec::new();
        for url in &urls {
            let shown = redact_url(url);
            let context = format!("authorization server metadata at {shown}");
            tracing::debug!(url = %shown, "fetching authorization server metadata");
            let request = http::Request::get(url.as_str())
                .header(ACCEPT, "application/json")
                .body(Vec::new())
                .map_err(|_| Error::config(format!("invalid metadata URL {shown}")))?;
            let response = cx
                .send(request)
                .await
                .map_err(|e| e.with_context(&context))?;
            let status = response.status().as_u16();
            if (400..500).contains(&status) {
                refused.push(format!("{shown} (HTTP {status})"));
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(error_status(&response)
                    .with_message(format!("{context} answered HTTP {status}")));
            }
            return parse(&response, &self.inner.issuer, cx.allows_http())
                .map_err(|e| e.with_context(&context));
        }
        Err(Error::config(format!(
            "no authorization server metadata for issuer {}: {}; check the issuer",
            shown_issuer(&self.inner.issuer),
            refused.join(", ")
        )))
    }
}

/// An issuer for an error message, quoted and verbatim (a trailing `/` is often what
/// differs), unless it holds what looks like a credential (then redacted); control
/// characters dropped, cut at 200 characters.
pub(crate) fn shown_issuer(issuer: &str) -> String {
    if issuer.contains(['@', '?', '#']) {
        return format!("{:?}", redact_url(issuer));
    }
    let kept: String = issuer
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    format!("{kept:?}")
}

fn error_status(response: &HttpResponse) -> Error {
    let headers: Vec<(&str, &str)> = response
        .headers()
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect();
    Error::from_response(response.status().as_u16(), &headers, response.body())
}

fn parse(response: &HttpResponse, issuer: &str, allow_http: bool) -> Result<ServerMetadata> {
    let body = response.body();
    if body.len() <= MAX_METADATA_BYTES
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
    {
        let content_type: String = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        return Err(Error::invalid_response(format!(
            "the metadata document is not JSON (Content-Type: {content_type})"
        )));
    }
    ServerMetadata::from_json(body, issuer, allow_http)
}

/// `Discovery::new(issuer)`, so that constructors taking `impl Into<Discovery>` accept an
/// issuer string as well as a handle whose cache they then share.
impl From<&str> for Discovery {
    fn from(issuer: &str) -> Self {
        Discovery::new(issuer)
    }
}

/// `Discovery::new(issuer)`.
impl From<String> for Discovery {
    fn from(issuer: String) -> Self {
        Discovery::new(issuer)
    }
}

/// `Discovery::new(issuer)`.
impl From<&String> for Discovery {
    fn from(issuer: &String) -> Self {
        Discovery::new(issuer.as_str())
    }
}

/// A clone of the handle: the cache is shared.
impl From<&Discovery> for Discovery {
    fn from(discovery: &Discovery) -> Self {
        discovery.clone()
    }
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("issuer", &redact_url(&self.inner.issuer))
            .field(
                "metadata_url",
                &self.inner.metadata_url.as_deref().map(redact_url),
            )
            .field("cached", &self.cached().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests;
