//! [`RedisStore`]: tokens in Redis, with a fleet-wide refresh lock.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use grantkit_core::{
    Clock, Error, ErrorKind, FailureRecord, LockAttempt, Result, SystemClock, Token, TokenStore,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, RedisFuture, RedisResult, Value};

use crate::codec::{self, EncryptionKey, MAX_RECORD_BYTES};

mod failure;
mod lock;
mod records;
use records::Stored;

/// After a failure to reach Redis, operations fail at once for this long instead of
/// waiting for a timeout each; then the next operation tries again.
const OUTAGE_BACKOFF: Duration = Duration::from_millis(500);

/// Keeps tokens in Redis so that a fleet of processes shares them, with a refresh lock
/// that makes the fleet request one token per expiry.
///
/// # Layout
/// | Redis key | value | TTL |
/// |---|---|---|
/// | `{prefix}{key}` | the token as JSON (or its encrypted envelope) | the token's remaining lifetime (+ [`extra_ttl`](Self::extra_ttl)) |
/// | `{prefix}lock:{key}` | a random lock token | the lock's TTL |
/// | `{prefix}failure:{key}` | the failure of the last renewal that ended without a token ([`TokenStore::save_failure`]), JSON | the failing manager's failure cool-down |
///
/// The prefix defaults to `grantkit:`; keys that begin with `lock:` or `failure:` are
/// therefore reserved and refused. A token past its expiry (plus `extra_ttl`) is stored with a TTL
/// of 1 ms, so it is in effect absent; loading it returns `None`.
///
/// # Guarantees
/// - **Never older over newer**: `save` runs a Lua script that compares `issued_at_ms`
///   with the stored record's and keeps the later one, atomically in Redis. Only a record
///   this store can read is kept that way (see below).
/// - **Refresh lock**: `SET {prefix}lock:{key} <random> NX PX <ttl>`; released by a Lua
///   compare-and-delete, so a holder that overran its TTL never releases the lock of the
///   next holder. Expiry runs on the Redis server's clock.
/// - **Bounded waits**: connecting and each command are bounded by
///   [`connection_timeout`](Self::connection_timeout) and
///   [`response_timeout`](Self::response_timeout) (2 s each by default). After a failure
///   to reach Redis, operations fail at once for 0.5 s before trying again. Every failure
///   is an [`ErrorKind::Store`] error: the manager logs it and carries on with its memory
///   and the token endpoint.
/// - **Reconnects**: the connection (a [`ConnectionManager`], created on first use) is
///   re-established by itself when Redis comes back.
/// - **Unreadable records** (garbage, encrypted under another key, a key of another Redis
///   type such as a list or a hash) are logged and loaded as `None`; the next save
///   replaces them, whatever `issued_at_ms` they claim. The script replaces at once a
///   value that is not JSON, has no integral `issued_at_ms` in `0..2^53`, or claims an
///   issue time more than an hour after the token being saved (`1e300`), and deletes a
///   key of another type before writing; a record it would keep as newer goes back to
///   the client, which keeps it only if it can decode it, and otherwise replaces it with
///   a compare-and-set on the exact value.
///
/// # Redis Cluster
/// With the `redis-cluster` feature, [`RedisStore::cluster_from_urls`] gives the same store
/// over a cluster. Each script touches a single key, so no hash tags are needed.
///
/// ```no_run
/// # #[cfg(feature = "redis")]
/// # async fn run(grant: impl grantkit_core::Grant + 'static) -> grantkit_core::Result<()> {
/// use std::time::Duration;
/// use grantkit_core::TokenManager;
/// use grantkit_stores::RedisStore;
///
/// let store = RedisStore::from_url("redis://127.0.0.1:6379")?
///     .prefix("my-service:")
///     .response_timeout(Duration::from_secs(1));
/// let manager = TokenManager::builder().grant(grant).store(store).build()?;
/// let token = manager.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    config: Arc<Config>,
    state: Arc<State>,
}

#[derive(Clone)]
struct Config {
    target: Target,
    prefix: String,
    connection_timeout: Duration,
    response_timeout: Duration,
    extra_ttl: Duration,
    cipher: Option<EncryptionKey>,
    clock: Arc<dyn Clock>,
}

#[derive(Clone)]
enum Target {
    Single(redis::Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<redis::ConnectionInfo>),
}

