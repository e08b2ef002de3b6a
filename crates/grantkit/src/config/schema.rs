//! The schema of the configuration file: [`Config`], its [`Profile`]s and their tables.
//!
//! Secrets are held in the core's secret types ([`ClientSecret`], [`Password`],
//! [`SigningKey`]) and URLs, which may carry credentials, in [`ConfigUrl`]: every `Debug`
//! here is derived and still redacts them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;

use grantkit_core::{AccessToken, ClientSecret, Password, SigningKey, redact_url};
use grantkit_grants::{BodyFormat, ClientAuth};
use serde::Deserialize;

use super::PresetName;
use super::text::{lenient, lenient_list, lenient_map, lenient_string};

/// A URL from the configuration (a token endpoint, a proxy, a Redis server). It may carry
/// credentials, so its `Debug` shows it through [`redact_url`]; [`as_str`](Self::as_str)
/// (or `Deref`) gives the URL itself.
///
/// ```
/// use grantkit::config::ConfigUrl;
///
/// let url = ConfigUrl::from("https://user:pw@auth.example.com/token".to_owned());
/// assert_eq!(url.as_str(), "https://user:pw@auth.example.com/token");
/// assert_eq!(format!("{url:?}"), "\"https://***@auth.example.com/token\"");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigUrl(String);

impl ConfigUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ConfigUrl {
    fn from(url: String) -> Self {
        ConfigUrl(url)
    }
}

impl Deref for ConfigUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConfigUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(&self.0), f)
    }
}

/// A parsed configuration file: named profiles and a default.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when none is named.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// The profiles, by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The grant of a spelled-out profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantKind {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 7523 §2.1, HS256.
    JwtBearer,
    /// RFC 8628: a user's login with `grantkit login` (or
    /// [`Profile::device_grant`]), renewed through the refresh token.
    DeviceCode,
    /// A user's login in a browser: the authorization code grant with PKCE (RFC 6749
    /// §4.1, RFC 7636, RFC 8252), started by `grantkit login -p NAME --browser`; the token
    /// is then renewed through its refresh token.
    AuthorizationCode,
    /// RFC 8693: `subject_token_file` (or `subject_token`) and `subject_token_type`, with
    /// `actor_token_file`, `actor_token_type`, `requested_token_type`, `audience`,
    /// `resource`.
    TokenExchange,
}

impl GrantKind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::Password => "password",
            GrantKind::JwtBearer => "jwt_bearer",
            GrantKind::DeviceCode => "device_code",
            GrantKind::AuthorizationCode => "authorization_code",
            GrantKind::TokenExchange => "token_exchange",
        }
    }
}

/// Where a profile's tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreKind {
    /// This process only.
    #[default]
    Memory,
    /// One file per token under a directory.
    File,
    /// A Redis server shared by a fleet.
    Redis,
}

