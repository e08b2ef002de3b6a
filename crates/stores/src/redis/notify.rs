//! Change notifications for managers waiting on another process's lock holder: Redis
//! pub/sub on the channel `{prefix}notify:{key}`.
//!
//! A lock holder `PUBLISH`es on the channel after it saved a token, recorded a failure or
//! released the lock; a waiter [`watch`](grantkit_core::TokenStore::watch)es the channel
//! and reads the store when woken, instead of polling it with backoff. The message
//! carries nothing (never a token): it only says "look again".
//!
//! Every wait on a store shares one subscriber connection (the [`Hub`]): made on the
//! store's first wait and kept, subscribed once to each key's channel that was waited
//! for, its messages handed to the waits by a task of its own. So a wait sends nothing
//! to Redis and costs no connection set-up: at a renewal, a fleet's waiters add nothing
//! to Redis's load but the holder's one `PUBLISH` and their reads once woken. When the
//! connection is lost, the waits of the moment are told (they poll), and the next wait
//! connects again. Pub/sub delivers at most once, so the manager still polls, slowly, as
//! a fallback: for a holder that died (its lock expires without a message), a message
//! lost while the subscription was being made, or an outage.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use grantkit_core::{Error, Result, StoreWatch, WatchChanges};
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{OnceCell, oneshot, watch};

use super::{OUTAGE_BACKOFF, RedisStore, Target};

/// The default of [`RedisStore::subscriber_check_after`].
pub(super) const SUBSCRIBER_CHECK_AFTER: Duration = Duration::from_secs(30);

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

    /// [`TokenStore::watch`](grantkit_core::TokenStore::watch): the store's shared
    /// subscriber, subscribed to the key's channel (connected and subscribed on first
    /// use). `None` for Redis Cluster (whose pub/sub broadcasts every message to every
    /// node) and through Sentinel (the master may move under a subscription): the
    /// manager polls there.
    pub(super) async fn watch_impl(&self, key: &str) -> Result<Option<StoreWatch>> {
        let client = match &self.config.target {
            Target::Single(client) => client,
            Target::Sentinel(_) => return Ok(None),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(_) => return Ok(None),
        };
        let now = tokio::time::Instant::now();
        if self.state_down().is_some_and(|until| now < until) {
            return Err(Error::store(
                "Redis SUBSCRIBE skipped: Redis was unreachable moments ago",
            ));
        }
        let budget = self.config.connection_timeout + self.config.response_timeout;
        let channel = self.notify_channel(key);
        let watch = self.state.hub.watch(client, channel, budget).await?;
        watch.live.check_if_silent(
            self.config.subscriber_check_after,
            self.config.response_timeout,
        );
        Ok(Some(StoreWatch::new(watch)))
    }
}

/// A store's one subscriber connection, shared by every wait on it; see the module
/// documentation.
#[derive(Default)]
pub(super) struct Hub {
    /// Locked across a connection attempt, so concurrent first waits make one connection.
    state: tokio::sync::Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    /// The connection of the moment; `None` before the first wait, or once closed and
    /// not yet replaced.
    live: Option<Arc<Live>>,
    /// After a failed attempt to connect, no other before this: the waits queued behind
    /// that attempt fail at once (and poll) instead of each trying for the whole budget.
    retry_after: Option<tokio::time::Instant>,
}

impl Hub {
    /// A watch of `channel`: the receiver is made before the subscription is confirmed,
    /// so every message Redis delivers after `SUBSCRIBE` returned wakes it.
    async fn watch(
        &self,
        client: &redis::Client,
        channel: String,
        budget: Duration,
    ) -> Result<RedisWatch> {
        let live = self.live(client, budget).await?;
        let Some((changes, subscription)) = live.channel(&channel) else {
            return Err(Error::store("the Redis subscriber connection was lost"));
        };
        let subscribed = tokio::time::timeout(
            budget,
            subscription.subscribed.get_or_try_init(|| {
                let mut sink = live.sink.clone();
                let channel = channel.clone();
                async move { sink.subscribe(&channel).await }
            }),
        )
        .await;
        let error = match subscribed {
            Ok(Ok(())) => {
                return Ok(RedisWatch {
                    channel,
                    changes,
                    live,
                });
            }
            Ok(Err(e)) => Error::store("Redis SUBSCRIBE failed").with_source(e),
            Err(_) => Error::store(format!(
                "Redis SUBSCRIBE did not complete within {budget:?}"
            )),
        };
        // A connection that failed a command is not trusted again: the next wait makes a
        // new one.
        live.close();
        Err(error)
    }

    /// The open connection, or a new one.
    async fn live(&self, client: &redis::Client, budget: Duration) -> Result<Arc<Live>> {
        let mut state = self.state.lock().await;
        if let Some(live) = state.live.as_ref().filter(|live| !live.is_closed()) {
            return Ok(Arc::clone(live));
        }
        state.live = None;
        let now = tokio::time::Instant::now();
        if state.retry_after.is_some_and(|at| now < at) {
            return Err(Error::store(
                "Redis subscriber connection skipped: the last attempt failed moments ago",
            ));
        }
        let error = match tokio::time::timeout(budget, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => {
                state.retry_after = None;
                let live = Live::start(pubsub);
                state.live = Some(Arc::clone(&live));
                return Ok(live);
            }
            Ok(Err(e)) => Error::store("Redis subscriber connection failed").with_source(e),
            Err(_) => Error::store(format!(
                "Redis subscriber connection not made within {budget:?}"
            )),
        };
        state.retry_after = Some(tokio::time::Instant::now() + OUTAGE_BACKOFF);
        Err(error)
    }
}

