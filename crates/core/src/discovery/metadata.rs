//! [`ServerMetadata`]: an authorization server's metadata document (RFC 8414 §2, OpenID
//! Connect Discovery 1.0 §3), parsed and checked.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::check_token_url;
use crate::redact_url;

use super::shown_issuer;

/// The largest metadata document accepted, in bytes (256 KiB). Real documents are a few
/// kilobytes (Keycloak's, one of the largest, about 6 KiB); anything this large is not one.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// An authorization server's metadata (RFC 8414 §2; OpenID Connect Discovery 1.0 §3), as
/// fetched by [`Discovery`](crate::Discovery).
///
/// Only documents that passed the checks of RFC 8414 §3.3 exist: the `issuer` equals the
/// configured one exactly, and every endpoint listed here is `https` (or `http` to a
/// loopback host, or any `http` when the manager allows it — the rule token URLs follow).
///
/// The `*_supported` lists are `None` when the server does not list them. RFC 8414 gives
/// defaults for absent lists (`grant_types_supported`: `authorization_code`, `implicit`;
/// `token_endpoint_auth_methods_supported`: `client_secret_basic`), available from the
/// `*_or_default` accessors; grantkit's own checks apply only to lists the server sent,
/// since many servers that accept `client_credentials` simply leave the list out.
///
/// ```
/// use grantkit_core::ServerMetadata;
///
/// let m = ServerMetadata::from_json(
///     br#"{"issuer":"https://auth.example.com","token_endpoint":"https://auth.example.com/token",
///          "grant_types_supported":["client_credentials"],"x-vendor":1}"#,
///     "https://auth.example.com",
///     false,
/// )?;
/// assert_eq!(m.token_endpoint(), Some("https://auth.example.com/token"));
/// assert!(m.supports_grant_type("client_credentials"));
/// assert!(!m.supports_grant_type("password"));
/// assert!(m.supports_auth_method("private_key_jwt")); // not listed: not checked
/// assert_eq!(m.token_endpoint_auth_methods_supported_or_default(), ["client_secret_basic"]);
/// assert_eq!(m.extra("x-vendor"), Some(&serde_json::json!(1)));
/// # Ok::<(), grantkit_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ServerMetadata {
    issuer: String,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    grant_types_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    response_types_supported: Option<Vec<String>>,
    #[serde(default)]
    revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    dpop_signing_alg_values_supported: Option<Vec<String>>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

/// Names of the endpoint members that are checked like token URLs.
const ENDPOINTS: &[&str] = &[
    "token_endpoint",
    "authorization_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
];