/// The `store` table of a profile.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `memory` (default), `file` or `redis`.
    #[serde(default)]
    pub kind: StoreKind,
    /// The directory of a file store (default: the user's cache directory).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The URL of a Redis store.
    #[serde(default, deserialize_with = "lenient")]
    pub url: Option<ConfigUrl>,
    /// The key prefix of a Redis store (default `grantkit:`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub prefix: Option<String>,
    /// A base64 32-byte key to encrypt tokens at rest (file and Redis); key material, held
    /// as a [`SigningKey`] so that it is never shown.
    #[serde(default, deserialize_with = "lenient")]
    pub encryption_key: Option<SigningKey>,
    /// The file holding `encryption_key` (base64, trailing line endings removed), read
    /// when the profile is built.
    #[serde(default)]
    pub encryption_key_file: Option<PathBuf>,
    /// Redis over TLS (`rediss://`, `rediss+sentinel://`): the PEM CA certificates that
    /// verify the server, instead of the platform's trust store. Read when the profile is
    /// built.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Redis over TLS: the PEM client certificate for servers that require one
    /// (`tls-auth-clients yes`); its key is `store.private_key_file`.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// Redis over TLS: the unencrypted PEM private key of `store.certificate_file`.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The Redis ACL user, instead of `user@` in the URL.
    #[serde(default, deserialize_with = "lenient_string")]
    pub username: Option<String>,
    /// The Redis password (of `username`, or of the `default` user), instead of the URL's;
    /// best from `GRANTKIT_PROFILES__<PROFILE>__STORE__PASSWORD` or `store.password_file`.
    #[serde(default, deserialize_with = "lenient")]
    pub password: Option<Password>,
    /// The file holding the Redis password (trailing line endings removed), read when the
    /// profile is built.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// The `jwt` table of a `jwt_bearer` profile.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The `kid` header.
    #[serde(default, deserialize_with = "lenient_string")]
    pub key_id: Option<String>,
    /// The `iss` claim (the service account).
    #[serde(default, deserialize_with = "lenient_string")]
    pub issuer: Option<String>,
    /// The HS256 secret (or give a private key below).
    #[serde(default, deserialize_with = "lenient")]
    pub secret: Option<SigningKey>,
    /// The file holding the private key of an asymmetric assertion, PEM or JWK (read when
    /// the profile is built).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The PEM private key itself (inline, or from
    /// `GRANTKIT_PROFILES__<PROFILE>__JWT__PRIVATE_KEY`); a JWK is read too.
    #[serde(default, deserialize_with = "lenient")]
    pub private_key: Option<SigningKey>,
    /// The `kid` header is the private key's RFC 7638 JWK thumbprint (instead of
    /// `key_id`).
    #[serde(default)]
    pub key_id_thumbprint: bool,
    /// Each assertion gets a random `jti` claim (servers that refuse replays).
    #[serde(default)]
    pub jti: bool,
    /// Extra claims (e.g. `scope` as a claim, as Google wants), in key order.
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// The private key's algorithm: `RS256` (the default with a PEM key; a JWK's own
    /// `alg`, else its key's natural algorithm), `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384` or `EdDSA`; `HS256` with
    /// `secret`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub algorithm: Option<String>,
    /// `exp - iat` in seconds (default 3600).
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
    /// The `aud` claim (default: the token URL).
    #[serde(default, deserialize_with = "lenient_string")]
    pub audience: Option<String>,
    /// The `sub` claim.
    #[serde(default, deserialize_with = "lenient_string")]
    pub subject: Option<String>,
    /// The file holding the HS256 secret, read at each signing (a twin of `secret`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The file holding an assertion made elsewhere (a Kubernetes projected
    /// service-account token), sent as read at each request instead of a signed one.
    #[serde(default)]
    pub assertion_file: Option<PathBuf>,
}

/// The `refresh` table of a profile.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RefreshConfig {
    /// Renew this many seconds before expiry (capped at half the lifetime).
    #[serde(default)]
    pub before_expiry_secs: Option<u64>,
}

