//! Client authentication by a signed JWT (RFC 7523 §2.2, OIDC Core §9):
//! `client_secret_jwt` and `private_key_jwt`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grantkit_core::{Assertion, ClientSecret, Result, SecretSource};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::certificate::Certificate;
use crate::client::ClientAuth;
use crate::error::GrantError;
use crate::jwt_bearer::{JwtSigningKey, KeyId, new_jti};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid: `exp` = `iat` + 60 s.
pub const CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// What a client assertion is signed with besides the client secret: the private key,
/// its `kid`, the certificate whose `x5t#S256` goes in the header, and the `aud` when it
/// is not the token endpoint; or the assertion made elsewhere that is sent instead
/// (`external`).
#[derive(Clone, Default, Debug)]
pub(crate) struct AssertionOptions {
    pub(crate) private_key: Option<JwtSigningKey>,
    pub(crate) key_id: KeyId,
    pub(crate) certificate: Option<Certificate>,
    pub(crate) audience: Option<String>,
    pub(crate) external: Option<SecretSource<Assertion>>,
}

impl AssertionOptions {
    /// Fails when `auth` signs an assertion and what it signs with is missing.
    pub(crate) fn validate(
        &self,
        auth: ClientAuth,
        secret: Option<&SecretSource<ClientSecret>>,
    ) -> Result<()> {
        self.validate_external(auth)?;
        match auth {
            ClientAuth::PrivateKeyJwt => self.key_id.validate(self.private_key.as_ref())?,
            ClientAuth::ClientSecretJwt => {
                self.key_id.validate(None)?;
                if self.certificate.is_some() {
                    return Err(GrantError::CertificateWithSecretJwt.into());
                }
            }
            _ => {}
        }
        match (auth, &self.private_key) {
            (ClientAuth::ClientSecretJwt, _) if secret.is_none_or(SecretSource::is_empty_value) => {
                Err(GrantError::NoSecretForAssertion.into())
            }
            (ClientAuth::PrivateKeyJwt, None) if self.external.is_none() => {
                Err(GrantError::NoPrivateKey.into())
            }
            (ClientAuth::PrivateKeyJwt, Some(key)) if key.is_symmetric() => {
                Err(GrantError::SymmetricPrivateKey.into())
            }
            _ => Ok(()),
        }
    }

    /// A fresh assertion for `auth`, if it is an assertion method: `iss` = `sub` =
    /// `client_id`, `aud` = the configured audience or `token_url`, a random `jti`,
    /// `iat` = `now`, `exp` = `now` + [`CLIENT_ASSERTION_LIFETIME`].
    pub(crate) fn sign(
        &self,
        auth: ClientAuth,
        client_id: &str,
        secret: Option<&SecretSource<ClientSecret>>,
        token_url: &str,
        now: SystemTime,
    ) -> Result<Option<Assertion>> {
        if !auth.uses_assertion() {
            return Ok(None);
        }
        self.validate(auth, secret)?;
        if let Some(external) = &self.external {
            return external.resolve().map(Some);
        }
        let secret = secret.and_then(SecretSource::inline);
        let (algorithm, key): (Algorithm, EncodingKey) = match (auth, &self.private_key, secret) {
            (ClientAuth::PrivateKeyJwt, Some(key), _) => (key.algorithm(), key.encoding_key()?),
            (_, _, Some(secret)) => (
                Algorithm::HS256,
                EncodingKey::from_secret(secret.secret().as_bytes()),
            ),
            // validate() has refused every other combination.
            _ => return Err(GrantError::NoSecretForAssertion.into()),
        };
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| GrantError::ClockBeforeEpoch)?
            .as_secs();
        let mut claims = Map::with_capacity(6);
        claims.insert("iss".into(), Value::from(client_id));
        claims.insert("sub".into(), Value::from(client_id));
        claims.insert(
            "aud".into(),
            Value::from(self.audience.as_deref().unwrap_or(token_url)),
        );
        claims.insert("jti".into(), new_jti().into());
        claims.insert("iat".into(), iat.into());
        claims.insert(
            "exp".into(),
            iat.saturating_add(CLIENT_ASSERTION_LIFETIME.as_secs())
                .into(),
        );
        let mut header = Header::new(algorithm);
        if auth == ClientAuth::PrivateKeyJwt {
            header.kid = self
                .key_id
                .resolve(self.private_key.as_ref())
                .map(str::to_owned);
            header.x5t_s256 = self.certificate.as_ref().map(|c| c.x5t_s256().to_owned());
        } else {
            header.kid = self.key_id.resolve(None).map(str::to_owned);
        }
        // jsonwebtoken panics when it has no crypto backend; make that an error.
        let signed = catch_unwind(AssertUnwindSafe(|| {
            jsonwebtoken::encode(&header, &claims, &key)
        }))
        .map_err(|_| GrantError::NoCryptoProvider)?
        .map_err(GrantError::Sign)?;
        Ok(Some(Assertion::new(signed)))
    }

    /// Fails when an external assertion is set with a method that does not send it, or
    /// beside a private key.
    fn validate_external(&self, auth: ClientAuth) -> Result<()> {
        if self.external.is_none() {
            return Ok(());
        }
        if auth != ClientAuth::PrivateKeyJwt {
            return Err(GrantError::ExternalAssertionMethod(auth.as_str()).into());
        }
        if self.private_key.is_some() {
            return Err(GrantError::ExternalAssertionAndKey.into());
        }
        if self.certificate.is_some() {
            return Err(GrantError::ExternalAssertionSetting("a certificate (x5t#S256)").into());
        }
        if self.key_id != KeyId::FromKey {
            return Err(GrantError::ExternalAssertionSetting("a key id (kid)").into());
        }
        Ok(())
    }
}
