//! The HTTP exchange: the [`HttpClient`] trait for a client of your own, and the default
//! client (reqwest with rustls, the `rustls` feature).
//!
//! # reqwest's version
//! grantkit-core names no reqwest type, so a reqwest upgrade does not change its API. The
//! functions here that take a `reqwest::Client` or `reqwest::ClientBuilder`
//! ([`from_reqwest_client`], [`from_reqwest_builder`], [`ReqwestClientExt`]) are the one
//! place where grantkit's API follows reqwest's major version.

#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use grantkit_core::{ClientCertificate, ReqwestHttpClient, RootCertificates};
pub use grantkit_core::{DEFAULT_MAX_RESPONSE_BYTES, HttpClient, HttpRequest, HttpResponse};
/// The `http` crate, whose `Request` and `Response` are [`HttpRequest`] and
/// [`HttpResponse`], for custom [`HttpClient`]s.
pub use http;

#[cfg(feature = "rustls")]
use grantkit_core::{Result, TokenManagerBuilder};

/// The default client, with your `reqwest::Client` (certificates, proxies, timeouts)
/// serving the `https` requests to non-loopback hosts; loopback and plain `http` requests
/// keep grantkit's own direct client (see [`ReqwestHttpClient`]'s "Proxies").
///
/// # Security
/// Build it with `redirect(reqwest::redirect::Policy::none())`, or use
/// [`from_reqwest_builder`]: a token request carries credentials, and a client that follows
/// a redirect sends them to the new location before grantkit sees the answer. grantkit
/// refuses the answer of a redirected exchange (no token from an unexpected server is ever
/// used), but it cannot unsend the request.
///
/// ```
/// let http = grantkit::transport::from_reqwest_client(reqwest::Client::new());
/// # let _ = http;
/// ```
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub fn from_reqwest_client(client: reqwest::Client) -> ReqwestHttpClient {
    ReqwestHttpClient::with_client(client)
}

/// The default client, with a client built from your `reqwest::ClientBuilder` serving the
/// `https` requests to non-loopback hosts; redirects are turned off whatever the builder
/// said. Prefer this to [`from_reqwest_client`].
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) if the client cannot be built.
///
/// ```
/// let http = grantkit::transport::from_reqwest_builder(
///     reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)),
/// )?;
/// # let _ = http;
/// # Ok::<(), grantkit::Error>(())
/// ```
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub fn from_reqwest_builder(builder: reqwest::ClientBuilder) -> Result<ReqwestHttpClient> {
    ReqwestHttpClient::from_builder(builder)
}

#[cfg(feature = "rustls")]
mod sealed {
    pub trait Sealed {}
    impl Sealed for grantkit_core::TokenManagerBuilder {}
}

/// Hands a reqwest client of your own to a [`TokenManagerBuilder`].
///
/// ```no_run
/// use grantkit::transport::ReqwestClientExt as _;
/// use grantkit::{ClientCredentials, TokenManager};
///
/// let manager = TokenManager::builder()
///     .grant(ClientCredentials::form("https://auth.example.com/token", "id", "secret"))
///     .reqwest_client_builder(reqwest::Client::builder().https_only(true))
///     .build()?;
/// # Ok::<(), grantkit::Error>(())
/// ```
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub trait ReqwestClientExt: sealed::Sealed + Sized {
    /// Uses your `reqwest::Client`; see [`from_reqwest_client`].
    fn reqwest_client(self, client: reqwest::Client) -> Self;

    /// Builds the client from your `reqwest::ClientBuilder`; see [`from_reqwest_builder`].
    /// A failure to build is reported by
    /// [`build`](grantkit_core::TokenManagerBuilder::build).
    fn reqwest_client_builder(self, builder: reqwest::ClientBuilder) -> Self;
}

#[cfg(feature = "rustls")]
impl ReqwestClientExt for TokenManagerBuilder {
    fn reqwest_client(self, client: reqwest::Client) -> Self {
        self.http_client(from_reqwest_client(client))
    }

    fn reqwest_client_builder(self, builder: reqwest::ClientBuilder) -> Self {
        self.try_http_client(from_reqwest_builder(builder))
    }
}
