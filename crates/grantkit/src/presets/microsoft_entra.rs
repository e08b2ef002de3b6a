//! Microsoft Entra ID (Azure AD): client credentials to a tenant's v2.0 endpoint,
//! `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, as the
//! [Microsoft identity platform documents it](https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
//!
//! The scope is the resource's identifier with `/.default`, which
//! [`resource`](MicrosoftEntra::resource) appends. With a client secret the request is the
//! documented form body (`client_secret_post`):
//! `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`. Renewed 60 s
//! before expiry; sovereign clouds set [`authority_host`](MicrosoftEntra::authority_host).
//!
//! With a **certificate** ([`EntraCredential::Certificate`], feature `grant-jwt-bearer`)
//! the client signs a `private_key_jwt` assertion with the certificate's key, as
//! Microsoft's [certificate credentials](https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials)
//! page documents it: header `{"typ":"JWT","alg":"PS256","x5t#S256":…}`, claims `iss` =
//! `sub` = the client id, `aud` = the token endpoint, `jti`, `iat`, `exp` (+60 s); the body
//! `grant_type=client_credentials&client_id=…&scope=…&client_assertion_type=…&client_assertion=…`.
//!
//! A **federated credential** (workload identity federation, `AZURE_FEDERATED_TOKEN_FILE`)
//! is a token file the platform keeps fresh, read at each renewal and sent as the client
//! assertion with the client id, as documented for the third case of the client
//! credentials page:
//! `grant_type=client_credentials&client_id=…&scope=…&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=…`
//! (feature `grant-jwt-bearer`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use grantkit_core::{ClientSecret, Error, Result, SecretSource, TokenManager, TokenManagerBuilder};
use grantkit_grants::{ClientAuth, ClientCredentials, ClientOptions};

use super::{env_var, origin, required};

/// The public cloud's login host.
pub const AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// How long before expiry the token is renewed.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The variables [`MicrosoftEntra::from_env`] requires, the Azure SDKs' names: tenant,
/// client id.
pub const ENV_VARS: [&str; 2] = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"];
/// The client secret's variable (the Azure SDKs' name).
pub const SECRET_ENV_VAR: &str = "AZURE_CLIENT_SECRET";
/// The certificate's variable (a PEM file with the certificate and its private key).
pub const CERTIFICATE_ENV_VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// The federated token file's variable (workload identity federation).
pub const FEDERATED_TOKEN_FILE_ENV_VAR: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// The algorithm of a certificate credential's assertion, which Microsoft's
/// [certificate credentials](https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials)
/// page asks for together with `x5t#S256`.
pub const SIGNING_ALG: &str = "PS256";
/// The login host's variable (sovereign clouds).
pub const AUTHORITY_HOST_ENV_VAR: &str = "AZURE_AUTHORITY_HOST";

/// How the application proves itself to Entra. Its derived `Debug` shows the secret as
/// `ClientSecret([redacted])`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum EntraCredential {
    /// A client secret, sent in the body (`client_secret_post`); a [`SecretSource`] may
    /// read it from a file at each renewal.
    ClientSecret(SecretSource<ClientSecret>),
    /// A certificate registered with the application and its private key (RSA): a
    /// `private_key_jwt` assertion signed [`SIGNING_ALG`] with the certificate's
    /// `x5t#S256` (feature `grant-jwt-bearer`).
    Certificate {
        /// The PEM certificate.
        certificate_file: PathBuf,
        /// The PEM private key; `None` when it is in the certificate's file (as in the
        /// Azure SDKs' `AZURE_CLIENT_CERTIFICATE_PATH`).
        private_key_file: Option<PathBuf>,
    },
    /// A federated credential: a token read from this file at each renewal (trailing
    /// line endings removed) and sent as the client assertion, with the client id
    /// (feature `grant-jwt-bearer`; without it, [`MicrosoftEntra::builder`] refuses it).
    FederatedTokenFile(PathBuf),
}

