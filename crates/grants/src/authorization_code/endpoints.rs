//! The endpoints of an [`AuthorizationCodeLogin`]: the authorization endpoint (given, or
//! from the issuer's metadata), the authorization URL of one attempt, and the code
//! exchange sent to the token endpoint.

use std::time::SystemTime;

use grantkit_core::{AuthorizationCode, Error, GrantContext, HttpRequest, Result};

use super::AuthorizationCodeLogin;
use crate::Pkce;
use crate::client::validate_url;
use crate::discovered::{check_server, missing_endpoint};
use crate::error::GrantError;

impl AuthorizationCodeLogin {
    /// The authorization endpoint: the one given, or the issuer's, after checking the
    /// metadata against the login (grant type, client authentication, PKCE method).
    pub(super) async fn authorization_endpoint(&self, cx: &GrantContext) -> Result<String> {
        let Some(discovery) = self.token_url.discovery() else {
            return self
                .authorization_url
                .clone()
                .ok_or_else(|| Error::config("no authorization_url"));
        };
        let metadata = discovery.metadata(cx).await?;
        check_server(&metadata, &self.options, Some("authorization_code"))?;
        if let Some(methods) = metadata.code_challenge_methods_supported()
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(Error::config(format!(
                "the authorization server {} does not offer PKCE with S256 \
                 (code_challenge_methods_supported: {})",
                metadata.issuer(),
                methods.join(", ")
            )));
        }
        match &self.authorization_url {
            Some(url) => Ok(url.clone()),
            None => {
                let url = metadata
                    .authorization_endpoint()
                    .ok_or_else(|| missing_endpoint(discovery, "authorization_endpoint"))?;
                check_authorization_url(url)?;
                Ok(url.to_owned())
            }
        }
    }

    /// The authorization URL for one attempt.
    pub(super) fn url(
        &self,
        authorization_url: &str,
        redirect_uri: &str,
        state: &str,
        pkce: &Pkce,
        dpop_jkt: Option<&str>,
    ) -> Result<String> {
        let mut url =
            url::Url::parse(authorization_url).map_err(|_| GrantError::AuthorizationUrlFragment)?;
        {
            let scope = self.options.requested_scope();
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", self.options.client_id())
                .append_pair("redirect_uri", redirect_uri);
            if let Some(scope) = &scope {
                query.append_pair("scope", scope);
            }
            query
                .append_pair("state", state)
                .append_pair("code_challenge", pkce.challenge())
                .append_pair("code_challenge_method", pkce.method());
            if let Some(jkt) = dpop_jkt {
                query.append_pair("dpop_jkt", jkt);
            }
            for (name, value) in self.url_params.iter() {
                query.append_pair(name, value);
            }
        }
        Ok(url.into())
    }

    /// The code exchange (RFC 6749 §4.1.3 with RFC 7636 §4.5's `code_verifier`).
    pub(super) fn request(
        &self,
        token_url: &str,
        code: &AuthorizationCode,
        redirect_uri: &str,
        pkce: &Pkce,
        now: SystemTime,
    ) -> Result<HttpRequest> {
        let options = self.options.resolved()?;
        let mut fields: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
        ];
        options.push_body_credentials(&mut fields);
        fields.push(("code_verifier", pkce.verifier().secret()));
        fields.extend(options.params());
        options.request(token_url, &fields, now)
    }
}

/// An `http(s)` authorization URL without a fragment.
pub(super) fn check_authorization_url(url: &str) -> Result<()> {
    validate_url(url)?;
    if url.contains('#') {
        return Err(GrantError::AuthorizationUrlFragment.into());
    }
    Ok(())
}
