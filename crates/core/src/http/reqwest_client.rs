//! The default [`HttpClient`](super::HttpClient): `reqwest` with rustls, a direct client
//! for loopback and plain `http`, and a proxied one for the rest.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use super::tls::{ClientCertificate, RootCertificates};
use super::{DEFAULT_MAX_RESPONSE_BYTES, HttpClient, HttpRequest, HttpResponse, is_loopback};
use crate::error::{Error, ErrorKind, Result};

/// The default [`HttpClient`]: `reqwest` with rustls.
///
/// Built by [`ReqwestHttpClient::new`] it has a 10 s connect timeout, a 30 s total timeout,
/// no redirects, a `grantkit/<version>` User-Agent, and reads at most
/// [`DEFAULT_MAX_RESPONSE_BYTES`] of a response.
///
/// # Proxies
/// Credentials never reach a proxy unencrypted, nor a proxy's idea of "localhost":
/// - requests to a loopback host (`localhost`, `127.0.0.0/8`, `::1`) and every plain
///   `http://` request go **directly**, whatever `HTTP_PROXY`, `ALL_PROXY` or a configured
///   proxy say;
/// - `https://` requests to other hosts go through the proxy the environment names
///   (`HTTPS_PROXY`, `ALL_PROXY`, minus `NO_PROXY`), or the one given to
///   [`with_proxy`](Self::with_proxy), as a `CONNECT` tunnel: the proxy sees the host name,
///   never the request.
///
/// With a `reqwest` client of your own (`grantkit::transport::from_reqwest_client`), yours
/// serves the `https://` requests to other hosts, and grantkit's own direct client the rest.
///
/// # reqwest's version
/// No reqwest type appears in grantkit-core's API: a reqwest upgrade does not change it.
/// The constructors that take a `reqwest::Client` or `reqwest::ClientBuilder` live in the
/// `grantkit` facade (`grantkit::transport`), whose API follows reqwest's major version
/// there and only there.
///
/// # Start-up cost
/// The underlying clients (TLS roots, connection pools) are built on the first request
/// that needs them, not before: a program that finds its token in a store never builds
/// one. A failure to build one is returned by that request.
#[derive(Clone)]
pub struct ReqwestHttpClient {
    clients: Arc<Clients>,
    max_response_bytes: usize,
}

/// The two clients of a [`ReqwestHttpClient`], each built on first use.
struct Clients {
    setup: Setup,
    /// `https` to hosts other than loopback: may go through a proxy.
    remote: std::sync::OnceLock<Result<reqwest::Client>>,
    /// Loopback hosts and plain `http`: never through a proxy.
    direct: std::sync::OnceLock<Result<reqwest::Client>>,
}

#[derive(Clone)]
enum Setup {
    /// grantkit's settings.
    Default(Defaults),
    /// The caller's client for remote `https`; grantkit's settings for the direct one.
    Given(reqwest::Client, Defaults),
}

/// The settings of the clients grantkit builds.
#[derive(Clone)]
struct Defaults {
    timeout: std::time::Duration,
    /// `None`: the environment's proxy variables.
    proxy: Option<Box<reqwest::Proxy>>,
    /// Presented to the token endpoint in the TLS handshake (mutual TLS).
    identity: Option<ClientCertificate>,
    /// Trusted instead of the platform's roots.
    roots: Option<RootCertificates>,
}

impl Defaults {
    fn new(proxy: Option<Box<reqwest::Proxy>>) -> Self {
        Defaults {
            timeout: DEFAULT_TIMEOUT,
            proxy,
            identity: None,
            roots: None,
        }
    }
}