/// One subscriber connection and the channels subscribed on it.
struct Live {
    sink: PubSubSink,
    channels: Mutex<HashMap<String, Arc<Subscription>>>,
    closed: AtomicBool,
    /// When Redis was last heard on the connection: a message, or the answer to a check.
    heard: Mutex<tokio::time::Instant>,
    /// A check is under way.
    checking: AtomicBool,
    /// Dropped with the connection (its store gone): stops the reading task, which
    /// closes the connection.
    _stop: oneshot::Sender<()>,
}

/// One channel: its waits' wake-up, and whether Redis confirmed the subscription.
struct Subscription {
    /// Bumped for every message; each wait holds a receiver. Dropped when the connection
    /// closes, which ends the waits of the moment.
    changes: watch::Sender<u64>,
    subscribed: OnceCell<()>,
}

impl Live {
    /// Starts reading `pubsub`'s messages in a task of their own.
    fn start(pubsub: redis::aio::PubSub) -> Arc<Live> {
        let (sink, stream) = pubsub.split();
        let (stop, stopped) = oneshot::channel();
        let live = Arc::new(Live {
            sink,
            channels: Mutex::default(),
            closed: AtomicBool::new(false),
            heard: Mutex::new(tokio::time::Instant::now()),
            checking: AtomicBool::new(false),
            _stop: stop,
        });
        tokio::spawn(read(stream, Arc::downgrade(&live), stopped));
        live
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<String, Arc<Subscription>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A receiver of `channel`'s messages, and its subscription (to be confirmed).
    /// `None` once the connection closed.
    fn channel(&self, channel: &str) -> Option<(watch::Receiver<u64>, Arc<Subscription>)> {
        let mut channels = self.channels();
        if self.is_closed() {
            return None;
        }
        let subscription = channels.entry(channel.to_owned()).or_insert_with(|| {
            Arc::new(Subscription {
                changes: watch::Sender::new(0),
                subscribed: OnceCell::new(),
            })
        });
        Some((subscription.changes.subscribe(), Arc::clone(subscription)))
    }

    fn heard_now(&self) {
        *self.heard.lock().unwrap_or_else(PoisonError::into_inner) = tokio::time::Instant::now();
    }

    /// After `silence` without a word from Redis, checks the connection with a `PING`, in
    /// a task of its own: without an answer within `timeout` the connection is closed
    /// (its waits poll, the next wait connects again).
    fn check_if_silent(self: &Arc<Self>, silence: Duration, timeout: Duration) {
        let heard = *self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        if heard.elapsed() < silence || self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let live = Arc::clone(self);
        tokio::spawn(async move {
            let mut sink = live.sink.clone();
            match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                Ok(Ok(_)) => live.heard_now(),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "the Redis subscriber connection failed its check; reconnecting at the next wait");
                    live.close();
                }
                Err(_) => {
                    tracing::debug!(
                        ?timeout,
                        "the Redis subscriber connection did not answer its check; reconnecting at the next wait"
                    );
                    live.close();
                }
            }
            live.checking.store(false, Ordering::Release);
        });
    }

    /// Wakes the waits on `channel`.
    fn wake(&self, channel: &str) {
        self.heard_now();
        if let Some(subscription) = self.channels().get(channel) {
            subscription.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Marks the connection as lost: the waits of the moment end (they poll), and the
    /// next wait connects again.
    fn close(&self) {
        // Under the lock, so no channel is added after the clear.
        let mut channels = self.channels();
        self.closed.store(true, Ordering::Release);
        channels.clear();
    }
}

/// The subscriber connection's reading task: hands each message to its channel's waits
/// until the connection is lost or its store is gone.
async fn read(stream: PubSubStream, live: Weak<Live>, stopped: oneshot::Receiver<()>) {
    // Also when the runtime drops this task: the waits must not outlive the reader.
    let _closing = CloseOnDrop(live.clone());
    let mut messages = stream.take_until(stopped);
    while let Some(message) = messages.next().await {
        let Some(live) = live.upgrade() else {
            return;
        };
        live.wake(message.get_channel_name());
    }
}

struct CloseOnDrop(Weak<Live>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(live) = self.0.upgrade() {
            tracing::debug!(
                "the Redis subscriber connection closed; waits poll until the next one"
            );
            live.close();
        }
    }
}

/// One wait's view of a key's channel.
struct RedisWatch {
    channel: String,
    changes: watch::Receiver<u64>,
    /// The connection it listens on (kept open while the wait lasts).
    live: Arc<Live>,
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
        // An error: the sender is gone with the connection.
        self.changes.changed().await.is_ok()
    }
}
