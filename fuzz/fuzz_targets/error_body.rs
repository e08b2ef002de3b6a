//! `Error::from_response`, `OAuthError::parse`, `Retry-After` and the JWT `exp` fallback with
//! arbitrary input.
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    grantkit_fuzz::error_body(body);
});