#[derive(Default)]
struct State {
    conn: Mutex<Option<Conn>>,
    down_until: Mutex<Option<tokio::time::Instant>>,
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisStore {
    /// A store for the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://` needs a TLS feature of the `redis` crate, `redis+unix:///path`).
    ///
    /// Only parses the URL: the connection is made on first use, inside the tokio runtime,
    /// and remade whenever it fails.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the URL cannot be parsed. The message never repeats the
    /// URL (it may hold a password).
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use grantkit_stores::RedisStore;
    ///
    /// // No runtime and no Redis needed yet: nothing is connected until first use.
    /// let store = RedisStore::from_url("redis://:s3cret@redis.internal:6379/2").unwrap();
    /// assert!(!format!("{store:?}").contains("s3cret"));
    /// assert!(RedisStore::from_url("not a url").is_err());
    /// # }
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::config(format!("invalid Redis URL ({:?})", e.kind())))?;
        Ok(Self::with_target(Target::Single(client)))
    }

    /// A store for a Redis Cluster reached through any of `urls` (the other nodes are
    /// discovered).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when a URL cannot be parsed or `urls` is empty.
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_from_urls<I, S>(urls: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        use redis::IntoConnectionInfo as _;
        let nodes = urls
            .into_iter()
            .map(|u| {
                u.as_ref().into_connection_info().map_err(|e| {
                    Error::config(format!("invalid Redis Cluster URL ({:?})", e.kind()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if nodes.is_empty() {
            return Err(Error::config("a Redis Cluster needs at least one node URL"));
        }
        Ok(Self::with_target(Target::Cluster(nodes)))
    }

    fn with_target(target: Target) -> Self {
        RedisStore {
            config: Arc::new(Config {
                target,
                prefix: "grantkit:".to_owned(),
                connection_timeout: Duration::from_secs(2),
                response_timeout: Duration::from_secs(2),
                extra_ttl: Duration::ZERO,
                cipher: None,
                clock: Arc::new(SystemClock::new()),
            }),
            state: Arc::new(State::default()),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        // Settings apply to connections made from now on; start afresh.
        self.state = Arc::new(State::default());
        self
    }

    /// Prepended to every Redis key (default `grantkit:`); lets several applications or
    /// environments share one Redis.
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.configure(|c| c.prefix = prefix)
    }

    /// The longest a connection attempt may take (default 2 s).
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.connection_timeout = timeout)
    }

    /// The longest Redis may take to answer one command (default 2 s).
    pub fn response_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.response_timeout = timeout)
    }

    /// Sets both [`connection_timeout`](Self::connection_timeout) and
    /// [`response_timeout`](Self::response_timeout).
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use std::time::Duration;
    /// use grantkit_stores::RedisStore;
    ///
    /// // Give up on Redis quickly: the manager then serves from memory and the endpoint.
    /// let store = RedisStore::from_url("redis://127.0.0.1").unwrap().timeout(Duration::from_millis(250));
    /// # let _ = store;
    /// # }
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|c| {
            c.connection_timeout = timeout;
            c.response_timeout = timeout;
        })
    }

    /// Keeps tokens this much longer than their lifetime (default zero). Useful when the
    /// refresh token outlives the access token and the whole fleet may be idle at expiry:
    /// the next process then renews with the stored refresh token instead of logging in
    /// again.
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use std::time::Duration;
    /// use grantkit_stores::RedisStore;
    ///
    /// let store = RedisStore::from_url("redis://127.0.0.1")
    ///     .unwrap()
    ///     .extra_ttl(Duration::from_secs(24 * 3600));
    /// # let _ = store;
    /// # }
    /// ```
    pub fn extra_ttl(self, extra: Duration) -> Self {
        self.configure(|c| c.extra_ttl = extra)
    }

    /// Encrypts tokens at rest with `key`; see [`EncryptionKey`]. Every process sharing the
    /// prefix must use the same key.
    pub fn encryption(self, key: EncryptionKey) -> Self {
        self.configure(|c| c.cipher = Some(key))
    }

    /// The clock used to compute TTLs from tokens' expiry (default: the system clock).
    pub fn clock(self, clock: impl Clock + 'static) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.configure(|c| c.clock = clock)
    }

    /// The Redis key holding the token for `key`.
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use grantkit_stores::RedisStore;
    ///
    /// let store = RedisStore::from_url("redis://127.0.0.1").unwrap().prefix("app:");
    /// assert_eq!(store.redis_key("client_credentials:x:0af3"), "app:client_credentials:x:0af3");
    /// assert_eq!(store.lock_key("client_credentials:x:0af3"), "app:lock:client_credentials:x:0af3");
    /// # }
    /// ```
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.config.prefix)
    }

    /// The Redis key of the refresh lock for `key`.
    pub fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{key}", self.config.prefix)
    }

    fn checked_key(&self, key: &str) -> Result<String> {
        if key.starts_with("lock:") || key.starts_with("failure:") {
            return Err(Error::store(
                "token keys beginning with `lock:` or `failure:` are reserved by the Redis store",
            ));
        }
        Ok(self.redis_key(key))
    }

    fn state_down(&self) -> MutexGuard<'_, Option<tokio::time::Instant>> {
        self.state
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection, made on first use (and after a failed attempt to make it).
    async fn connection(&self) -> RedisResult<Conn> {
        if let Some(conn) = self
            .state
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(conn);
        }
        let c = &self.config;
        let conn = match &c.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(c.connection_timeout))
                    .set_response_timeout(Some(c.response_timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                Conn::Single(ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    config,
                )?)
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => {
                let client = redis::cluster::ClusterClient::builder(nodes.clone())
                    .connection_timeout(c.connection_timeout)
                    .response_timeout(c.response_timeout)
                    .retries(1)
                    .build()?;
                Conn::Cluster(client.get_async_connection().await?)
            }
        };
        let mut slot = self
            .state
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(slot.get_or_insert(conn).clone())
    }

    /// Runs one operation against Redis with a bounded wait, and maps its failure.
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::store("the Redis store needs a tokio runtime"));
        }
        let now = tokio::time::Instant::now();
        if self.state_down().is_some_and(|until| now < until) {
            return Err(Error::store(format!(
                "Redis {op} skipped: Redis was unreachable moments ago"
            )));
        }
        let budget = self.config.connection_timeout + self.config.response_timeout;
        let outcome = tokio::time::timeout(budget, async {
            let conn = self.connection().await?;
            f(conn).await
        })
        .await;
        let error = match outcome {
            Ok(Ok(value)) => {
                *self.state_down() = None;
                return Ok(value);
            }
            Ok(Err(e)) => {
                let unreachable = e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal();
                if unreachable {
                    *self.state_down() = Some(tokio::time::Instant::now() + OUTAGE_BACKOFF);
                }
                Error::store(format!("Redis {op} failed")).with_source(e)
            }
            Err(_) => {
                *self.state_down() = Some(tokio::time::Instant::now() + OUTAGE_BACKOFF);
                Error::new(
                    ErrorKind::Store,
                    format!("Redis {op} did not complete within {budget:?}"),
                )
            }
        };
        Err(error)
    }

    /// The record's TTL: until the token expires, plus `extra_ttl`; at least 1 ms (Redis
    /// refuses zero), so a record already past that is in effect absent.
    fn ttl_ms(&self, token: &Token) -> u64 {
        let keep_until = token.expires_at() + self.config.extra_ttl;
        let ttl = keep_until
            .duration_since(self.config.clock.now())
            .unwrap_or_default();
        codec::millis(ttl).max(1)
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        let redis_key = self.checked_key(key)?;
        let stored = self
            .run("GET", |mut conn| {
                let redis_key = redis_key.clone();
                async move { records::get(&mut conn, &redis_key).await }
            })
            .await?;
        let bytes = match stored {
            Stored::Value(Some(bytes)) => bytes,
            Stored::Value(None) => return Ok(None),
            Stored::WrongType => {
                tracing::warn!(
                    redis_key,
                    "ignoring a key of another Redis type; the next save replaces it"
                );
                return Ok(None);
            }
        };
        if bytes.len() > MAX_RECORD_BYTES {
            tracing::warn!(
                redis_key,
                "ignoring an oversized token record; the next save replaces it"
            );
            return Ok(None);
        }
        match codec::decode(key, &bytes, self.config.cipher.as_ref()) {
            Ok(token) => Ok(Some(token)),
            Err(reason) => {
                tracing::warn!(
                    redis_key,
                    %reason,
                    "ignoring an unreadable token record; the next save replaces it"
                );
                Ok(None)
            }
        }
    }

    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        let redis_key = self.checked_key(key)?;
        self.save_record(key, &redis_key, token).await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let redis_key = self.checked_key(key)?;
        self.run("DEL", |mut conn| async move {
            redis::cmd("DEL")
                .arg(&redis_key)
                .query_async::<i64>(&mut conn)
                .await
        })
        .await?;
        Ok(())
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        self.try_lock_impl(key, ttl).await
    }

    async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
        self.save_failure_impl(key, failure, ttl).await
    }

    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        self.load_failure_impl(key).await
    }

    /// With an [`encryption`](Self::encryption) key.
    fn protects_secrets_at_rest(&self) -> bool {
        self.config.cipher.is_some()
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let mut d = f.debug_struct("RedisStore");
        match &c.target {
            // The address and database only: the URL may hold a password.
            Target::Single(client) => {
                let info = client.get_connection_info();
                d.field("addr", &info.addr().to_string())
                    .field("db", &info.redis_settings().db());
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => {
                let addrs: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
                d.field("cluster", &addrs);
            }
        }
        d.field("prefix", &c.prefix)
            .field("connection_timeout", &c.connection_timeout)
            .field("response_timeout", &c.response_timeout)
            .field("extra_ttl", &c.extra_ttl)
            .field("encrypted", &c.cipher.is_some())
            .finish_non_exhaustive()
    }
}
