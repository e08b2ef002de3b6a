//! The crate's own failures, mapped into [`grantkit_core::Error`].

use grantkit_core::Error;

/// What can go wrong in this crate before or instead of a request. None of the messages
/// contains a secret: parameter and claim names are configuration, never credentials.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GrantError {
    #[error("the client id is empty")]
    EmptyClientId,
    #[error("the username is empty")]
    EmptyUsername,
    #[error("an extra parameter has an empty name")]
    EmptyParamName,
    #[error(
        "the parameter {0:?} is set by the grant itself and cannot be given as an extra \
         parameter; use the grant's own setter"
    )]
    ReservedParam(String),
    #[error("unknown body format {0:?}; expected \"form\" or \"json\"")]
    UnknownBodyFormat(String),
    #[error(
        "unknown client authentication {0:?}; expected \"basic\", \"body\", \"none\", \
         \"client_secret_jwt\", \"private_key_jwt\", \"tls_client_auth\" or \
         \"self_signed_tls_client_auth\""
    )]
    UnknownClientAuth(String),
    #[error(
        "no refresh token: give one with RefreshTokenGrant::refresh_token, or let a \
         previous token carry one"
    )]
    NoRefreshToken,
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWT issuer (iss) is empty")]
    EmptyIssuer,
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWT signing key is empty")]
    EmptySigningKey,
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWT lifetime must be at least one second")]
    ShortLifetime,
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWT lifetime is {lifetime} s; the server accepts at most {max} s")]
    LongLifetime { lifetime: u64, max: u64 },
    #[cfg(feature = "jwt-bearer")]
    #[error("the claim {0:?} is set by the grant itself; use the grant's own setter")]
    ReservedClaim(String),
    #[cfg(feature = "jwt-bearer")]
    #[error("the clock reads a time before 1970; cannot set the JWT's iat")]
    ClockBeforeEpoch,
    #[cfg(feature = "jwt-bearer")]
    #[error("could not sign the JWT assertion")]
    Sign(#[source] jsonwebtoken::errors::Error),
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "jsonwebtoken has no crypto provider: another crate enabled its `rust_crypto` \
         feature next to `aws_lc_rs`; call \
         jsonwebtoken::crypto::CryptoProvider::install_default at startup"
    )]
    NoCryptoProvider,
    #[cfg(feature = "jwt-bearer")]
    #[error("client_secret_jwt signs with the client secret, and none is set")]
    NoSecretForAssertion,
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "private_key_jwt needs a private key (ClientOptions::private_key) or a client \
         assertion made elsewhere (ClientOptions::client_assertion_file)"
    )]
    NoPrivateKey,
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "a client assertion made elsewhere is sent with client authentication \
         private_key_jwt, not {0}"
    )]
    ExternalAssertionMethod(&'static str),
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "give a private key to sign client assertions or a client assertion made \
         elsewhere, not both"
    )]
    ExternalAssertionAndKey,
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "the assertion is made elsewhere and sent as read; {0} applies only to assertions \
         grantkit signs"
    )]
    ExternalAssertionSetting(&'static str),
    #[error("internal error: the grant did not read its client secret before the request")]
    UnresolvedSecret,
    #[cfg(feature = "jwt-bearer")]
    #[error("private_key_jwt needs an asymmetric key (RS256, ES256, …), not an HS256 secret")]
    SymmetricPrivateKey,
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "unknown signing algorithm {0:?}; expected one of RS256 RS384 RS512 PS256 PS384 \
         PS512 ES256 ES384 EdDSA"
    )]
    UnknownSigningAlg(String),
    #[cfg(feature = "jwt-bearer")]
    #[error("the private key is not a PEM {alg} key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)")]
    BadPrivateKey {
        alg: &'static str,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    #[cfg(feature = "jwt-bearer")]
    #[error("cannot read the private key file {path}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "jwt-bearer")]
    #[error("the private key is not a usable JWK (RFC 7517): {0}")]
    BadJwk(&'static str),
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWK says alg {jwk:?}, but {given} was asked for")]
    JwkAlgMismatch { jwk: String, given: &'static str },
    #[cfg(feature = "jwt-bearer")]
    #[error("the JWK holds an {key} key, which cannot sign {alg}")]
    JwkKeyMismatch {
        key: &'static str,
        alg: &'static str,
    },
    #[cfg(feature = "jwt-bearer")]
    #[error(
        "a certificate's x5t#S256 header goes with private_key_jwt; client_secret_jwt \
         signs with the client secret"
    )]
    CertificateWithSecretJwt,
    #[cfg(feature = "jwt-bearer")]
    #[error("an HS256 secret has no JWK thumbprint to use as kid; give a key id instead")]
    NoThumbprint,
    #[error("the certificate is not PEM with a CERTIFICATE block")]
    BadCertificate,
    #[cfg(feature = "authorization-code")]
    #[error(
        "a PKCE code verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ \
         (RFC 7636 4.1); this one has {0} characters or others"
    )]
    BadCodeVerifier(usize),
    #[cfg(feature = "authorization-code")]
    #[error("the operating system's random generator failed")]
    Random,
    #[cfg(feature = "authorization-code")]
    #[error("the authorization URL must be an absolute http(s) URL without a fragment")]
    AuthorizationUrlFragment,
    #[cfg(feature = "authorization-code")]
    #[error("the redirect path must start with '/' and have no query or fragment")]
    BadRedirectPath,
    #[cfg(feature = "authorization-code")]
    #[error("cannot listen on 127.0.0.1 for the browser's redirect")]
    Listen(#[source] std::io::Error),
    #[cfg(feature = "authorization-code")]
    #[error("the loopback listener stopped before the browser's redirect arrived")]
    ListenerGone,
    #[cfg(feature = "authorization-code")]
    #[error("no redirect from the browser within {0} s; the login was not completed")]
    LoginTimeout(u64),
    #[cfg(feature = "authorization-code")]
    #[error(
        "the redirect's state does not match this login's: a stale browser tab of an \
         earlier login, or a forged request; start the login again"
    )]
    StateMismatch,
    #[cfg(feature = "authorization-code")]
    #[error("the authorization server redirected without a code (and without an error)")]
    CallbackWithoutCode,
    #[cfg(feature = "authorization-code")]
    #[error("the redirect repeats the parameter {0:?} (RFC 6749 3.1)")]
    RepeatedCallbackParam(String),
    #[error("cannot read the certificate file {path}")]
    CertificateFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<GrantError> for Error {
    fn from(e: GrantError) -> Self {
        let message = e.to_string();
        match e {
            GrantError::EmptyClientId
            | GrantError::EmptyUsername
            | GrantError::EmptyParamName
            | GrantError::ReservedParam(_)
            | GrantError::UnknownBodyFormat(_)
            | GrantError::UnknownClientAuth(_)
            | GrantError::NoRefreshToken
            | GrantError::BadCertificate => Error::config(message),
            GrantError::CertificateFile { source, .. } => {
                Error::config(message).with_source(source)
            }
            GrantError::UnresolvedSecret => Error::new(grantkit_core::ErrorKind::Other, message),
            #[cfg(feature = "authorization-code")]
            GrantError::BadCodeVerifier(_)
            | GrantError::AuthorizationUrlFragment
            | GrantError::BadRedirectPath => Error::config(message),
            #[cfg(feature = "authorization-code")]
            GrantError::Random | GrantError::ListenerGone | GrantError::StateMismatch => {
                Error::permanent(message)
            }
            #[cfg(feature = "authorization-code")]
            GrantError::Listen(source) => Error::permanent(message).with_source(source),
            #[cfg(feature = "authorization-code")]
            GrantError::LoginTimeout(_) => {
                Error::new(grantkit_core::ErrorKind::Timeout, message).with_retryable(false)
            }
            #[cfg(feature = "authorization-code")]
            GrantError::CallbackWithoutCode | GrantError::RepeatedCallbackParam(_) => {
                Error::invalid_response(message).with_retryable(false)
            }
            #[cfg(feature = "jwt-bearer")]
            GrantError::EmptyIssuer
            | GrantError::EmptySigningKey
            | GrantError::ShortLifetime
            | GrantError::LongLifetime { .. }
            | GrantError::ReservedClaim(_)
            | GrantError::NoCryptoProvider
            | GrantError::NoSecretForAssertion
            | GrantError::NoPrivateKey
            | GrantError::ExternalAssertionMethod(_)
            | GrantError::ExternalAssertionAndKey
            | GrantError::ExternalAssertionSetting(_)
            | GrantError::SymmetricPrivateKey
            | GrantError::UnknownSigningAlg(_)
            | GrantError::BadJwk(_)
            | GrantError::JwkAlgMismatch { .. }
            | GrantError::JwkKeyMismatch { .. }
            | GrantError::NoThumbprint
            | GrantError::CertificateWithSecretJwt => Error::config(message),
            #[cfg(feature = "jwt-bearer")]
            GrantError::BadPrivateKey { source, .. } => Error::config(message).with_source(source),
            #[cfg(feature = "jwt-bearer")]
            GrantError::KeyFile { source, .. } => Error::config(message).with_source(source),
            #[cfg(feature = "jwt-bearer")]
            GrantError::ClockBeforeEpoch => Error::new(grantkit_core::ErrorKind::Other, message),
            // jsonwebtoken's errors name a kind (`InvalidKeyFormat`…), never key material.
            #[cfg(feature = "jwt-bearer")]
            GrantError::Sign(source) => Error::config(message).with_source(source),
        }
    }
}
