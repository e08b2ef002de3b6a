//! The conformance suite every `TokenStore` must pass.
