//! [`TokenEndpoint`]: a token URL, or an issuer whose metadata names it.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::grant::GrantContext;
use crate::http::check_token_url;
use crate::redact_url;

use super::{Discovery, ServerMetadata};

/// Where a grant sends its token requests: a token URL given outright, or an issuer whose
/// metadata ([`Discovery`]) names the token endpoint.
///
/// Grants take `impl Into<TokenEndpoint>`, so a URL string works as before and a
/// [`Discovery`] (or [`TokenEndpoint::issuer`]) works in its place.
///
/// # Identity
/// [`as_str`](TokenEndpoint::as_str) — the URL, or the **issuer** — is what a grant puts
/// in its [`GrantIdentity`](crate::GrantIdentity) as the token URL: it is known before
/// anything is fetched, and stays the same when a server moves its token endpoint, so
/// stored tokens keep their key. A profile that names the token URL and one that names
/// the issuer of the same server therefore keep separate tokens.
///
/// # Using it in a grant
/// ```
/// use grantkit_core::{Grant, GrantContext, GrantIdentity, Result, Token, TokenEndpoint, TokenRequest};
///
/// #[derive(Debug)]
/// struct MyGrant { endpoint: TokenEndpoint }
///
/// #[grantkit_core::async_trait]
/// impl Grant for MyGrant {
///     async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
///         let resolved = self.endpoint.resolve(cx).await?;
///         if let Some(metadata) = resolved.metadata() {
///             if !metadata.supports_grant_type("client_credentials") {
///                 return Err(grantkit_core::Error::config("no client_credentials here"));
///             }
///         }
///         let request = TokenRequest::post(resolved.url())
///             .form([("grant_type", "client_credentials")])
///             .build()?;
///         let result = cx.exchange(request).await;
///         self.endpoint.observe(&resolved, &result); // re-discover after a 404
///         result
///     }
///
///     fn identity(&self) -> GrantIdentity {
///         GrantIdentity::new("client_credentials", self.endpoint.as_str())
///     }
/// }
/// let grant = MyGrant { endpoint: TokenEndpoint::issuer("https://auth.example.com") };
/// # let _ = grant;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// The token endpoint's URL.
    Url(String),
    /// The issuer whose metadata names the token endpoint.
    Issuer(Discovery),
}

impl TokenEndpoint {
    /// The token endpoint of `issuer`, found through its metadata; the same as
    /// `TokenEndpoint::Issuer(Discovery::new(issuer))`.
    pub fn issuer(issuer: impl Into<String>) -> Self {
        TokenEndpoint::Issuer(Discovery::new(issuer))
    }

    /// The token URL, or the issuer: what identifies this endpoint before anything is
    /// fetched (see [Identity](TokenEndpoint#identity)).
    ///
    /// ```
    /// use grantkit_core::TokenEndpoint;
    /// assert_eq!(TokenEndpoint::from("https://a.example/token").as_str(), "https://a.example/token");
    /// assert_eq!(TokenEndpoint::issuer("https://a.example").as_str(), "https://a.example");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            TokenEndpoint::Url(url) => url,
            TokenEndpoint::Issuer(discovery) => discovery.issuer(),
        }
    }

    /// The discovery handle, for an issuer.
    pub fn discovery(&self) -> Option<&Discovery> {
        match self {
            TokenEndpoint::Url(_) => None,
            TokenEndpoint::Issuer(discovery) => Some(discovery),
        }
    }

    /// Checks the URL or the issuer without sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a URL that is not `http(s)`, or an issuer
    /// [`Discovery::validate`] refuses.
    pub fn validate(&self) -> Result<()> {
        match self {
            TokenEndpoint::Url(url) => check_token_url(url, true).map(drop),
            TokenEndpoint::Issuer(discovery) => discovery.validate(),
        }
    }

    /// The token URL to send to now: the URL itself, or the issuer's `token_endpoint`
    /// (fetching the metadata the first time, see [`Discovery::metadata`]).
    ///
    /// # Errors
    /// As for [`Discovery::metadata`]; [`ErrorKind::InvalidResponse`] when the metadata
    /// has no `token_endpoint`.
    pub async fn resolve(&self, cx: &GrantContext) -> Result<ResolvedEndpoint> {
        match self {
            TokenEndpoint::Url(url) => Ok(ResolvedEndpoint {
                url: url.clone(),
                metadata: None,
            }),
            TokenEndpoint::Issuer(discovery) => {
                let metadata = discovery.metadata(cx).await?;
                let url = metadata
                    .token_endpoint()
                    .ok_or_else(|| {
                        Error::invalid_response(format!(
                            "the authorization server metadata of issuer {} has no \
                             token_endpoint",
                            super::shown_issuer(discovery.issuer())
                        ))
                    })?
                    .to_owned();
                Ok(ResolvedEndpoint {
                    url,
                    metadata: Some(metadata),
                })
            }
        }
    }

    /// Looks at the outcome of a request sent to `resolved`: when the token endpoint could
    /// not be reached ([`ErrorKind::Connect`], [`ErrorKind::Timeout`]) or answered 404,
    /// the metadata it came from is forgotten, so the next attempt discovers it afresh.
    pub fn observe<T>(&self, resolved: &ResolvedEndpoint, result: &Result<T>) {
        let (TokenEndpoint::Issuer(discovery), Some(metadata), Err(e)) =
            (self, &resolved.metadata, result)
        else {
            return;
        };
        if matches!(e.kind(), ErrorKind::Connect | ErrorKind::Timeout) || e.status() == Some(404) {
            discovery.forget(metadata);
        }
    }

    /// Forgets the metadata `resolved` came from, so the next attempt discovers afresh;
    /// for a request that ended without an outcome to [`observe`](Self::observe) — the
    /// manager's attempt timeout drops a grant's future mid-request.
    pub fn forget(&self, resolved: &ResolvedEndpoint) {
        if let (TokenEndpoint::Issuer(discovery), Some(metadata)) = (self, &resolved.metadata) {
            discovery.forget(metadata);
        }
    }
}

impl From<String> for TokenEndpoint {
    fn from(url: String) -> Self {
        TokenEndpoint::Url(url)
    }
}

impl From<&str> for TokenEndpoint {
    fn from(url: &str) -> Self {
        TokenEndpoint::Url(url.to_owned())
    }
}

impl From<&String> for TokenEndpoint {
    fn from(url: &String) -> Self {
        TokenEndpoint::Url(url.clone())
    }
}

impl From<Discovery> for TokenEndpoint {
    fn from(discovery: Discovery) -> Self {
        TokenEndpoint::Issuer(discovery)
    }
}

impl From<&TokenEndpoint> for TokenEndpoint {
    fn from(endpoint: &TokenEndpoint) -> Self {
        endpoint.clone()
    }
}

impl AsRef<str> for TokenEndpoint {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As the plain URL string grants showed before issuers existed.
            TokenEndpoint::Url(url) => fmt::Debug::fmt(&redact_url(url), f),
            TokenEndpoint::Issuer(d) => f.debug_tuple("Issuer").field(d).finish(),
        }
    }
}

/// A [`TokenEndpoint`] resolved for one attempt: the URL, and the metadata it came from.
#[derive(Debug, Clone)]
pub struct ResolvedEndpoint {
    url: String,
    metadata: Option<Arc<ServerMetadata>>,
}

impl ResolvedEndpoint {
    /// The token URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The issuer's metadata, when the endpoint was discovered.
    pub fn metadata(&self) -> Option<&ServerMetadata> {
        self.metadata.as_deref()
    }
}
