//! [`RedisStore`]: tokens in Redis, with a fleet-wide refresh lock.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use grantkit_core::{
    Clock, Error, ErrorKind, FailureRecord, LockAttempt, Result, StoreWatch, SystemClock, Token,
    TokenStore,
};
use redis::RedisResult;

use crate::codec::{self, EncryptionKey, MAX_RECORD_BYTES};

mod connect;
mod failure;
mod lock;
mod notify;
mod options;
mod records;
use connect::{Conn, Target};
pub use options::RedisOptions;
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
/// | `{prefix}notify:{key}` | a pub/sub channel (not a key): `changed` is published after each save of a token or a failure and each release of the lock | — |
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
/// - **Waiting without polling**: [`TokenStore::watch`] listens on the key's channel, so a
///   manager waiting for another process's lock holder reads the store when the holder
///   announces its outcome. Every wait on a store (and its clones) shares one subscriber
///   connection, made at the first wait and kept: a wait sends no command of its own
///   (but a `PING` when the connection was silent for
///   [`subscriber_check_after`](Self::subscriber_check_after)). The
///   manager's slow polling remains the fallback (pub/sub delivers at most once). Not with
///   Redis Cluster nor through Sentinel, whose waiters poll.
/// - **Reconnects**: the connection (a
///   [`ConnectionManager`](redis::aio::ConnectionManager), created on first use) is
///   re-established by itself when Redis comes back; through Sentinel, the master is looked
///   up again.
/// - **Unreadable records** (garbage, encrypted under another key, a key of another Redis
///   type such as a list or a hash) are logged and loaded as `None`; the next save
///   replaces them, whatever `issued_at_ms` they claim. The script replaces at once a
///   value that is not JSON, has no integral `issued_at_ms` in `0..2^53`, or claims an
///   issue time more than an hour after the token being saved (`1e300`), and deletes a
///   key of another type before writing; a record it would keep as newer goes back to
///   the client, which keeps it only if it can decode it, and otherwise replaces it with
///   a compare-and-set on the exact value.
///
/// # Redis Sentinel
/// `redis+sentinel://host:26379,host:26379/mymaster` (see
/// [`from_url_with`](Self::from_url_with)) connects to the master the sentinels name, and
/// asks them again after a failure of its connection (I/O, timeout, `READONLY`,
/// `MASTERDOWN`), or when the sentinels name another master (checked every second, in the
/// background). During a fail-over, writes the old master took after the promotion are
/// lost: for that moment two processes may hold the refresh lock (docs/stores.md, "Redis
/// Sentinel").
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
    subscriber_check_after: Duration,
    extra_ttl: Duration,
    cipher: Option<EncryptionKey>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    conn: Mutex<Option<Conn>>,
    down_until: Mutex<Option<tokio::time::Instant>>,
    hub: notify::Hub,
}

