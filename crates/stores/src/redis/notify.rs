//! Change notifications for managers waiting on another process's lock holder: Redis
//! pub/sub on the channel `{prefix}notify:{key}`.
//!
//! A lock holder `PUBLISH`es on the channel after it saved a token, recorded a failure or
//! released the lock; a waiter [`watch`](grantkit_core::TokenStore::watch)es the channel
//! (a connection of its own, subscribed for the duration of one wait) and reads the store
//! when woken, instead of polling it with backoff. The message carries nothing (never a
//! token): it only says "look again". Pub/sub delivers at most once, so the manager
//! still polls, slowly, as a fallback: for a holder that died (its lock expires without a
//! message), a message lost while the subscription was being made, or an outage.

use std::fmt;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use grantkit_core::{Error, Result, StoreWatch, WatchChanges};

use super::{RedisStore, Target};

impl RedisStore {
    /// The pub/sub channel on which changes under `key` are announced.
    pub(super) fn notify_channel(&self, key: &str) -> String {
        format!("{}notify:{key}", self.config.prefix)
    }

    /// Announces a change under `key` to the managers waiting for it. A failure is only
    /// logged: waiters find the change by polling.
    pub(super) async fn notify(&self, key: &str) {
        let channel = self.notify_channel(key);
        let published = self
            .run("PUBLISH", |mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg("changed")
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if let Err(e) = published {
            tracing::debug!(error = %e.report(), "could not announce a change; waiters will poll");
        }
    }

    /// [`TokenStore::watch`](grantkit_core::TokenStore::watch): a connection of its own,
    /// subscribed to the key's channel. `None` for Redis Cluster (whose pub/sub
    /// broadcasts every message to every node) and through Sentinel (the master may move
    /// under a subscription): the manager polls there.
    pub(super) async fn watch_impl(&self, key: &str) -> Result<Option<StoreWatch>> {
        let client = match &self.config.target {
            Target::Single(client) => (**client).clone(),
            Target::Sentinel(_) => return Ok(None),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(_) => return Ok(None),
        };
        let channel = self.notify_channel(key);
        let budget = self.config.connection_timeout + self.config.response_timeout;
        let subscribed = tokio::time::timeout(budget, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => Ok(Some(StoreWatch::new(RedisWatch { channel, pubsub }))),
            Ok(Err(e)) => Err(Error::store("Redis SUBSCRIBE failed").with_source(e)),
            Err(_) => Err(Error::store(format!(
                "Redis SUBSCRIBE did not complete within {budget:?}"
            ))),
        }
    }
}

/// A subscription to one key's channel; unsubscribed (its connection closed) when dropped.
struct RedisWatch {
    channel: String,
    pubsub: redis::aio::PubSub,
}

impl fmt::Debug for RedisWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWatch")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl WatchChanges for RedisWatch {
    async fn changed(&mut self) -> bool {
        // The stream ends when the connection is lost.
        self.pubsub.on_message().next().await.is_some()
    }
}