/// One profile: a preset with its fields, or a grant spelled out; plus the store and the
/// refresh window. Any key may override what a preset sets.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Profile {
    /// Start from a vendor preset.
    #[serde(default)]
    pub preset: Option<PresetName>,
    /// The grant (required unless a preset is named).
    #[serde(default)]
    pub grant: Option<GrantKind>,
    /// The token endpoint.
    #[serde(default, deserialize_with = "lenient")]
    pub token_url: Option<ConfigUrl>,
    /// The authorization server's issuer identifier, whose metadata (RFC 8414 / OpenID
    /// Connect discovery) names the token endpoint (and the device authorization,
    /// authorization and revocation endpoints, unless given); replaces `token_url` (give
    /// one of the two). Spelled-out profiles only.
    #[serde(default, deserialize_with = "lenient")]
    pub issuer: Option<ConfigUrl>,
    /// The device authorization endpoint of a `device_code` profile (RFC 8628 §3.1);
    /// with `issuer`, the metadata's `device_authorization_endpoint` unless given.
    #[serde(default, deserialize_with = "lenient")]
    pub device_authorization_url: Option<ConfigUrl>,
    /// `authorization_code`: the authorization endpoint, the page the browser opens; with
    /// `issuer`, the metadata's `authorization_endpoint` unless given.
    #[serde(default, deserialize_with = "lenient")]
    pub authorization_url: Option<ConfigUrl>,
    /// `authorization_code`: extra parameters of the authorization request the browser
    /// opens (`prompt = "consent"`, Google's `access_type = "offline"`), sent after the
    /// standard ones in key order; `params` go with the code exchange instead.
    #[serde(default, deserialize_with = "lenient_map")]
    pub authorization_params: BTreeMap<String, String>,
    /// The client id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_id: Option<String>,
    /// The client secret.
    #[serde(default, deserialize_with = "lenient")]
    pub client_secret: Option<ClientSecret>,
    /// How the client authenticates: `basic`, `body`, `none`, `client_secret_jwt`,
    /// `private_key_jwt` (these two with feature `grant-jwt-bearer`), `tls_client_auth` or
    /// `self_signed_tls_client_auth`.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// `private_key_jwt`: the file holding the private key, PEM (PKCS#8, PKCS#1, SEC1) or
    /// a JWK; `tls_client_auth` and `self_signed_tls_client_auth`: the PEM key of
    /// `certificate_file` (read when the profile is built).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// `tls_client_auth` and `self_signed_tls_client_auth`: the PEM client certificate
    /// (then its intermediates), presented in the TLS handshake (mutual TLS, RFC 8705);
    /// its key is in `private_key_file` or `private_key`, or in this file after the
    /// certificates. `private_key_jwt` (and the Microsoft Entra preset): the private key's
    /// certificate, whose `x5t#S256` header every assertion carries (Entra ID certificate
    /// credentials).
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// PEM CA certificates trusted for the token endpoint instead of the platform's (an
    /// internal CA). The Redis store's TLS has its own, `store.ca_file`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `private_key_jwt`, or the mutual-TLS methods: the PEM private key itself (inline,
    /// or from `GRANTKIT_PROFILES__<PROFILE>__PRIVATE_KEY`).
    #[serde(default, deserialize_with = "lenient")]
    pub private_key: Option<SigningKey>,
    /// The client assertion's algorithm: for `private_key_jwt` one of `RS256` (the
    /// default for a PEM key; a JWK's own `alg`, else its key's natural algorithm),
    /// `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`; for
    /// `client_secret_jwt` only `HS256`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub signing_alg: Option<String>,
    /// `private_key_jwt`: the `kid` header is the private key's RFC 7638 JWK thumbprint
    /// (instead of `key_id`).
    #[serde(default)]
    pub key_id_thumbprint: bool,
    /// `form` or `json`.
    #[serde(default)]
    pub body: Option<BodyFormat>,
    /// The requested scope, space-separated.
    #[serde(default, deserialize_with = "lenient_string")]
    pub scope: Option<String>,
    /// Extra body parameters (sent in key order).
    #[serde(default, deserialize_with = "lenient_map")]
    pub params: BTreeMap<String, String>,
    /// The resource owner (password grant).
    #[serde(default, deserialize_with = "lenient_string")]
    pub username: Option<String>,
    /// The resource owner's password (password grant).
    #[serde(default, deserialize_with = "lenient")]
    pub password: Option<Password>,
    /// The assertion (jwt_bearer grant).
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// The refresh window.
    #[serde(default)]
    pub refresh: Option<RefreshConfig>,
    /// The store.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// The statuses with which the API rejects a token, for the HTTP middleware (default
    /// `[401]`; the 24SevenOffice preset's `[401, 403]`); see
    /// `Profile::rejected_statuses_or_default` (feature `middleware`).
    #[serde(default)]
    pub rejected_statuses: Option<Vec<u16>>,
    /// Allow plain `http://` token URLs to non-loopback hosts.
    #[serde(default)]
    pub danger_allow_http: bool,
    /// The longest one HTTP attempt may take, in seconds (default 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The longest one renewal may take, retries included, in seconds (default 30).
    #[serde(default)]
    pub deadline_secs: Option<u64>,
    /// The proxy for `https` token requests to non-loopback hosts (default: the
    /// environment's `HTTPS_PROXY`/`ALL_PROXY`); never used for loopback or plain `http`.
    #[serde(default, deserialize_with = "lenient")]
    pub proxy: Option<ConfigUrl>,
    /// 24SevenOffice preset: the organization to log in to.
    #[serde(default, deserialize_with = "lenient_string")]
    pub login_organization: Option<String>,
    /// The `kid` header of client assertions (`client_secret_jwt`, `private_key_jwt`);
    /// for the Disruptive Technologies preset, the service account's key id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub key_id: Option<String>,
    /// Disruptive Technologies preset: the service account's email.
    #[serde(default, deserialize_with = "lenient_string")]
    pub email: Option<String>,
    /// Disruptive Technologies preset: the service account's secret.
    #[serde(default, deserialize_with = "lenient")]
    pub secret: Option<SigningKey>,
    /// Google service account preset: the JSON key file Google issues (default: the file
    /// `GOOGLE_APPLICATION_CREDENTIALS` names).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Auth0, Okta presets: the tenant's or org's domain (`dev-abc.us.auth0.com`,
    /// `dev-123456.okta.com`, a custom domain).
    #[serde(default, deserialize_with = "lenient_string")]
    pub domain: Option<String>,
    /// Auth0 preset: the API to issue the token for (its identifier); `token_exchange`:
    /// the target services' names (a string or a list, each sent as an `audience`
    /// parameter).
    #[serde(default, deserialize_with = "lenient_list")]
    pub audience: Option<Vec<String>>,
    /// Auth0 preset: the organization to issue the token for.
    #[serde(default, deserialize_with = "lenient_string")]
    pub organization: Option<String>,
    /// Okta preset: a custom authorization server's id (default `default`), or `org` for
    /// the org authorization server.
    #[serde(default, deserialize_with = "lenient_string")]
    pub authorization_server: Option<String>,
    /// Microsoft Entra preset: the tenant's id or domain.
    #[serde(default, deserialize_with = "lenient_string")]
    pub tenant: Option<String>,
    /// Microsoft Entra preset: a federated credential's token file
    /// (`AZURE_FEDERATED_TOKEN_FILE`), read at each renewal and sent as the client assertion.
    #[serde(default)]
    pub federated_token_file: Option<PathBuf>,
    /// Keycloak preset: the server's root URL (with `/auth` for servers that have it).
    #[serde(default, deserialize_with = "lenient")]
    pub base_url: Option<ConfigUrl>,
    /// Keycloak preset: the realm's name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub realm: Option<String>,
    /// Salesforce JWT preset: the connected app's consumer key (the assertion's `iss`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub consumer_key: Option<String>,
    /// Salesforce JWT preset: the login URL, the assertion's `aud` (default
    /// `https://login.salesforce.com`).
    #[serde(default, deserialize_with = "lenient")]
    pub login_url: Option<ConfigUrl>,
    /// The lifetime, in seconds, of a token whose response gives no `expires_in` (nor a
    /// JWT `exp`): default 3600; the Salesforce preset's 7200 (its session timeout).
    #[serde(default)]
    pub default_lifetime_secs: Option<u64>,
    /// The file holding the client secret, read at each token request (a twin of
    /// `client_secret`).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The file holding the password, read at each login (a twin of `password`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Disruptive Technologies preset: the file holding the secret, read at each signing
    /// (a twin of `secret`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// A client assertion made elsewhere (a Kubernetes projected service-account token,
    /// `AZURE_FEDERATED_TOKEN_FILE`), read at each token request and sent with
    /// `private_key_jwt`.
    #[serde(default)]
    pub client_assertion_file: Option<PathBuf>,
    /// `token_exchange`: the subject token, inline (or from the environment); usually
    /// `subject_token_file` instead.
    #[serde(default, deserialize_with = "lenient")]
    pub subject_token: Option<AccessToken>,
    /// `token_exchange`: the file holding the subject token, read at each renewal (a
    /// Kubernetes projected service-account token).
    #[serde(default)]
    pub subject_token_file: Option<PathBuf>,
    /// `token_exchange`: the subject token's type URI
    /// (`urn:ietf:params:oauth:token-type:jwt`, `…:access_token`, …). Required.
    #[serde(default, deserialize_with = "lenient_string")]
    pub subject_token_type: Option<String>,
    /// `token_exchange`: the actor token, inline.
    #[serde(default, deserialize_with = "lenient")]
    pub actor_token: Option<AccessToken>,
    /// `token_exchange`: the file holding the actor token, read at each renewal.
    #[serde(default)]
    pub actor_token_file: Option<PathBuf>,
    /// `token_exchange`: the actor token's type URI (required with an actor token).
    #[serde(default, deserialize_with = "lenient_string")]
    pub actor_token_type: Option<String>,
    /// `token_exchange`: the type of token wanted.
    #[serde(default, deserialize_with = "lenient_string")]
    pub requested_token_type: Option<String>,
    /// `token_exchange`: the target resources' URIs (a string or a list, each sent as a
    /// `resource` parameter).
    #[serde(default, deserialize_with = "lenient_list")]
    pub resource: Option<Vec<String>>,
    /// `token_exchange`: accept a response whose `token_type` is `N_A` (not an access
    /// token, RFC 8693 §2.2.1).
    #[serde(default)]
    pub accept_na_token_type: bool,
    /// The revocation endpoint (RFC 7009) used by `TokenManager::revoke` (`grantkit
    /// logout`); spelled-out grants only.
    #[serde(default, deserialize_with = "lenient")]
    pub revocation_url: Option<ConfigUrl>,
    /// Sender-constrained tokens (DPoP, RFC 9449): `dpop = { alg = "ES256" }`.
    #[serde(default)]
    pub dpop: Option<DpopConfig>,
}

