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
    #[error("unknown client authentication {0:?}; expected \"basic\" or \"body\"")]
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
            | GrantError::NoRefreshToken => Error::config(message),
            #[cfg(feature = "jwt-bearer")]
            GrantError::EmptyIssuer
            | GrantError::EmptySigningKey
            | GrantError::ShortLifetime
            | GrantError::LongLifetime { .. }
            | GrantError::ReservedClaim(_)
            | GrantError::NoCryptoProvider => Error::config(message),
            #[cfg(feature = "jwt-bearer")]
            GrantError::ClockBeforeEpoch => Error::new(grantkit_core::ErrorKind::Other, message),
            // jsonwebtoken's errors name a kind (`InvalidKeyFormat`…), never key material.
            #[cfg(feature = "jwt-bearer")]
            GrantError::Sign(source) => Error::config(message).with_source(source),
        }
    }
}