/// The timeout of one whole exchange in a default [`ReqwestHttpClient`].
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest a default [`ReqwestHttpClient`] waits for a connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl ReqwestHttpClient {
    /// The default client; proxies from the environment for `https` to non-loopback
    /// hosts only (see [Proxies](#proxies)).
    ///
    /// # Errors
    /// None today; a failure to initialise TLS is returned by the first request.
    pub fn new() -> Result<Self> {
        Ok(Self::from_setup(Setup::Default(Defaults::new(None))))
    }

    /// The default client, sending `https` requests to non-loopback hosts through `proxy`
    /// (`http://host:port`, `https://…`, `socks5://…` if reqwest supports it) instead of
    /// the environment's proxy. Loopback and plain `http` requests never use it.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `proxy` is not a valid proxy
    /// URL; the message shows it with any password redacted.
    ///
    /// ```
    /// use grantkit_core::ReqwestHttpClient;
    /// assert!(ReqwestHttpClient::with_proxy("http://proxy.internal:3128").is_ok());
    /// let e = ReqwestHttpClient::with_proxy("not a url").unwrap_err();
    /// assert!(e.to_string().contains("proxy"));
    /// ```
    pub fn with_proxy(proxy: &str) -> Result<Self> {
        let invalid = || {
            Error::config(format!(
                "proxy {:?} is not a valid proxy URL",
                crate::redact::redact_url(proxy)
            ))
        };
        if Url::parse(proxy).is_err() {
            return Err(invalid());
        }
        let proxy = reqwest::Proxy::all(proxy).map_err(|_| invalid())?;
        Ok(Self::from_setup(Setup::Default(Defaults::new(Some(
            Box::new(proxy),
        )))))
    }

    /// The same client with another timeout for one whole exchange (default 30 s); the
    /// connect timeout is 10 s or this, whichever is shorter. Has no effect on a client
    /// of your own.
    pub fn timeout(self, timeout: std::time::Duration) -> Self {
        self.with_defaults(|d| d.timeout = timeout)
    }

    /// The same client, presenting `certificate` to the token endpoint in the TLS
    /// handshake: mutual TLS, for `tls_client_auth` and `self_signed_tls_client_auth`
    /// (RFC 8705 §2). Through a proxy, the certificate is presented inside the `CONNECT`
    /// tunnel, to the token endpoint only; plain `http` requests cannot carry one.
    ///
    /// With a `reqwest` client of your own, configure its `identity` instead: this applies
    /// only to grantkit's direct client (loopback and plain `http`).
    ///
    /// ```
    /// use grantkit_core::{ClientCertificate, ReqwestHttpClient};
    ///
    /// # let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
    /// let cert = ClientCertificate::from_pem_files(
    ///     format!("{keys}/test-only-mtls-client.pem"),
    ///     format!("{keys}/test-only-mtls-client-key.pem"),
    /// )?;
    /// let http = ReqwestHttpClient::new()?.client_certificate(cert);
    /// # let _ = http;
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn client_certificate(self, certificate: ClientCertificate) -> Self {
        self.with_defaults(|d| d.identity = Some(certificate))
    }

    /// The same client, trusting only `roots` for the token endpoint's certificate instead
    /// of the platform's certificate authorities (an internal CA). As with
    /// [`client_certificate`](Self::client_certificate), a client of your own keeps its
    /// own trust.
    ///
    /// ```
    /// use grantkit_core::{ReqwestHttpClient, RootCertificates};
    ///
    /// # let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
    /// let roots = RootCertificates::from_pem_file(format!("{keys}/test-only-mtls-ca.pem"))?;
    /// let http = ReqwestHttpClient::new()?.root_certificates(roots);
    /// # let _ = http;
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn root_certificates(self, roots: RootCertificates) -> Self {
        self.with_defaults(|d| d.roots = Some(roots))
    }

    /// A new client (its `reqwest` clients not built yet) with changed settings.
    fn with_defaults(self, change: impl FnOnce(&mut Defaults)) -> Self {
        let mut setup = self.clients.setup.clone();
        match &mut setup {
            Setup::Default(d) | Setup::Given(_, d) => change(d),
        }
        ReqwestHttpClient {
            clients: Arc::new(Clients::new(setup)),
            max_response_bytes: self.max_response_bytes,
        }
    }

    /// Not part of grantkit-core's API (it names a reqwest type, and the core's API names
    /// none): use `grantkit::transport::from_reqwest_builder`.
    #[doc(hidden)]
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self> {
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config("could not build the HTTP client").with_source(e))?;
        Ok(Self::with_client(client))
    }

    /// Not part of grantkit-core's API (it names a reqwest type, and the core's API names
    /// none): use `grantkit::transport::from_reqwest_client`.
    #[doc(hidden)]
    pub fn with_client(client: reqwest::Client) -> Self {
        Self::from_setup(Setup::Given(client, Defaults::new(None)))
    }

    fn from_setup(setup: Setup) -> Self {
        ReqwestHttpClient {
            clients: Arc::new(Clients::new(setup)),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The largest response body read, in bytes; a larger one is an error.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Whether a request to `url` may go through a proxy: only `https` to a host that is
    /// not loopback.
    fn may_use_proxy(url: &Url) -> bool {
        url.scheme() == "https" && !is_loopback(url)
    }

    fn map_error(e: reqwest::Error) -> Error {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Connect
        };
        let message = if e.is_timeout() {
            "the token endpoint did not answer in time"
        } else if e.is_connect() {
            "could not connect to the token endpoint"
        } else {
            "the exchange with the token endpoint failed"
        };
        Error::new(kind, message).with_source(e.without_url())
    }
}

