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
//! With a DPoP-bound token (feature `dpop`, [`TokenManagerBuilder::dpop`](crate::TokenManagerBuilder::dpop))
//! each request also gets a `DPoP` proof for its method and URL (with `ath` and the API's
//! nonce), the `Authorization` scheme is `DPoP`, and a `401` whose `WWW-Authenticate: DPoP`
//! challenge says `use_dpop_nonce` is sent once more with the nonce, not taken for a
//! rejected token (RFC 9449 §7, §9).
//!
//! A configuration profile's `rejected_statuses` key is for this middleware:
//! `Profile::rejected_statuses_or_default` (feature `config`) gives the profile's list, its
//! preset's, or `[401]`.
//!
//! With the `metrics` feature, each such second sending counts in
//! [`MIDDLEWARE_RETRIES`](crate::metrics::MIDDLEWARE_RETRIES) (labels `grant`, `status`).
//!
//! It leaves alone a request that already carries an `Authorization` header, and requests
//! for other hosts. A request for a configured host over plain HTTP to a host that is not
//! loopback fails with a [`Config`](crate::ErrorKind::Config) error, unsent. When no token
//! can be obtained it fails the request with that error: it never sends a request
//! unauthenticated that it was asked to authenticate. A gRPC trailers-only response with
//! `grpc-status: 16` counts as a rejection too. The rules are the tower layer's
//! (`grantkit::tower`, feature `tower`), from the same code.
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
/// The `reqwest` this middleware is built for, so that versions always match.
pub use reqwest;
use reqwest::{Request, Response};
/// The `reqwest-middleware` this middleware plugs into.
pub use reqwest_middleware;
use reqwest_middleware::{Middleware, Next, Result};
use url::Url;

use crate::auth_rules::{AuthRules, Decision, Verdict, refusal, set_headers};

/// What [`AuthMiddleware`] takes for "token rejected" unless told otherwise.
pub const DEFAULT_REJECTED_STATUSES: [u16; 1] = crate::auth_rules::DEFAULT_REJECTED_STATUSES;

/// Authenticates requests with tokens from a [`TokenManager`]; see the [module](self)
/// docs.
#[derive(Clone)]
pub struct AuthMiddleware {
    manager: TokenManager,
    rules: AuthRules,
}

impl AuthMiddleware {
    /// Authenticates requests to `hosts` (`"api.example.com"`, or `"host:port"` to match one
    /// port only; names compare case-insensitively) with tokens from `manager`. A 401
    /// answer means "token rejected" unless [`rejected_statuses`](Self::rejected_statuses)
    /// says otherwise.
    pub fn new<H: Into<String>>(manager: TokenManager, hosts: impl IntoIterator<Item = H>) -> Self {
        AuthMiddleware {
            manager,
            rules: AuthRules::new(hosts),
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
        self.rules.set_rejected(statuses);
        self
    }

    /// The statuses that mean "token rejected".
    pub fn rejected(&self) -> &[u16] {
        self.rules.rejected()
    }

    /// Whether a request to `url` gets a token: a configured host, over HTTPS or to
    /// loopback.
    pub fn applies_to(&self, url: &Url) -> bool {
        self.rules.applies_to(url)
    }

    fn authorize(&self, request: &mut Request, token: &Token) -> Result<()> {
        let headers = self
            .rules
            .auth_headers(&self.manager, token, request.method(), request.url())
            .map_err(reqwest_middleware::Error::middleware)?;
        set_headers(request.headers_mut(), headers);
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
        match self.rules.decide(request.url(), request.headers()) {
            Decision::PassThrough => return next.run(request, extensions).await,
            Decision::Refuse => {
                return Err(reqwest_middleware::Error::middleware(refusal(
                    request.url(),
                )));
            }
            Decision::Authenticate => {}
        }
        let token = self
            .manager
            .token()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        self.authorize(&mut request, &token)?;
        let retry = request.try_clone();
        let url = request.url().clone();
        let response = next.clone().run(request, extensions).await?;
        let verdict =
            self.rules
                .verdict(&self.manager, &url, response.status(), response.headers());
        match verdict {
            Verdict::Accepted => return Ok(response),
            Verdict::NonceRequired => {
                let Some(mut retry) = retry else {
                    tracing::debug!(
                        "the API wants a DPoP nonce; the request cannot be cloned, so it is not retried"
                    );
                    return Ok(response);
                };
                tracing::debug!("the API wants a DPoP nonce; retrying once with it");
                self.authorize(&mut retry, &token)?;
                drop(response);
                return next.run(retry, extensions).await;
            }
            Verdict::TokenRejected => {}
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
        self.authorize(&mut retry, &fresh)?;
        drop(response);
        next.run(retry, extensions).await
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("hosts", &self.rules.hosts())
            .field("rejected", &self.rules.rejected())
            .field("manager", &self.manager)
            .finish()
    }
}