/// The `dpop` table of a profile: DPoP (RFC 9449) for every token request and, through the
/// middleware, every API request.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DpopConfig {
    /// The key algorithm: `ES256` (default), `ES384`, `RS256`, `PS256` or `EdDSA`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub alg: Option<String>,
    /// A PKCS#8 PEM private key to bind every token to, instead of a new key per token.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Let a store without an encryption key write the private key in clear beside the
    /// token (default `false`: such a profile is refused).
    #[serde(default)]
    pub plaintext_key_in_store: bool,
}

/// Whether `auth` signs a client assertion.
pub(crate) fn is_assertion(auth: ClientAuth) -> bool {
    match auth {
        #[cfg(feature = "grant-jwt-bearer")]
        ClientAuth::ClientSecretJwt | ClientAuth::PrivateKeyJwt => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    /// The derived `Debug` of every table redacts every secret key and every URL's
    /// credentials.
    #[test]
    fn derived_debug_shows_no_secret() {
        let config = crate::config::Config::from_toml(
            r#"
            [profiles.all]
            grant = "password"
            token_url = "https://u:url-pw@auth.example.com/t?client_secret=url-secret"
            client_id = "id"
            client_secret = "cs-secret"
            username = "me"
            password = "pw-secret"
            secret = "dt-secret"
            private_key = "pk-secret"
            proxy = "http://p:proxy-pw@proxy.example.com:3128"
            jwt = { issuer = "svc", secret = "jwt-secret" }
            store = { kind = "redis", url = "redis://:redis-pw@127.0.0.1/", encryption_key = "enc-secret", password = "store-pw" }
            "#,
        )
        .unwrap();
        let debug = format!("{config:?}");
        for secret in [
            "url-pw",
            "url-secret",
            "cs-secret",
            "pw-secret",
            "dt-secret",
            "proxy-pw",
            "jwt-secret",
            "redis-pw",
            "enc-secret",
            "pk-secret",
            "store-pw",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        for shown in [
            "ClientSecret([redacted])",
            "Password([redacted])",
            "SigningKey([redacted])",
            "\"https://***@auth.example.com/t?client_secret=***\"",
            "username: Some(\"me\")",
        ] {
            assert!(debug.contains(shown), "{shown} missing from {debug}");
        }
    }
}
