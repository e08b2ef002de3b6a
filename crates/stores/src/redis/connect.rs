//! How a [`RedisStore`] reaches Redis: the URL schemes (`redis://`, `rediss://`,
//! `redis+unix://`, `redis+sentinel://`, `rediss+sentinel://`), TLS material, ACL
//! credentials, the connection of each kind of target, and the hints its errors carry.
//!
//! Nothing here ever formats a URL, a password or a private key: errors name the option
//! or the file, and `Debug` shows addresses only.

use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use grantkit_core::{Error, Result};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo as _,
    RedisError, RedisFuture, RedisResult, TlsMode, Value,
};

use super::RedisOptions;
use super::RedisStore;

/// The port of a sentinel named without one.
const SENTINEL_PORT: u16 = 26379;

/// What a store connects to.
#[derive(Clone)]
pub(super) enum Target {
    // Boxed: a client with TLS parameters is some 240 bytes.
    Single(Box<Client>),
    Sentinel(Arc<SentinelTarget>),
    #[cfg(feature = "redis-cluster")]
    Cluster(Arc<ClusterTarget>),
}

/// The nodes a Redis Cluster is first reached through, and the TLS material of
/// [`RedisOptions`] for every node.
#[cfg(feature = "redis-cluster")]
pub(super) struct ClusterTarget {
    nodes: Vec<ConnectionInfo>,
    certificates: Option<redis::TlsCertificates>,
}

/// The cluster `urls` name, with `options` applied to every node: the user and password,
/// and, for `rediss://` nodes, the CA and client certificate.
#[cfg(feature = "redis-cluster")]
pub(super) fn cluster<I, S>(urls: I, options: &RedisOptions) -> Result<Target>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut nodes = Vec::new();
    for url in urls {
        let info = url
            .as_ref()
            .into_connection_info()
            .map_err(|e| Error::config(format!("invalid Redis Cluster URL ({:?})", e.kind())))?;
        nodes.push(with_credentials(info, options)?);
    }
    if nodes.is_empty() {
        return Err(Error::config("a Redis Cluster needs at least one node URL"));
    }
    let tls = |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    if nodes
        .iter()
        .any(|n| matches!(n.addr(), ConnectionAddr::TcpTls { insecure: true, .. }))
    {
        return Err(Error::config(
            "a Redis Cluster URL turns certificate verification off (`#insecure`); trust the \
             servers' CA with a CA file instead",
        ));
    }
    if nodes.iter().any(tls) != nodes.iter().all(tls) {
        return Err(Error::config(
            "the Redis Cluster URLs mix `redis://` and `rediss://`; the cluster speaks one",
        ));
    }
    let certificates = match options.has_tls_material() {
        true if nodes.iter().all(tls) => Some(options.certificates()?),
        true => return Err(no_tls()),
        false => None,
    };
    Ok(Target::Cluster(Arc::new(ClusterTarget {
        nodes,
        certificates,
    })))
}

/// A master found through Redis Sentinel.
pub(super) struct SentinelTarget {
    client: tokio::sync::Mutex<SentinelClient>,
    sentinels: Vec<String>,
    master: String,
    db: i64,
    tls: bool,
    username: Option<String>,
}

/// The connection of a store: a [`ConnectionManager`] (which reconnects by itself) for one
/// server; for Sentinel a connection to the master of the moment, replaced (the master
/// looked up again) after a failure.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Sentinel(MultiplexedConnection, Arc<MasterCheck>),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// How often a Sentinel master's connection asks the sentinels whether that server is still
/// the master. During a fail-over the old master keeps taking writes until Sentinel demotes
/// it (at its next `INFO`, up to 10 s later); this check leaves it once the sentinels name
/// another.
const MASTER_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The master a Sentinel connection goes to, and when the sentinels last confirmed it.
pub(super) struct MasterCheck {
    addr: String,
    checked: std::sync::Mutex<tokio::time::Instant>,
}

impl MasterCheck {
    /// Whether a check is due; if so, the next one is not due before the interval.
    fn due(&self) -> bool {
        let now = tokio::time::Instant::now();
        let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
        if now.duration_since(*checked) < MASTER_CHECK_INTERVAL {
            return false;
        }
        *checked = now;
        true
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c, _) => c.req_packed_command(cmd),
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
            Conn::Sentinel(c, _) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Sentinel(c, _) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The target `url` names, with `options` applied.
pub(super) fn target(url: &str, options: &RedisOptions) -> Result<Target> {
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        return sentinel(rest, false, options);
    }
    if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
        return sentinel(rest, true, options);
    }
    let info = url
        .into_connection_info()
        .map_err(|e| Error::config(format!("invalid Redis URL ({:?})", e.kind())))?;
    let info = with_credentials(info, options)?;
    match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => Err(Error::config(
            "the Redis URL turns certificate verification off (`#insecure`); trust the \
             server's CA with a CA file instead",
        )),
        ConnectionAddr::TcpTls { .. } if options.has_tls_material() => {
            let certificates = options.certificates()?;
            let client = Client::build_with_tls(info, certificates).map_err(|e| {
                Error::config(format!(
                    "the Redis TLS certificates cannot be used ({:?})",
                    e.kind()
                ))
            })?;
            Ok(Target::Single(Box::new(client)))
        }
        ConnectionAddr::TcpTls { .. } => Ok(Target::Single(Box::new(open(info)?))),
        _ if options.has_tls_material() => Err(no_tls()),
        _ => Ok(Target::Single(Box::new(open(info)?))),
    }
}

