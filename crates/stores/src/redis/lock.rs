//! The Redis store's refresh lock: `SET {prefix}lock:{key} <random> NX PX <ttl>`, released
//! by a script that deletes it only while it still holds our random token.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use grantkit_core::{LockAttempt, LockRelease, Result, StoreLock};
use redis::Script;

use super::RedisStore;
use crate::codec;

/// Deletes the lock only if it still holds our token.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

impl RedisStore {
    /// [`TokenStore::try_lock`](grantkit_core::TokenStore::try_lock): `SET NX PX` of a
    /// random token at [`lock_key`](Self::lock_key).
    pub(super) async fn try_lock_impl(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        let lock_key = self.lock_key(key);
        let lock_token = format!(
            "{:016x}{:016x}-{}",
            fastrand::u64(..),
            fastrand::u64(..),
            std::process::id()
        );
        let ttl_ms = codec::millis(ttl).max(1);
        let acquired: Option<String> = {
            let (lock_key, lock_token) = (lock_key.clone(), lock_token.clone());
            self.run("SET NX (lock)", |mut conn| async move {
                redis::cmd("SET")
                    .arg(&lock_key)
                    .arg(&lock_token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?
        };
        if acquired.is_none() {
            return Ok(LockAttempt::Held);
        }
        Ok(LockAttempt::Acquired(StoreLock::new(RedisLock {
            store: self.clone(),
            key: key.to_owned(),
            lock_key,
            lock_token,
        })))
    }
}

/// A held refresh lock of a [`RedisStore`].
struct RedisLock {
    store: RedisStore,
    /// The token key, whose waiters are told when the lock is released.
    key: String,
    lock_key: String,
    lock_token: String,
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("lock_key", &self.lock_key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LockRelease for RedisLock {
    async fn release(self: Box<Self>) -> Result<()> {
        let RedisLock {
            store,
            key,
            lock_key,
            lock_token,
        } = *self;
        let released = store
            .run("unlock", |mut conn| async move {
                Script::new(RELEASE_SCRIPT)
                    .key(&lock_key)
                    .arg(&lock_token)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        // Waiters for a holder that left neither a token nor a failure take the lock now.
        if released == 1 {
            store.notify(&key).await;
        }
        Ok(())
    }
}