/// The Microsoft Entra preset for this tenant and application with a client secret,
/// asking for `resource`'s `/.default` scope; see the [module](self) docs.
///
/// ```
/// # fn run() -> grantkit::Result<()> {
/// let manager = grantkit::presets::microsoft_entra(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     "client-secret",
///     "https://graph.microsoft.com",
/// )?
/// .build()?;
/// assert_eq!(
///     manager.identity().token_url(),
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
/// );
/// # Ok(()) }
/// # run().unwrap();
/// ```
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming an empty field.
pub fn microsoft_entra(
    tenant: impl Into<String>,
    client_id: impl Into<String>,
    client_secret: impl Into<SecretSource<ClientSecret>>,
    resource: impl AsRef<str>,
) -> Result<TokenManagerBuilder> {
    MicrosoftEntra::new(tenant, client_id)
        .client_secret(client_secret)
        .resource(resource)
        .builder()
}

/// The Microsoft Entra preset from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
/// `AZURE_CLIENT_SECRET` (and `AZURE_AUTHORITY_HOST`), asking for `resource`'s
/// `/.default` scope.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming each missing variable.
pub fn microsoft_entra_from_env(resource: impl AsRef<str>) -> Result<TokenManagerBuilder> {
    MicrosoftEntra::from_env()?.resource(resource).builder()
}

/// The Microsoft Entra preset's input: the tenant, the application, its credential, the
/// scope, the login host. The configuration file's `preset = "microsoft-entra"` profiles
/// are turned into this type.
///
/// ```
/// use grantkit::presets::MicrosoftEntra;
///
/// let preset = MicrosoftEntra::new("contoso.onmicrosoft.com", "app-id")
///     .client_secret("s3cret")
///     .resource("api://my-api");
/// assert_eq!(preset.requested_scope(), Some("api://my-api/.default"));
/// let builder = preset.builder()?;
/// # let _ = builder; Ok::<(), grantkit::Error>(())
/// ```
#[derive(Clone)]
pub struct MicrosoftEntra {
    tenant: String,
    client_id: String,
    credential: Option<EntraCredential>,
    scope: Option<String>,
    authority_host: String,
    token_url: Option<String>,
}

impl MicrosoftEntra {
    /// The preset for this tenant (its id, or a domain such as `contoso.onmicrosoft.com`)
    /// and application (client) id; give it a credential and a scope.
    pub fn new(tenant: impl Into<String>, client_id: impl Into<String>) -> Self {
        MicrosoftEntra {
            tenant: tenant.into(),
            client_id: client_id.into(),
            credential: None,
            scope: None,
            authority_host: AUTHORITY_HOST.to_owned(),
            token_url: None,
        }
    }

