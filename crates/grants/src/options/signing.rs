//! The setters of [`ClientOptions`] that choose a client assertion's `kid` by thumbprint
//! and add a certificate's `x5t#S256` header (`private_key_jwt`).

use super::ClientOptions;
use crate::certificate::Certificate;
use crate::jwt_bearer::KeyId;

impl ClientOptions {
    /// The `kid` header of `private_key_jwt` assertions is the RFC 7638 JWK thumbprint
    /// (SHA-256) of the private key's public key, for servers that look keys up by it.
    /// It replaces a [`key_id`](Self::key_id) set before (and a later `key_id` replaces
    /// it). With `client_secret_jwt` it is refused when the grant is validated: the
    /// thumbprint of a shared secret would be a hash of the secret.
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientOptions, JwtSigningKey};
    /// let pem = std::fs::read_to_string("tests/keys/test-only-rsa-pkcs8.pem").unwrap();
    /// let options = ClientOptions::new("app")
    ///     .client_auth(ClientAuth::PrivateKeyJwt)
    ///     .private_key(JwtSigningKey::from_pem("RS256", pem)?)
    ///     .key_id_thumbprint();
    /// # let _ = options;
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    #[must_use]
    pub fn key_id_thumbprint(mut self) -> Self {
        self.assertion.key_id = KeyId::Thumbprint;
        self
    }

    /// The certificate of the private key: `private_key_jwt` assertions carry its
    /// `x5t#S256` header (RFC 7515 §4.1.8), as Microsoft Entra ID's certificate
    /// credentials expect. Refused with `client_secret_jwt` when the grant is validated.
    ///
    /// ```
    /// # use grantkit_grants::{Certificate, ClientAuth, ClientOptions, JwtSigningKey};
    /// let pem = std::fs::read_to_string("tests/keys/test-only-rsa-pkcs8.pem").unwrap();
    /// let options = ClientOptions::new("app")
    ///     .client_auth(ClientAuth::PrivateKeyJwt)
    ///     .private_key(JwtSigningKey::from_pem("RS256", pem)?)
    ///     .certificate(Certificate::from_pem_file("tests/keys/test-only-rsa-cert.pem")?);
    /// assert_eq!(
    ///     options.assertion_certificate().map(Certificate::x5t_s256),
    ///     Some("EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw")
    /// );
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    #[must_use]
    pub fn certificate(mut self, certificate: Certificate) -> Self {
        self.assertion.certificate = Some(certificate);
        self
    }

    /// The certificate whose `x5t#S256` `private_key_jwt` assertions carry, if set.
    pub fn assertion_certificate(&self) -> Option<&Certificate> {
        self.assertion.certificate.as_ref()
    }
}
