//! A [`reqwest-middleware`](reqwest_middleware) layer that authenticates every request.
//!
//! It adds `Authorization: <type> <token>` (marked sensitive) to requests for the hosts it
//! was configured for, over HTTPS (plain HTTP only to loopback). When the API answers a
//! "token rejected" status (401 unless [`AuthMiddleware::rejected_statuses`] says
//! otherwise: 24SevenOffice's API answers 403 to an expired token, see
//! [`presets::twenty_four_seven_office::REJECTED_STATUSES`](crate::presets::twenty_four_seven_office::REJECTED_STATUSES)),
//! it invalidates that token and sends the request once more with a new one — when the
//! request can be cloned (a streaming body cannot).
//!
//! A configuration profile's `rejected_statuses` key is for this middleware:
//! `Profile::rejected_statuses_or_default` (feature `config`) gives the profile's list, its
//! preset's, or `[401]`.
//!
//! With the `metrics` feature, each such second sending counts in
//! [`MIDDLEWARE_RETRIES`](crate::metrics::MIDDLEWARE_RETRIES) (labels `grant`, `status`).
//!
//! It leaves alone a request that already carries an `Authorization` header, and requests
//! for other hosts. When no token can be obtained it fails the request with that error:
//! it never sends a request unauthenticated that it was asked to authenticate.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use grantkit::middleware::{AuthMiddleware, reqwest, reqwest_middleware};
//! use grantkit::presets::twenty_four_seven_office;
//!
//! let manager = twenty_four_seven_office("id", "secret", "123456").build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(
//!         AuthMiddleware::new(manager, ["api.24sevenoffice.com"])
//!             .rejected_statuses(twenty_four_seven_office::REJECTED_STATUSES),
//!     )
//!     .build();
//! let response = client.get("https://api.24sevenoffice.com/v1/customers").send().await?;
//! # let _ = response; Ok(()) }
//! ```

use std::fmt;

use async_trait::async_trait;
use grantkit_core::{Token, TokenManager};
use http::Extensions;
use http::header::AUTHORIZATION;
/// The `reqwest` this middleware is built for, so that versions always match.
pub use reqwest;
use reqwest::{Request, Response};
/// The `reqwest-middleware` this middleware plugs into.
pub use reqwest_middleware;
use reqwest_middleware::{Middleware, Next, Result};
use url::Url;

/// What [`AuthMiddleware`] takes for "token rejected" unless told otherwise.
pub const DEFAULT_REJECTED_STATUSES: [u16; 1] = [401];

/// Authenticates requests with tokens from a [`TokenManager`]; see the [module](self)
/// docs.
#[derive(Clone)]
pub struct AuthMiddleware {
    manager: TokenManager,
    /// Host names (lower case) and, when configured, the one port that matches.
    hosts: Vec<(String, Option<u16>)>,
    rejected: Vec<u16>,
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

impl AuthMiddleware {
    /// Authenticates requests to `hosts` (`"api.example.com"`, or `"host:port"` to match one
    /// port only; names compare case-insensitively) with tokens from `manager`. A 401
    /// answer means "token rejected" unless [`rejected_statuses`](Self::rejected_statuses)
    /// says otherwise.
    pub fn new<H: Into<String>>(manager: TokenManager, hosts: impl IntoIterator<Item = H>) -> Self {
        AuthMiddleware {
            manager,
            hosts: hosts.into_iter().map(|h| split_host(&h.into())).collect(),
            rejected: DEFAULT_REJECTED_STATUSES.to_vec(),
        }
    }

    /// The statuses with which the API says it rejected the token (default
    /// [`DEFAULT_REJECTED_STATUSES`], `[401]`); replaces the list.
    ///
    /// ```
    /// # fn run() -> grantkit::Result<()> {
    /// use grantkit::middleware::AuthMiddleware;
    /// use grantkit::presets::twenty_four_seven_office;
    ///
    /// let manager = twenty_four_seven_office("id", "secret", "1").build()?;
    /// let middleware = AuthMiddleware::new(manager, ["rest.api.24sevenoffice.com"])
    ///     .rejected_statuses(twenty_four_seven_office::REJECTED_STATUSES);
    /// assert_eq!(middleware.rejected(), &[401, 403]);
    /// # Ok(()) }
    /// # run().unwrap();
    /// ```
    #[must_use]
    pub fn rejected_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.rejected = statuses.into_iter().collect();
        self
    }

    /// The statuses that mean "token rejected".
    pub fn rejected(&self) -> &[u16] {
        &self.rejected
    }

    /// Whether a request to `url` gets a token: a configured host, over HTTPS or to
    /// loopback.
    pub fn applies_to(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        // https, or http to loopback: the rule token requests follow.
        let secure = url.scheme() == "https"
            || (url.scheme() == "http"
                && grantkit_core::TokenRequest::check_url(url.as_str(), false).is_ok());
        secure
            && self.hosts.iter().any(|(name, port)| {
                name.eq_ignore_ascii_case(host)
                    && port.is_none_or(|p| Some(p) == url.port_or_known_default())
            })
    }

    fn authorize(request: &mut Request, token: &Token) -> Result<()> {
        let value = token
            .header_value()
            .map_err(reqwest_middleware::Error::middleware)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}

#[async_trait]
impl Middleware for AuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        if request.headers().contains_key(AUTHORIZATION) || !self.applies_to(request.url()) {
            return next.run(request, extensions).await;
        }
        let token = self
            .manager
            .token()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        Self::authorize(&mut request, &token)?;
        let retry = request.try_clone();
        let response = next.clone().run(request, extensions).await?;
        if !self.rejected.contains(&response.status().as_u16()) {
            return Ok(response);
        }
        let Some(mut retry) = retry else {
            tracing::debug!("token rejected; the request cannot be cloned, so it is not retried");
            return Ok(response);
        };
        tracing::info!(
            status = response.status().as_u16(),
            "token rejected by the API; renewing and retrying once"
        );
        #[cfg(feature = "metrics")]
        ::metrics::counter!(
            grantkit_core::metrics::MIDDLEWARE_RETRIES,
            "grant" => self.manager.identity().kind().to_owned(),
            "status" => response.status().as_u16().to_string(),
        )
        .increment(1);
        self.manager.invalidate(&token).await;
        let fresh = self
            .manager
            .token()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        Self::authorize(&mut retry, &fresh)?;
        drop(response);
        next.run(retry, extensions).await
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("hosts", &self.hosts)
            .field("rejected", &self.rejected)
            .field("manager", &self.manager)
            .finish()
    }
}
