//! The OAuth2 grants of grantkit: client credentials (form or JSON body, Basic or body
//! client authentication), password, JWT bearer (HS256) and refresh token.