    /// The application from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and the first of
    /// `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_FEDERATED_TOKEN_FILE`
    /// that is set (the Azure SDKs' order); `AZURE_AUTHORITY_HOST` when set.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming each missing variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As for [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let [tenant, client_id] = required(&lookup, ENV_VARS)?;
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let credential = if let Some(secret) = set(SECRET_ENV_VAR) {
            EntraCredential::ClientSecret(secret.into())
        } else if let Some(path) = set(CERTIFICATE_ENV_VAR) {
            EntraCredential::Certificate {
                certificate_file: path.into(),
                private_key_file: None,
            }
        } else if let Some(path) = set(FEDERATED_TOKEN_FILE_ENV_VAR) {
            EntraCredential::FederatedTokenFile(path.into())
        } else {
            return Err(Error::config(format!(
                "environment variable {SECRET_ENV_VAR} is not set (nor \
                 {CERTIFICATE_ENV_VAR} or {FEDERATED_TOKEN_FILE_ENV_VAR})"
            )));
        };
        let mut preset = Self::new(tenant, client_id).credential(credential);
        if let Some(host) = set(AUTHORITY_HOST_ENV_VAR) {
            preset = preset.authority_host(host);
        }
        Ok(preset)
    }

    /// The credential.
    #[must_use]
    pub fn credential(mut self, credential: EntraCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Authenticate with this client secret (`client_secret_post`).
    #[must_use]
    pub fn client_secret(self, secret: impl Into<SecretSource<ClientSecret>>) -> Self {
        self.credential(EntraCredential::ClientSecret(secret.into()))
    }

    /// The scope `{resource}/.default`: the application permissions granted to this app
    /// on `resource` (`https://graph.microsoft.com`, `api://my-api`). A resource ending
    /// in `/` gets `//.default`, as Microsoft documents for such identifiers.
    #[must_use]
    pub fn resource(self, resource: impl AsRef<str>) -> Self {
        let resource = resource.as_ref().trim();
        let scope = if resource.ends_with("/.default") {
            resource.to_owned()
        } else {
            format!("{resource}/.default")
        };
        self.scope(scope)
    }

    /// The scope as sent, which must end in `/.default` (client credentials ask for the
    /// permissions an administrator granted, not for scopes).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The login host of a sovereign cloud (default [`AUTHORITY_HOST`]).
    #[must_use]
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = host.into();
        self
    }

    /// Another token endpoint (a test server).
    #[must_use]
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The scope sent, if set.
    pub fn requested_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The token endpoint: `{authority_host}/{tenant}/oauth2/v2.0/token`, or the override.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an empty tenant or
    /// authority host.
    pub fn token_endpoint(&self) -> Result<String> {
        if let Some(url) = &self.token_url {
            return Ok(url.clone());
        }
        let host = origin("Microsoft Entra", "authority_host", &self.authority_host)?;
        let tenant = self.tenant.trim();
        if tenant.is_empty() || tenant.contains('/') {
            return Err(Error::config(
                "Microsoft Entra: missing field `tenant` (the directory's id or domain)",
            ));
        }
        Ok(format!("{host}/{tenant}/oauth2/v2.0/token"))
    }

    /// The grant: client credentials with the `/.default` scope and the client secret in
    /// the body.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming a missing field, a
    /// scope without `/.default`, an unreadable certificate or key, or a federated token
    /// file without feature `grant-jwt-bearer`.
    pub fn grant(&self) -> Result<ClientCredentials> {
        let url = self.token_endpoint()?;
        if self.client_id.trim().is_empty() {
            return Err(Error::config("Microsoft Entra: missing field `client_id`"));
        }
        let scope = match self.scope.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(Error::config(
                    "Microsoft Entra: missing field `scope` (`<resource>/.default`)",
                ));
            }
            Some(scope) if !scope.ends_with("/.default") => {
                return Err(Error::config(
                    "Microsoft Entra: field `scope` must be `<resource>/.default` for client credentials",
                ));
            }
            Some(scope) => scope,
        };
        let options = match &self.credential {
            Some(EntraCredential::ClientSecret(secret)) => ClientOptions::new(&self.client_id)
                .client_secret(secret.clone())
                .client_auth(ClientAuth::Body),
            Some(EntraCredential::Certificate {
                certificate_file,
                private_key_file,
            }) => certificate_options(&self.client_id, certificate_file, private_key_file)?,
            #[cfg(feature = "grant-jwt-bearer")]
            Some(EntraCredential::FederatedTokenFile(path)) => ClientOptions::new(&self.client_id)
                .client_assertion(
                    SecretSource::file(path)
                        .context("Microsoft Entra: field `federated_token_file`"),
                ),
            #[cfg(not(feature = "grant-jwt-bearer"))]
            Some(EntraCredential::FederatedTokenFile(_)) => {
                return Err(Error::config(
                    "Microsoft Entra: federated credentials (`federated_token_file`) need \
                     grantkit's `grant-jwt-bearer` feature",
                ));
            }
            None => {
                return Err(Error::config(
                    "Microsoft Entra: missing field `client_secret` (the application's credential)",
                ));
            }
        };
        let grant = ClientCredentials::new(url, options.scope(scope));
        grant.validate()?;
        Ok(grant)
    }

    /// The pre-filled builder: [`grant`](Self::grant), renewed [`REFRESH_BEFORE`] expiry.
    ///
    /// # Errors
    /// As for [`grant`](Self::grant).
    pub fn builder(&self) -> Result<TokenManagerBuilder> {
        Ok(TokenManager::builder()
            .grant(self.grant()?)
            .refresh_before(REFRESH_BEFORE))
    }
}