impl Clients {
    fn new(setup: Setup) -> Self {
        Clients {
            setup,
            remote: std::sync::OnceLock::new(),
            direct: std::sync::OnceLock::new(),
        }
    }

    /// The client for `url`, built on first use.
    fn for_url(&self, url: &Url) -> Result<&reqwest::Client> {
        let remote = ReqwestHttpClient::may_use_proxy(url);
        let slot = if remote { &self.remote } else { &self.direct };
        slot.get_or_init(|| self.build(remote))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(&self, remote: bool) -> Result<reqwest::Client> {
        let defaults = match &self.setup {
            Setup::Given(client, _) if remote => return Ok(client.clone()),
            Setup::Given(_, defaults) | Setup::Default(defaults) => defaults,
        };
        let timeout = defaults.timeout;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("grantkit/", env!("CARGO_PKG_VERSION")));
        if let Some(certificate) = &defaults.identity {
            builder = builder.identity(certificate.identity()?);
        }
        if let Some(roots) = &defaults.roots {
            builder = builder.tls_certs_only(roots.reqwest_certificates()?);
        }
        let builder = match &defaults.proxy {
            Some(proxy) if remote => builder.proxy(reqwest::Proxy::clone(proxy)),
            // The environment's proxies (reqwest's default).
            None if remote => builder,
            _ => builder.no_proxy(),
        };
        builder
            .build()
            .map_err(|e| Error::config("could not build the HTTP client").with_source(e))
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| Error::config("invalid token request").with_source(e.without_url()))?;
        let sent_to = request.url().clone();
        let mut response = self
            .clients
            .for_url(&sent_to)?
            .execute(request)
            .await
            .map_err(Self::map_error)?;
        if response.url() != &sent_to {
            return Err(Error::config(
                "the HTTP client followed a redirect from the token endpoint; build it with \
                 redirect(Policy::none()) (see grantkit::transport::from_reqwest_builder)",
            )
            .with_status(response.status().as_u16()));
        }
        let too_large = || {
            Error::invalid_response(format!(
                "the token endpoint's response exceeds {} bytes",
                self.max_response_bytes
            ))
        };
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_large().with_status(status.as_u16()));
        }
        let mut builder = http::Response::builder().status(status);
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Self::map_error)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large().with_status(status.as_u16()));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| Error::invalid_response("malformed response").with_source(e))
    }
}

impl fmt::Debug for ReqwestHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = match &self.clients.setup {
            Setup::Default(d) | Setup::Given(_, d) => d,
        };
        f.debug_struct("ReqwestHttpClient")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("client_certificate", &defaults.identity)
            .field("root_certificates", &defaults.roots)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_to_remote_hosts_may_use_a_proxy() {
        let decide = |u: &str| ReqwestHttpClient::may_use_proxy(&Url::parse(u).unwrap());
        assert!(decide("https://auth.example.com/token"));
        assert!(decide("https://10.0.0.1/token"));
        for direct in [
            "http://auth.example.com/token",
            "http://127.0.0.1:8080/token",
            "https://127.0.0.1:8443/token",
            "https://localhost/token",
            "http://LOCALHOST:1/token",
            "https://[::1]/token",
            "http://[::ffff:127.0.0.2]/token",
        ] {
            assert!(!decide(direct), "{direct}");
        }
    }
}
