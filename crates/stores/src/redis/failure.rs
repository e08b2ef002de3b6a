//! The Redis store's failure records: `{prefix}failure:{key}`, with the cool-down as TTL.

use std::time::Duration;

use grantkit_core::{FailureRecord, MAX_FAILURE_RECORD_BYTES, Result};

use super::RedisStore;
use crate::codec;

impl RedisStore {
    /// The Redis key of the failure recorded for `key` (see
    /// [`TokenStore::save_failure`](grantkit_core::TokenStore::save_failure)).
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use grantkit_stores::RedisStore;
    ///
    /// let store = RedisStore::from_url("redis://127.0.0.1").unwrap().prefix("app:");
    /// assert_eq!(store.failure_key("client_credentials:x:0af3"), "app:failure:client_credentials:x:0af3");
    /// # }
    /// ```
    pub fn failure_key(&self, key: &str) -> String {
        format!("{}failure:{key}", self.config.prefix)
    }

    pub(super) async fn save_failure_impl(
        &self,
        key: &str,
        failure: &FailureRecord,
        ttl: Duration,
    ) -> Result<()> {
        let failure_key = self.failure_key(key);
        let record = failure.encode();
        let ttl_ms = codec::millis(ttl).max(1);
        self.run("SET (failure)", |mut conn| async move {
            redis::cmd("SET")
                .arg(&failure_key)
                .arg(record)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    pub(super) async fn load_failure_impl(&self, key: &str) -> Result<Option<FailureRecord>> {
        let failure_key = self.failure_key(key);
        let bytes: Option<Vec<u8>> = {
            let failure_key = failure_key.clone();
            self.run("GET (failure)", |mut conn| async move {
                redis::cmd("GET")
                    .arg(&failure_key)
                    .query_async(&mut conn)
                    .await
            })
            .await?
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if bytes.len() > MAX_FAILURE_RECORD_BYTES {
            tracing::warn!(failure_key, "ignoring an oversized failure record");
            return Ok(None);
        }
        match FailureRecord::decode(&bytes) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                tracing::warn!(failure_key, error = %e.report(), "ignoring an unreadable failure record");
                Ok(None)
            }
        }
    }
}
