//! An in-process OAuth2 authorization server.
