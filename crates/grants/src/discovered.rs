//! Sending a token request to a [`TokenEndpoint`]: resolve it (discovering the issuer's
//! metadata the first time), check that the server offers what the client is about to
//! use, send, and let the endpoint see the outcome.

use grantkit_core::{
    Discovery, Error, GrantContext, HttpRequest, ResolvedEndpoint, Result, ServerMetadata, Token,
    TokenEndpoint,
};

use crate::client::ClientAuth;
use crate::options::ClientOptions;

/// Resolves `endpoint`, checks `options` and `grant_type` against the metadata when it was
/// discovered, sends the request `build` makes for the token URL, and reports the outcome
/// to the endpoint (which forgets the metadata after a transport error or a 404). `build`
/// is called again when a DPoP nonce makes the context send the request once more, so
/// that a client assertion is never sent twice.
pub(crate) async fn exchange(
    cx: &GrantContext,
    endpoint: &TokenEndpoint,
    options: &ClientOptions,
    grant_type: Option<&str>,
    build: impl Fn(&str) -> Result<HttpRequest> + Send + Sync,
) -> Result<Token> {
    let resolved = endpoint.resolve(cx).await?;
    if let Some(metadata) = resolved.metadata() {
        check_server(metadata, options, grant_type)?;
    }
    let url = resolved.url();
    // Dropped before the answer when the manager's attempt timeout cancels this future:
    // a timeout like any other, so the next attempt discovers afresh.
    let mut pending = Pending {
        endpoint,
        resolved: &resolved,
        armed: true,
    };
    let result = cx.exchange_with(|| build(url)).await;
    pending.armed = false;
    endpoint.observe(&resolved, &result);
    result
}

/// Forgets the metadata when dropped while `armed`.
struct Pending<'a> {
    endpoint: &'a TokenEndpoint,
    resolved: &'a ResolvedEndpoint,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.endpoint.forget(self.resolved);
        }
    }
}

/// The name RFC 8414 / OIDC Core §9 give the client authentication `options` use.
pub(crate) fn auth_method_name(options: &ClientOptions) -> &'static str {
    let has_secret = options.has_client_secret();
    match options.client_auth_method() {
        ClientAuth::Basic if has_secret => "client_secret_basic",
        ClientAuth::Body if has_secret => "client_secret_post",
        ClientAuth::Basic | ClientAuth::Body | ClientAuth::None => "none",
        #[cfg(feature = "jwt-bearer")]
        ClientAuth::ClientSecretJwt => "client_secret_jwt",
        #[cfg(feature = "jwt-bearer")]
        ClientAuth::PrivateKeyJwt => "private_key_jwt",
        ClientAuth::TlsClientAuth => "tls_client_auth",
        ClientAuth::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
    }
}

/// Fails with a [`Config`](grantkit_core::ErrorKind::Config) error when the metadata lists
/// its grant types, auth methods or assertion algorithms and what the client uses is not
/// among them. Absent lists are not checked (see [`ServerMetadata`]).
pub(crate) fn check_server(
    metadata: &ServerMetadata,
    options: &ClientOptions,
    grant_type: Option<&str>,
) -> Result<()> {
    // Equal to the configured issuer, which has no credentials, query or fragment.
    let issuer = metadata.issuer();
    if let Some(grant_type) = grant_type
        && !metadata.supports_grant_type(grant_type)
    {
        return Err(Error::config(format!(
            "the authorization server {issuer} does not offer the {grant_type} grant \
             (grant_types_supported: {})",
            listed(metadata.grant_types_supported())
        )));
    }
    let method = auth_method_name(options);
    // A token exchange without any client (no id, no secret, no assertion) authenticates
    // with the subject token alone: there is no client authentication to check.
    let anonymous = method == "none" && options.client_id().is_empty();
    if !anonymous && !metadata.supports_auth_method(method) {
        return Err(Error::config(format!(
            "the authorization server {issuer} does not offer {method} client authentication \
             (token_endpoint_auth_methods_supported: {}); set client_auth to one it offers",
            listed(metadata.token_endpoint_auth_methods_supported())
        )));
    }
    if let Some(alg) = options.assertion_algorithm()
        && !metadata.supports_auth_signing_alg(alg)
    {
        return Err(Error::config(format!(
            "the authorization server {issuer} does not accept {method} assertions signed \
             with {alg} (token_endpoint_auth_signing_alg_values_supported: {})",
            listed(metadata.token_endpoint_auth_signing_alg_values_supported())
        )));
    }
    Ok(())
}

/// The error for metadata that lacks the endpoint `member` a grant needs.
/// The issuer is shown quoted, as the token endpoint's error shows it (redacted should it
/// look like it holds a credential, which [`Discovery::validate`] refuses).
pub(crate) fn missing_endpoint(discovery: &Discovery, member: &str) -> Error {
    let issuer = discovery.issuer();
    let shown = if issuer.contains(['@', '?', '#']) {
        grantkit_core::redact_url(issuer)
    } else {
        issuer.to_owned()
    };
    Error::invalid_response(format!(
        "the authorization server metadata of issuer {shown:?} has no {member}"
    ))
}

pub(crate) fn listed(values: Option<&[String]>) -> String {
    values.map(|v| v.join(", ")).unwrap_or_default()
}