fn no_tls() -> Error {
    Error::config(
        "a CA file or client certificate needs a TLS URL (`rediss://` or `rediss+sentinel://`)",
    )
}

fn open(info: ConnectionInfo) -> Result<Client> {
    Client::open(info).map_err(|e| Error::config(format!("invalid Redis URL ({:?})", e.kind())))
}

/// `info` with the user and password of `options`, refusing them twice.
fn with_credentials(info: ConnectionInfo, options: &RedisOptions) -> Result<ConnectionInfo> {
    let mut settings = info.redis_settings().clone();
    if let Some(username) = options.username_option() {
        if settings.username().is_some() {
            return Err(Error::config(
                "the Redis user is given twice: in the URL and as an option; give one",
            ));
        }
        settings = settings.set_username(username);
    }
    if let Some(password) = options.password_option() {
        if settings.password().is_some() {
            return Err(Error::config(
                "the Redis password is given twice: in the URL and as an option; give one",
            ));
        }
        settings = settings.set_password(password.secret());
    }
    Ok(info.set_redis_settings(settings))
}

/// `[[user]:password@]host[:port][,host[:port]…]/master[/db]`, after the scheme.
fn sentinel(rest: &str, tls: bool, options: &RedisOptions) -> Result<Target> {
    let invalid = |why: &str| Error::config(format!("invalid Redis Sentinel URL: {why}"));
    if rest.contains(['?', '#']) {
        return Err(invalid("it takes no query and no fragment"));
    }
    let (authority, path) = rest
        .split_once('/')
        .ok_or_else(|| invalid("name the master: `/mymaster` after the sentinels"))?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',') {
        sentinels.push(sentinel_host(host).ok_or_else(|| {
            invalid("each sentinel is `host[:port]` (IPv6 in brackets), separated by commas")
        })?);
    }
    let (master, db) = match path.split_once('/') {
        None => (path, 0),
        Some((master, db)) => (
            master,
            db.parse::<i64>()
                .ok()
                .filter(|db| *db >= 0)
                .ok_or_else(|| invalid("the database after the master's name is a number"))?,
        ),
    };
    if master.is_empty() {
        return Err(invalid("name the master: `/mymaster` after the sentinels"));
    }
    // The user and password are the master's (and replicas'), percent-decoded as in
    // `redis://` URLs: let the redis crate read them there.
    let settings = match userinfo {
        Some(userinfo) => format!("redis://{userinfo}@localhost/")
            .into_connection_info()
            .map_err(|_| invalid("the user or password is malformed"))?,
        None => "redis://localhost/"
            .into_connection_info()
            .map_err(|_| invalid("the user or password is malformed"))?,
    };
    let settings = with_credentials(settings, options)?;
    let redis = settings.redis_settings();
    if options.has_tls_material() && !tls {
        return Err(no_tls());
    }
    let addrs = sentinels.iter().map(|(host, port)| {
        if tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let failed = |e: RedisError| {
        Error::config(format!(
            "the Redis Sentinel set-up cannot be used ({:?})",
            e.kind()
        ))
    };
    let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
        .map_err(failed)?
        .set_client_to_redis_db(db);
    if let Some(username) = redis.username() {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = redis.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    if tls {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if options.has_tls_material() {
            let certificates = options.certificates()?;
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates);
        }
    }
    let client = builder.build().map_err(failed)?;
    Ok(Target::Sentinel(Arc::new(SentinelTarget {
        client: tokio::sync::Mutex::new(client),
        sentinels: sentinels
            .iter()
            .map(|(host, port)| match host.contains(':') {
                true => format!("[{host}]:{port}"),
                false => format!("{host}:{port}"),
            })
            .collect(),
        master: master.to_owned(),
        db,
        tls,
        username: redis.username().map(str::to_owned),
    })))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn sentinel_host(text: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => SENTINEL_PORT,
        Some(port) => port.parse().ok().filter(|p| *p != 0)?,
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._:".contains(c);
    (!host.is_empty() && host.chars().all(plain)).then(|| (host.to_owned(), port))
}

impl RedisStore {
    /// The connection, made on first use (and after a failed attempt to make it, or a
    /// failure of a Sentinel master's connection).
    pub(super) async fn connection(&self) -> RedisResult<Conn> {
        let c = &self.config;
        let cached = self
            .state
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match (cached, &c.target) {
            (Some(Conn::Sentinel(conn, check)), Target::Sentinel(_)) => {
                if check.due() {
                    // In the background: an operation never waits for the sentinels.
                    tokio::spawn(self.clone().check_master(Arc::clone(&check)));
                }
                return Ok(Conn::Sentinel(conn, check));
            }
            (Some(conn), _) => return Ok(conn),
            (None, _) => {}
        }
        let conn = match &c.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(c.connection_timeout))
                    .set_response_timeout(Some(c.response_timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                Conn::Single(ConnectionManager::new_lazy_with_config(
                    Client::clone(client),
                    config,
                )?)
            }
            Target::Sentinel(sentinel) => {
                // Asks the sentinels which server is the master now; the redis crate checks
                // that the server says so itself (`ROLE`) before handing out its client.
                let master = sentinel.client.lock().await.async_get_client().await?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(c.connection_timeout))
                    .set_response_timeout(Some(c.response_timeout));
                let check = Arc::new(MasterCheck {
                    addr: master.get_connection_info().addr().to_string(),
                    checked: std::sync::Mutex::new(tokio::time::Instant::now()),
                });
                Conn::Sentinel(
                    master
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                    check,
                )
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(cluster) => {
                let mut builder = redis::cluster::ClusterClient::builder(cluster.nodes.clone())
                    .connection_timeout(c.connection_timeout)
                    .response_timeout(c.response_timeout)
                    .retries(1);
                if let Some(certificates) = &cluster.certificates {
                    builder = builder.certs(certificates.clone());
                }
                let client = builder.build()?;
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

    /// Asks the sentinels which server is the master; when they name another than the one
    /// `check` is for, its connection is dropped (if still in use) so that the next
    /// operation connects to the new master. Sentinels that cannot be asked leave a working
    /// master in use.
    async fn check_master(self, check: Arc<MasterCheck>) {
        let Target::Sentinel(sentinel) = &self.config.target else {
            return;
        };
        let budget = self.config.connection_timeout + self.config.response_timeout;
        let named = tokio::time::timeout(budget, async {
            sentinel.client.lock().await.async_get_client().await
        })
        .await;
        let Ok(Ok(master)) = named else {
            return;
        };
        if master.get_connection_info().addr().to_string() == check.addr {
            return;
        }
        let mut slot = self
            .state
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(&*slot, Some(Conn::Sentinel(_, c)) if Arc::ptr_eq(c, &check)) {
            tracing::info!(
                old = %check.addr,
                "the sentinels name another Redis master; reconnecting"
            );
            *slot = None;
        }
    }

    /// After an operation failed with `error` (`None`: it timed out): a Sentinel master's
    /// connection that broke, timed out or landed on a server that is no longer the master
    /// (`READONLY`, `MASTERDOWN`, `LOADING`) is dropped, so the next operation asks the
    /// sentinels again. Other targets reconnect by themselves.
    pub(super) fn connection_failed(&self, error: Option<&RedisError>) {
        if !matches!(self.config.target, Target::Sentinel(_)) {
            return;
        }
        let stale = error.is_none_or(|e| {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
        });
        if stale {
            *self
                .state
                .conn
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

/// A hint for a failure the operator can fix: TLS refused on either side, or the
/// credentials refused. Never quotes the server's message (it may echo input).
pub(super) fn hint(error: &RedisError) -> Option<&'static str> {
    const UNTRUSTED: &str =
        "the Redis server's TLS certificate is not trusted (check the CA file and the host name)";
    const REFUSED: &str =
        "the Redis server refused the TLS handshake (does it require a client certificate?)";
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
    {
        return Some("Redis refused the credentials (check the user and password)");
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match tls {
            Some(rustls::Error::InvalidCertificate(_)) => return Some(UNTRUSTED),
            Some(rustls::Error::AlertReceived(_)) => return Some(REFUSED),
            Some(_) => return Some("the TLS handshake with Redis failed"),
            None => source = e.source(),
        }
    }
    // The redis crate keeps an I/O error's cause to itself (no `source()`): recognise
    // rustls's own words in its text.
    let text = error.to_string();
    if text.contains("invalid peer certificate") {
        Some(UNTRUSTED)
    } else if text.contains("received fatal alert") {
        Some(REFUSED)
    } else {
        None
    }
}

/// The target's fields for the store's `Debug`: addresses, database, TLS, user; never a
/// password.
pub(super) fn describe(target: &Target, d: &mut fmt::DebugStruct<'_, '_>) {
    match target {
        Target::Single(client) => {
            let info = client.get_connection_info();
            d.field("addr", &info.addr().to_string())
                .field("tls", &matches!(info.addr(), ConnectionAddr::TcpTls { .. }))
                .field("db", &info.redis_settings().db())
                .field("username", &info.redis_settings().username());
        }
        Target::Sentinel(s) => {
            d.field("sentinels", &s.sentinels)
                .field("master", &s.master)
                .field("tls", &s.tls)
                .field("db", &s.db)
                .field("username", &s.username);
        }
        #[cfg(feature = "redis-cluster")]
        Target::Cluster(cluster) => {
            let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr().to_string()).collect();
            d.field("cluster", &addrs)
                .field("tls_material", &cluster.certificates.is_some());
        }
    }
}

#[cfg(test)]
mod tests;
