//! The `token_exchange` grant of a profile (RFC 8693), the revocation endpoint of any
//! spelled-out profile (RFC 7009: `revocation_url`, or the issuer's), and the Auth0
//! preset's single `audience`.

use std::sync::Arc;

use grantkit_core::{
    AccessToken, Discovery, Error, Grant, Result, SecretSource, TokenEndpoint, TokenManagerBuilder,
};
use grantkit_grants::{ClientOptions, Revocation, SubjectToken, TokenExchange};

use super::Profile;
use super::build::missing;

/// The keys only a `token_exchange` profile reads (`audience` is also a preset key).
pub(super) const EXCHANGE_KEYS: &[&str] = &[
    "subject_token",
    "subject_token_file",
    "subject_token_type",
    "actor_token",
    "actor_token_file",
    "actor_token_type",
    "requested_token_type",
    "resource",
    "accept_na_token_type",
];

/// A `token_exchange` profile's grant. `client_id` is optional: without it (and without a
/// secret) no client authentication is sent.
pub(super) fn exchange_grant(
    name: &str,
    p: &Profile,
    token_url: TokenEndpoint,
) -> Result<Arc<dyn Grant>> {
    let subject = token(
        name,
        "subject_token",
        &p.subject_token,
        &p.subject_token_file,
    )?
    .ok_or_else(|| missing(name, "subject_token_file` or `subject_token"))?;
    let subject_type = p
        .subject_token_type
        .clone()
        .ok_or_else(|| missing(name, "subject_token_type"))?;
    let options = if p.client_id.is_some() {
        p.client_options(name)?
    } else if p.has_client_secret() {
        return Err(missing(name, "client_id"));
    } else {
        p.assertion_options(name, p.override_options(ClientOptions::default()))?
    };
    let mut grant =
        TokenExchange::new(token_url, options, SubjectToken::new(subject, subject_type));
    match (
        token(name, "actor_token", &p.actor_token, &p.actor_token_file)?,
        &p.actor_token_type,
    ) {
        (Some(actor), Some(actor_type)) => {
            grant = grant.actor(SubjectToken::new(actor, actor_type))
        }
        (Some(_), None) => return Err(missing(name, "actor_token_type")),
        (None, Some(_)) => return Err(missing(name, "actor_token_file` or `actor_token")),
        (None, None) => {}
    }
    if let Some(requested) = &p.requested_token_type {
        grant = grant.requested_token_type(requested);
    }
    for audience in p.audience.iter().flatten() {
        grant = grant.audience(audience);
    }
    for resource in p.resource.iter().flatten() {
        grant = grant.resource(resource);
    }
    grant = grant.accept_na_token_type(p.accept_na_token_type);
    grant
        .validate()
        .map_err(|e| e.with_context(format!("profile `{name}`")))?;
    Ok(Arc::new(grant))
}

/// `field` (inline) or `field_file` (read at each renewal; its errors name the profile
/// and the field, never the contents).
fn token(
    name: &str,
    field: &str,
    inline: &Option<AccessToken>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<SecretSource<AccessToken>>> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(Error::config(format!(
            "profile `{name}`: field `{field}_file`: give `{field}` or `{field}_file`, not both"
        ))),
        (Some(value), None) => Ok(Some(SecretSource::value(value.clone()))),
        (None, Some(path)) if path.as_os_str().is_empty() => Err(Error::config(format!(
            "profile `{name}`: field `{field}_file` is empty; name the file the token is read from"
        ))),
        (None, Some(path)) => Ok(Some(
            SecretSource::file(path).context(format!("profile `{name}`: field `{field}_file`")),
        )),
        (None, None) => Ok(None),
    }
}

/// Adds a revoker authenticating as the profile's client: at `revocation_url`, if set;
/// else, for a profile with `issuer` and a `client_id`, at the metadata's
/// `revocation_endpoint` (read when revoking, through `discovery`, the grant's handle).
pub(super) fn attach_revocation(
    builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
    discovery: Option<Discovery>,
) -> Result<TokenManagerBuilder> {
    let revocation = match (&p.revocation_url, discovery) {
        (Some(url), _) => Revocation::new(url.as_str(), p.client_options(name)?),
        // Without a client id (an anonymous token exchange) there is no client to revoke
        // as: no revoker, as without `revocation_url`.
        (None, Some(discovery)) if p.client_id.is_some() => {
            Revocation::discover(discovery, p.client_options(name)?)
        }
        (None, _) => return Ok(builder),
    };
    revocation
        .validate()
        .map_err(|e| e.with_context(format!("profile `{name}`: field `revocation_url`")))?;
    Ok(builder.revoker(revocation))
}

/// The Auth0 preset's `audience`: exactly one.
pub(crate) fn single_audience(name: &str, p: &Profile) -> Result<String> {
    match p.audience.as_deref() {
        None | Some([]) => Err(missing(name, "audience")),
        Some([one]) => Ok(one.clone()),
        Some(_) => Err(Error::config(format!(
            "profile `{name}`: field `audience`: this preset takes one audience, not a list"
        ))),
    }
}