impl RedisStore {
    /// A store for the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://` verified against the platform's trust store, `redis+unix:///path`,
    /// `redis+sentinel://…`); [`from_url_with`](Self::from_url_with) for a CA file, a
    /// client certificate or credentials beside the URL.
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
        Self::from_url_with(url, &RedisOptions::new())
    }

    /// A store for the Redis server or Sentinel set-up at `url`, with TLS material and
    /// credentials from `options`:
    ///
    /// | URL | what |
    /// |---|---|
    /// | `redis://[[user]:password@]host[:port][/db]` | one server (port 6379) |
    /// | `rediss://[[user]:password@]host[:port][/db]` | one server over TLS, its certificate verified ([`RedisOptions::ca_file`], else the platform's trust store) |
    /// | `redis+unix:///path/redis.sock[?db=N&user=U&pass=P]` | a unix socket |
    /// | `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/master[/db]` | the master named `master`, found through Redis Sentinel (sentinel port 26379); the user and password are the master's |
    /// | `rediss+sentinel://…` | the same, over TLS to the sentinels and the master |
    ///
    /// Reads the files of `options` now; connects on first use (see
    /// [`from_url`](Self::from_url)). `#insecure` (no certificate verification) is refused.
    /// The sentinels themselves are reached without a password.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the URL cannot be parsed, a file cannot be read or holds
    /// no certificate (or key), TLS material is given for a URL without TLS, or the user or
    /// password is given both in the URL and in `options`. Messages name the option or the
    /// file, never the URL.
    ///
    /// ```no_run
    /// # #[cfg(feature = "redis")]
    /// # fn run() -> grantkit_core::Result<()> {
    /// use grantkit_core::Password;
    /// use grantkit_stores::{RedisOptions, RedisStore};
    ///
    /// let password = Password::new(std::fs::read_to_string("/run/secrets/redis").unwrap_or_default());
    /// let options = RedisOptions::new()
    ///     .ca_file("/etc/redis/ca.pem")
    ///     .client_certificate_files("/etc/redis/client.pem", "/etc/redis/client-key.pem")
    ///     .username("grantkit")
    ///     .password(password);
    /// let store = RedisStore::from_url_with(
    ///     "rediss+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster",
    ///     &options,
    /// )?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn from_url_with(url: &str, options: &RedisOptions) -> Result<Self> {
        Ok(Self::with_target(connect::target(url, options)?))
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
        Self::cluster_from_urls_with(urls, &RedisOptions::new())
    }

    /// [`cluster_from_urls`](Self::cluster_from_urls) with `options` for every node: the
    /// ACL user and password, and, for `rediss://` nodes, the CA that verifies them and
    /// the client certificate they may ask for (as
    /// [`from_url_with`](Self::from_url_with) for one server).
    ///
    /// ```
    /// # #[cfg(feature = "redis-cluster")] {
    /// use grantkit_core::Password;
    /// use grantkit_stores::{RedisOptions, RedisStore};
    ///
    /// let options = RedisOptions::new()
    ///     .username("grantkit")
    ///     .password(Password::new("s3cret"));
    /// let store = RedisStore::cluster_from_urls_with(
    ///     ["rediss://10.0.0.1:6380", "rediss://10.0.0.2:6380"],
    ///     &options,
    /// )
    /// .unwrap();
    /// assert!(!format!("{store:?}").contains("s3cret"));
    /// // TLS material needs `rediss://` nodes, all of them.
    /// let ca = RedisOptions::new().ca_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
    /// assert!(RedisStore::cluster_from_urls_with(["redis://10.0.0.1:6379"], &ca).is_err());
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`cluster_from_urls`](Self::cluster_from_urls), and [`ErrorKind::Config`] for
    /// TLS material with `redis://` nodes, URLs that mix `redis://` and `rediss://`, a
    /// `#insecure` URL, a credential given both in a URL and in `options`, or a file that
    /// cannot be read.
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_from_urls_with<I, S>(urls: I, options: &RedisOptions) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::with_target(connect::cluster(urls, options)?))
    }

    fn with_target(target: Target) -> Self {
        RedisStore {
            config: Arc::new(Config {
                target,
                prefix: "grantkit:".to_owned(),
                connection_timeout: Duration::from_secs(2),
                response_timeout: Duration::from_secs(2),
                subscriber_check_after: notify::SUBSCRIBER_CHECK_AFTER,
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

    /// How long the subscriber connection that waits share may stay silent before the
    /// next wait checks it with a `PING` (default 30 s). A load balancer or NAT that drops
    /// idle connections without a word (Azure's after 4 minutes, AWS NLB's after 350 s)
    /// leaves a subscriber that hears nothing more; the check finds it within
    /// [`response_timeout`](Self::response_timeout), ends the waits on it (they poll) and
    /// the next wait connects again. The check runs beside the wait, never before it.
    pub fn subscriber_check_after(self, silence: Duration) -> Self {
        self.configure(|c| c.subscriber_check_after = silence)
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
                self.connection_failed(Some(&e));
                let unreachable = e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal();
                if unreachable {
                    *self.state_down() = Some(tokio::time::Instant::now() + OUTAGE_BACKOFF);
                }
                match connect::hint(&e) {
                    Some(hint) => Error::store(format!("Redis {op} failed: {hint}")),
                    None => Error::store(format!("Redis {op} failed")),
                }
                .with_source(e)
            }
            Err(_) => {
                self.connection_failed(None);
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
        self.save_record(key, &redis_key, token).await?;
        self.notify(key).await;
        Ok(())
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
        self.save_failure_impl(key, failure, ttl).await?;
        self.notify(key).await;
        Ok(())
    }

    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        self.load_failure_impl(key).await
    }

    /// With an [`encryption`](Self::encryption) key.
    fn protects_secrets_at_rest(&self) -> bool {
        self.config.cipher.is_some()
    }
    async fn watch(&self, key: &str) -> Result<Option<StoreWatch>> {
        self.checked_key(key)?;
        self.watch_impl(key).await
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let mut d = f.debug_struct("RedisStore");
        connect::describe(&c.target, &mut d);
        d.field("prefix", &c.prefix)
            .field("connection_timeout", &c.connection_timeout)
            .field("response_timeout", &c.response_timeout)
            .field("extra_ttl", &c.extra_ttl)
            .field("encrypted", &c.cipher.is_some())
            .finish_non_exhaustive()
    }
}