impl ServerMetadata {
    /// Parses a metadata document and checks it against `expected_issuer` (RFC 8414 §3.3:
    /// identical, character for character) and the URL rule (`allow_http` as
    /// [`TokenManagerBuilder::danger_allow_http`](crate::TokenManagerBuilder::danger_allow_http)).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) when the body is
    /// too large, not a JSON object, lacks `issuer`, or names another issuer;
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when an endpoint is plain `http` to
    /// a host that is not loopback (or not `http(s)` at all).
    pub fn from_json(body: &[u8], expected_issuer: &str, allow_http: bool) -> Result<Self> {
        if body.len() > MAX_METADATA_BYTES {
            return Err(Error::invalid_response(format!(
                "the metadata document is {} bytes, more than the {MAX_METADATA_BYTES} accepted",
                body.len()
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| Error::invalid_response("the metadata document is not JSON"))?;
        if !value.is_object() {
            return Err(Error::invalid_response(
                "the metadata document is not a JSON object",
            ));
        }
        if !value
            .get("issuer")
            .is_some_and(serde_json::Value::is_string)
        {
            return Err(Error::invalid_response(
                "the metadata document has no \"issuer\" (RFC 8414 §2 requires it)",
            ));
        }
        let metadata: ServerMetadata = serde_json::from_value(value).map_err(|e| {
            Error::invalid_response(format!("the metadata document is malformed: {e}"))
        })?;
        if metadata.issuer != expected_issuer {
            return Err(Error::invalid_response(format!(
                "the metadata names the issuer {}, not the configured {} (RFC 8414 §3.3 \
                 requires them to be identical)",
                shown_issuer(&metadata.issuer),
                shown_issuer(expected_issuer)
            )));
        }
        for (name, url) in metadata.endpoints() {
            check_token_url(url, allow_http).map_err(|e| e.with_context(name))?;
        }
        Ok(metadata)
    }

    /// The endpoint members present, by name.
    fn endpoints(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let values = [
            &self.token_endpoint,
            &self.authorization_endpoint,
            &self.device_authorization_endpoint,
            &self.revocation_endpoint,
            &self.introspection_endpoint,
            &self.userinfo_endpoint,
            &self.jwks_uri,
        ];
        ENDPOINTS
            .iter()
            .zip(values)
            .filter_map(|(name, v)| v.as_deref().map(|v| (*name, v)))
    }

    /// The issuer identifier, equal to the configured one.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `token_endpoint`; every grant needs it (RFC 8414: required unless the server only
    /// offers the implicit grant).
    pub fn token_endpoint(&self) -> Option<&str> {
        self.token_endpoint.as_deref()
    }

    /// `authorization_endpoint`, where the authorization code flow sends the browser.
    pub fn authorization_endpoint(&self) -> Option<&str> {
        self.authorization_endpoint.as_deref()
    }

    /// `device_authorization_endpoint` (RFC 8628 §4).
    pub fn device_authorization_endpoint(&self) -> Option<&str> {
        self.device_authorization_endpoint.as_deref()
    }

    /// `revocation_endpoint` (RFC 7009; RFC 8414 §2).
    pub fn revocation_endpoint(&self) -> Option<&str> {
        self.revocation_endpoint.as_deref()
    }

    /// `introspection_endpoint` (RFC 7662; RFC 8414 §2).
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.introspection_endpoint.as_deref()
    }

    /// `userinfo_endpoint` (OpenID Connect).
    pub fn userinfo_endpoint(&self) -> Option<&str> {
        self.userinfo_endpoint.as_deref()
    }

    /// `jwks_uri`, the server's signing keys.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// `grant_types_supported`, if listed.
    pub fn grant_types_supported(&self) -> Option<&[String]> {
        self.grant_types_supported.as_deref()
    }

    /// `grant_types_supported`, or RFC 8414's default `["authorization_code", "implicit"]`.
    pub fn grant_types_supported_or_default(&self) -> Vec<&str> {
        or_default(
            self.grant_types_supported.as_deref(),
            &["authorization_code", "implicit"],
        )
    }

    /// `token_endpoint_auth_methods_supported`, if listed.
    pub fn token_endpoint_auth_methods_supported(&self) -> Option<&[String]> {
        self.token_endpoint_auth_methods_supported.as_deref()
    }

    /// `token_endpoint_auth_methods_supported`, or RFC 8414's default
    /// `["client_secret_basic"]`.
    pub fn token_endpoint_auth_methods_supported_or_default(&self) -> Vec<&str> {
        or_default(
            self.token_endpoint_auth_methods_supported.as_deref(),
            &["client_secret_basic"],
        )
    }

    /// `token_endpoint_auth_signing_alg_values_supported`, if listed.
    pub fn token_endpoint_auth_signing_alg_values_supported(&self) -> Option<&[String]> {
        self.token_endpoint_auth_signing_alg_values_supported
            .as_deref()
    }

    /// `code_challenge_methods_supported` (RFC 7636), if listed.
    pub fn code_challenge_methods_supported(&self) -> Option<&[String]> {
        self.code_challenge_methods_supported.as_deref()
    }

    /// `scopes_supported`, if listed.
    pub fn scopes_supported(&self) -> Option<&[String]> {
        self.scopes_supported.as_deref()
    }

    /// `response_types_supported`, if listed.
    pub fn response_types_supported(&self) -> Option<&[String]> {
        self.response_types_supported.as_deref()
    }

    /// `revocation_endpoint_auth_methods_supported`, if listed.
    pub fn revocation_endpoint_auth_methods_supported(&self) -> Option<&[String]> {
        self.revocation_endpoint_auth_methods_supported.as_deref()
    }

    /// `dpop_signing_alg_values_supported` (RFC 9449), if listed.
    pub fn dpop_signing_alg_values_supported(&self) -> Option<&[String]> {
        self.dpop_signing_alg_values_supported.as_deref()
    }

    /// Any other member of the document, by name.
    pub fn extra(&self, name: &str) -> Option<&serde_json::Value> {
        self.extra.get(name)
    }

    /// Whether the server offers `grant_type`: listed in `grant_types_supported`, or that
    /// list is absent (then grantkit does not guess; the token endpoint decides).
    pub fn supports_grant_type(&self, grant_type: &str) -> bool {
        listed_or_absent(self.grant_types_supported.as_deref(), grant_type)
    }

    /// Whether the server accepts the client authentication `method` (`client_secret_basic`,
    /// `private_key_jwt`, …) at its token endpoint: listed, or the list is absent.
    pub fn supports_auth_method(&self, method: &str) -> bool {
        listed_or_absent(
            self.token_endpoint_auth_methods_supported.as_deref(),
            method,
        )
    }

    /// Whether the server accepts `method` at its revocation endpoint: listed in
    /// `revocation_endpoint_auth_methods_supported`, or that list is absent.
    pub fn supports_revocation_auth_method(&self, method: &str) -> bool {
        listed_or_absent(
            self.revocation_endpoint_auth_methods_supported.as_deref(),
            method,
        )
    }

    /// Whether the server accepts client assertions signed with `alg`: listed in
    /// `token_endpoint_auth_signing_alg_values_supported`, or that list is absent.
    pub fn supports_auth_signing_alg(&self, alg: &str) -> bool {
        listed_or_absent(
            self.token_endpoint_auth_signing_alg_values_supported
                .as_deref(),
            alg,
        )
    }
}

fn listed_or_absent(list: Option<&[String]>, value: &str) -> bool {
    list.is_none_or(|l| l.iter().any(|v| v == value))
}

fn or_default<'a>(list: Option<&'a [String]>, default: &[&'static str]) -> Vec<&'a str> {
    match list {
        Some(l) => l.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    }
}

impl fmt::Debug for ServerMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ServerMetadata");
        d.field("issuer", &redact_url(&self.issuer));
        for (name, url) in self.endpoints() {
            d.field(name, &redact_url(url));
        }
        d.field("grant_types_supported", &self.grant_types_supported)
            .field(
                "token_endpoint_auth_methods_supported",
                &self.token_endpoint_auth_methods_supported,
            )
            .finish_non_exhaustive()
    }
}
