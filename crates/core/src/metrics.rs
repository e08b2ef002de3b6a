//! The metrics a [`TokenManager`](crate::TokenManager) records through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): their names, and
//! [`describe`] to give an exporter their units and descriptions.
//!
//! grantkit installs no recorder: the application installs one (Prometheus, OpenTelemetry,
//! StatsD…) and grantkit's metrics go wherever the application's go. Without a recorder
//! every call is a no-op. Names and units follow the OpenTelemetry semantic conventions
//! (dotted names, seconds for durations, no `_total` suffix: exporters add their own).
//!
//! | name | kind | unit | labels |
//! |---|---|---|---|
//! | [`TOKEN_REQUESTS`] | counter | `{request}` | `grant`, `outcome` |
//! | [`TOKEN_REQUEST_DURATION`] | histogram | `s` | `grant`, `outcome` |
//! | [`RENEWALS`] | counter | `{renewal}` | `grant`, `outcome` |
//! | [`RENEWAL_DURATION`] | histogram | `s` | `grant`, `outcome` |
//! | [`TOKENS_OBTAINED`] | counter | `{token}` | `grant`, `source` |
//! | [`CACHE_HITS`] | counter | `{hit}` | `grant` |
//! | [`STORE_ERRORS`] | counter | `{error}` | `grant`, `store`, `operation` |
//! | [`MIDDLEWARE_RETRIES`] | counter | `{request}` | `grant`, `status` |
//! | [`TIME_TO_EXPIRY`] | gauge | `s` | `grant` |
//!
//! What each one means, when it moves and what to alert on: `docs/observability.md`.
//!
//! ```
//! // Once, after installing the application's recorder:
//! grantkit_core::metrics::describe();
//! assert_eq!(grantkit_core::metrics::TOKEN_REQUESTS, "grantkit.token.requests");
//! ```

use metrics::Unit;

/// Attempts of the grant (one per try: a retry is another attempt), by `outcome`: `ok`,
/// `refused` (an OAuth error or a 4xx the server will repeat), `transient` (retryable: a
/// connect error, 5xx, 429), `timeout` (the attempt timeout or the renewal's deadline), or
/// `error` (anything else: an unusable response, a configuration error).
pub const TOKEN_REQUESTS: &str = "grantkit.token.requests";
/// How long each attempt of the grant took, in seconds, by `outcome` as in
/// [`TOKEN_REQUESTS`].
pub const TOKEN_REQUEST_DURATION: &str = "grantkit.token.request.duration";
/// Renewals (store read-through, lock, attempts), by `outcome`: `ok` (a new token, from
/// the endpoint or the store), `failed` (no new token: callers got the error or the still
/// valid token), `deferred` (another process holds the renewal lock or just failed; the
/// still valid token is served meanwhile).
pub const RENEWALS: &str = "grantkit.token.renewals";
/// How long each renewal took, in seconds, waiting for the store's lock and retries
/// included; `outcome` as in [`RENEWALS`].
pub const RENEWAL_DURATION: &str = "grantkit.token.renewal.duration";
/// New tokens installed, by `source`: `endpoint` (this manager asked the token endpoint) or
/// `store` (another manager or process had renewed it).
pub const TOKENS_OBTAINED: &str = "grantkit.token.obtained";
/// `token()` calls answered from memory. Counted on the hot path per thread without a
/// shared write and added to this counter in batches: every [`CACHE_HIT_BATCH`] hits of a
/// thread, after every renewal, and on
/// [`TokenManager::flush_metrics`](crate::TokenManager::flush_metrics).
pub const CACHE_HITS: &str = "grantkit.token.cache.hits";
/// Store operations that failed and were worked around, by `store` (the backend:
/// `memory`, `file`, `redis`, or a custom store's type name) and `operation` (`load`,
/// `save`, `remove`, `lock`, `unlock`, `save_failure`, `load_failure`).
pub const STORE_ERRORS: &str = "grantkit.store.errors";
/// Requests the reqwest middleware sent again after the API rejected the token, by the
/// rejecting `status`.
pub const MIDDLEWARE_RETRIES: &str = "grantkit.middleware.retries";
/// Seconds until the current token expires (0 when there is none). Set when a token is
/// installed and recomputed from its expiry after every renewal, with every batch of
/// cache hits, and on [`TokenManager::flush_metrics`](crate::TokenManager::flush_metrics).
pub const TIME_TO_EXPIRY: &str = "grantkit.token.time_to_expiry";

/// How many cache hits one thread counts before they are added to [`CACHE_HITS`].
pub const CACHE_HIT_BATCH: u64 = 1024;

/// Registers the unit and description of every metric with the installed recorder (the
/// Prometheus exporter turns them into `# HELP` lines and unit suffixes). Optional; call
/// it once after installing the recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        TOKEN_REQUESTS,
        Unit::Count,
        "Attempts of the grant at the token endpoint, by outcome"
    );
    describe_histogram!(
        TOKEN_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of one attempt of the grant"
    );
    describe_counter!(RENEWALS, Unit::Count, "Token renewals, by outcome");
    describe_histogram!(
        RENEWAL_DURATION,
        Unit::Seconds,
        "Duration of one renewal, lock waits and retries included"
    );
    describe_counter!(
        TOKENS_OBTAINED,
        Unit::Count,
        "New tokens installed, from the endpoint or from the store"
    );
    describe_counter!(
        CACHE_HITS,
        Unit::Count,
        "token() calls answered from memory"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Token store operations that failed and were worked around"
    );
    describe_counter!(
        MIDDLEWARE_RETRIES,
        Unit::Count,
        "API requests sent again after the API rejected the token"
    );
    describe_gauge!(
        TIME_TO_EXPIRY,
        Unit::Seconds,
        "Seconds until the current token expires"
    );
}
