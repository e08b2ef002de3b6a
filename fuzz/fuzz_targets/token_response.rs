//! `Token::from_response` with an arbitrary body, under every interesting status.
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    grantkit_fuzz::token_response(body);
});