/// A certificate credential: `private_key_jwt` signed PS256 with the certificate's key
/// (from `private_key_file`, else from the certificate's own file), its `x5t#S256` in the
/// header, and `client_id` in the body, as Microsoft documents the request.
#[cfg(feature = "grant-jwt-bearer")]
fn certificate_options(
    client_id: &str,
    certificate_file: &std::path::Path,
    private_key_file: &Option<PathBuf>,
) -> Result<ClientOptions> {
    use grantkit_grants::{Certificate, JwtSigningKey};
    let context = |field: &str| format!("Microsoft Entra: field `{field}`");
    let certificate = Certificate::from_pem_file(certificate_file)
        .map_err(|e| e.with_context(context("certificate_file")))?;
    let key = match private_key_file {
        Some(path) => JwtSigningKey::from_pem_file(SIGNING_ALG, path)
            .map_err(|e| e.with_context(context("private_key_file")))?,
        None => JwtSigningKey::from_pem_file(SIGNING_ALG, certificate_file).map_err(|e| {
            e.with_context(
                "Microsoft Entra: field `certificate_file` (its private key, when \
                 `private_key_file` is not given)",
            )
        })?,
    };
    Ok(ClientOptions::new(client_id)
        .client_auth(ClientAuth::PrivateKeyJwt)
        .private_key(key)
        .certificate(certificate)
        .client_id_in_body(true))
}

#[cfg(not(feature = "grant-jwt-bearer"))]
fn certificate_options(
    _client_id: &str,
    _certificate_file: &std::path::Path,
    _private_key_file: &Option<PathBuf>,
) -> Result<ClientOptions> {
    Err(Error::config(
        "Microsoft Entra: certificate credentials need grantkit's feature `grant-jwt-bearer`",
    ))
}

/// The profile keys a `preset = "microsoft-entra"` profile reads, besides the common
/// ones.
#[cfg(feature = "config")]
pub(crate) const PROFILE_KEYS: &[&str] = &[
    "tenant",
    "client_id",
    "client_secret",
    "client_secret_file",
    "certificate_file",
    "private_key_file",
    "federated_token_file",
    "scope",
];

/// A `preset = "microsoft-entra"` profile: `tenant`, `client_id`, `scope` and one
/// credential — `client_secret`, `certificate_file` (with `private_key_file`) or
/// `federated_token_file` — make the preset; `token_url` is its option.
#[cfg(feature = "config")]
pub(crate) fn from_profile(
    name: &str,
    profile: &crate::config::Profile,
) -> Result<TokenManagerBuilder> {
    use crate::config::need;

    if profile.private_key_file.is_some() && profile.certificate_file.is_none() {
        return Err(Error::config(format!(
            "profile `{name}`: field `private_key_file` is the certificate's key: it needs `certificate_file`"
        )));
    }
    let p = profile;
    let credential = match (
        p.client_secret_source(name)?,
        &p.certificate_file,
        &p.federated_token_file,
    ) {
        (Some(secret), None, None) => EntraCredential::ClientSecret(secret),
        (None, Some(certificate_file), None) => EntraCredential::Certificate {
            certificate_file: certificate_file.clone(),
            private_key_file: p.private_key_file.clone(),
        },
        (None, None, Some(path)) => EntraCredential::FederatedTokenFile(path.clone()),
        (None, None, None) => return Err(crate::config::missing(name, "client_secret")),
        _ => {
            return Err(Error::config(format!(
                "profile `{name}`: give one of `client_secret`, `certificate_file` and `federated_token_file`"
            )));
        }
    };
    let mut preset = MicrosoftEntra::new(
        need(name, "tenant", &profile.tenant)?,
        need(name, "client_id", &profile.client_id)?,
    )
    .credential(credential)
    .scope(need(name, "scope", &profile.scope)?);
    if let Some(url) = &profile.token_url {
        preset = preset.token_url(url.as_str());
    }
    preset
        .builder()
        .map_err(|e| e.with_context(format!("profile `{name}`")))
}

impl fmt::Debug for MicrosoftEntra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MicrosoftEntra")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .field(
                "authority_host",
                &grantkit_core::redact_url(&self.authority_host),
            )
            .field(
                "token_url",
                &self.token_url.as_deref().map(grantkit_core::redact_url),
            )
            .finish()
    }
}
