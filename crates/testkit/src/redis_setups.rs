//! Redis set-ups of production: TLS (optionally requiring client certificates), a unix
//! socket, an ACL user, and Redis Sentinel (one master, one replica, three sentinels) that
//! can be made to fail over. All are `redis-server` child processes on free loopback
//! ports, killed when dropped; like [`RedisServer::spawn`], they never skip: a missing
//! binary, or one that refuses an argument (a `redis-server` built without TLS), panics
//! with the server's log.
//!
//! The TLS material is the repository's test-only CA and server certificate
//! ([`certs`]): the server's certificate names `127.0.0.1` and `localhost`.
//!
//! ```no_run
//! use grantkit_testkit::redis_server::RedisServer;
//! use grantkit_testkit::redis_setups::RedisSentinel;
//!
//! let tls = RedisServer::spawn_tls(true); // clients must present a certificate
//! println!("{}", tls.tls_url().unwrap());
//! let sentinel = RedisSentinel::spawn(false);
//! println!("{}", sentinel.url()); // redis+sentinel://127.0.0.1:…,…/mymaster
//! ```

// Test support: a harness that cannot provide Redis must fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs;
use crate::redis_server::{RedisCluster, RedisServer, free_port, missing_binary, ping, read_tail};

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "mymaster";

/// How long a set-up gets to come up, or a fail-over to complete.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The TLS arguments of a server (`--tls-port {tls_port}` and the test certificates).
fn tls_args(require_client_certificate: bool) -> Vec<String> {
    args(&[
        "--tls-port",
        "{tls_port}",
        "--tls-cert-file",
        certs::SERVER,
        "--tls-key-file",
        certs::SERVER_KEY,
        "--tls-ca-cert-file",
        certs::CA,
        "--tls-auth-clients",
        if require_client_certificate {
            "yes"
        } else {
            "no"
        },
    ])
}

impl RedisCluster {
    /// A three-node cluster whose nodes also listen with TLS
    /// ([`tls_urls`](RedisCluster::tls_urls)) and speak TLS to each other on the cluster bus
    /// (`--tls-cluster yes`), with the certificates of [`RedisServer::spawn_tls`]; with
    /// `require_client_certificate`, TLS clients must present one.
    ///
    /// # Panics
    /// As [`RedisCluster::spawn`].
    pub fn spawn_tls(require_client_certificate: bool) -> Self {
        let mut args = tls_args(require_client_certificate);
        // The nodes are each other's TLS clients on the bus: they present the client
        // certificate (the server's is for server authentication only).
        args.extend(self::args(&[
            "--tls-cluster",
            "yes",
            "--tls-client-cert-file",
            certs::CLIENT,
            "--tls-client-key-file",
            certs::CLIENT_KEY,
        ]));
        Self::spawn_with(args)
    }
}

impl RedisServer {
    /// A server with a TLS port ([`tls_url`](Self::tls_url)) beside its plain one, its
    /// certificate issued by [`certs::CA`]; with `require_client_certificate`, TLS clients
    /// must present a certificate that CA issued (`--tls-auth-clients yes`), such as
    /// [`certs::CLIENT`].
    ///
    /// # Panics
    /// As for [`RedisServer::spawn_with`]; a `redis-server` built without TLS refuses
    /// `--tls-port`.
    pub fn spawn_tls(require_client_certificate: bool) -> Self {
        Self::spawn_with(tls_args(require_client_certificate))
    }

    /// A server that also listens on the unix socket `{dir}/redis.sock` (mode 700); see
    /// [`unix_url`](Self::unix_url).
    pub fn spawn_unix() -> Self {
        Self::spawn_with(args(&[
            "--unixsocket",
            "{dir}/redis.sock",
            "--unixsocketperm",
            "700",
        ]))
    }

    /// `redis+unix://{dir}/redis.sock` of a server from [`spawn_unix`](Self::spawn_unix).
    pub fn unix_url(&self) -> Option<String> {
        self.dir()
            .map(|d| format!("redis+unix://{}", d.join("redis.sock").display()))
    }

    /// A server whose `default` user is off and whose only user, `user`, logs in with
    /// `password` and may touch keys matching `key_pattern` (`app:*`) only.
    pub fn spawn_acl(user: &str, password: &str, key_pattern: &str) -> Self {
        Self::spawn_with(vec![
            "--user".to_owned(),
            "default".to_owned(),
            "off".to_owned(),
            "--user".to_owned(),
            user.to_owned(),
            "on".to_owned(),
            format!(">{password}"),
            format!("~{key_pattern}"),
            "+@all".to_owned(),
        ])
    }
}

/// Sends one command to the server on `port` (plain TCP, no auth) and returns its raw
/// RESP answer, or why it could not.
pub fn command(port: u16, parts: &[&str]) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect to {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .map_err(|e| e.to_string())?;
    let mut request = format!("*{}\r\n", parts.len());
    for part in parts {
        request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write to {port}: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // The answer is complete once the server goes quiet.
            Err(_) if !answer.is_empty() => break,
            Err(e) => return Err(format!("read from {port}: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Redis Sentinel on loopback: a master, a replica of it, and three sentinels (quorum 2)
/// monitoring it as [`MASTER_NAME`], with short timeouts (`down-after-milliseconds` 1000,
/// `failover-timeout` 5000). With TLS, every node also has a TLS port (the test
/// certificates, client certificates not required), replication and the sentinels' links
/// run over TLS, and [`url`](Self::url) is `rediss+sentinel://`.
pub struct RedisSentinel {
    nodes: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
    tls: bool,
}

struct SentinelProcess {
    port: u16,
    tls_port: Option<u16>,
    child: Child,
    log: PathBuf,
}

impl RedisSentinel {
    /// Starts the set-up and returns once every sentinel sees the master, the replica and
    /// the two other sentinels.
    ///
    /// # Panics
    /// When `redis-server` is missing, refuses an argument, or the set-up does not come
    /// up within 30 s (with the logs).
    pub fn spawn(tls: bool) -> Self {
        let node_args = || {
            let mut a = if tls {
                let mut a = tls_args(false);
                a.extend(args(&["--tls-replication", "yes"]));
                a
            } else {
                Vec::new()
            };
            a.extend(args(&[
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ]));
            a
        };
        let master = RedisServer::spawn_with(node_args());
        // Replication, and the address the sentinels hand out, use the TLS port with TLS.
        let data_port = |n: &RedisServer| match tls {
            true => n.tls_port().expect("a TLS node has a TLS port"),
            false => n.port().expect("a spawned node has a port"),
        };
        let master_port = data_port(&master);
        let mut replica_args = node_args();
        replica_args.extend(args(&[
            "--replicaof",
            "127.0.0.1",
            &master_port.to_string(),
        ]));
        let replica = RedisServer::spawn_with(replica_args);
        let mut setup = RedisSentinel {
            nodes: vec![master, replica],
            sentinels: Vec::new(),
            tls,
        };
        setup.wait("the replica to sync with the master", |s| {
            let replica = s.nodes[1].port().unwrap_or_default();
            command(replica, &["INFO", "replication"])
                .is_ok_and(|info| info.contains("master_link_status:up"))
        });
        let dir = setup.nodes[0]
            .dir()
            .expect("a spawned node has a directory")
            .to_owned();
        for _ in 0..3 {
            let process = start_sentinel(&dir, master_port, tls);
            setup.sentinels.push(process);
        }
        setup.wait("the sentinels to see the replica and each other", |s| {
            s.sentinels.iter().all(|p| {
                command(p.port, &["INFO", "sentinel"]).is_ok_and(|info| {
                    info.contains(&format!("name={MASTER_NAME},status=ok"))
                        && info.contains("slaves=1,sentinels=3")
                })
            })
        });
        setup
    }

    /// `redis+sentinel://127.0.0.1:{s1},127.0.0.1:{s2},127.0.0.1:{s3}/mymaster` (with TLS,
    /// `rediss+sentinel://` and the sentinels' TLS ports).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| match (self.tls, s.tls_port) {
                (true, Some(p)) => format!("127.0.0.1:{p}"),
                _ => format!("127.0.0.1:{}", s.port),
            })
            .collect();
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The plain port of the node that is the master now, by its own `ROLE`.
    pub fn master_port(&self) -> Option<u16> {
        self.nodes.iter().find_map(|n| {
            let port = n.port()?;
            let role = command(port, &["ROLE"]).ok()?;
            role.contains("$6\r\nmaster\r\n").then_some(port)
        })
    }

    /// The address (`127.0.0.1:port`, the data port) every sentinel names as the master,
    /// when they agree.
    pub fn master_by_sentinels(&self) -> Option<String> {
        let mut agreed: Option<String> = None;
        for s in &self.sentinels {
            let answer = command(
                s.port,
                &["SENTINEL", "get-master-addr-by-name", MASTER_NAME],
            )
            .ok()?;
            let fields: Vec<&str> = answer
                .split("\r\n")
                .filter(|l| !l.starts_with(['*', '$']))
                .collect();
            let addr = format!("{}:{}", fields.first()?, fields.get(1)?);
            match &agreed {
                None => agreed = Some(addr),
                Some(a) if *a == addr => {}
                Some(_) => return None,
            }
        }
        agreed
    }

    /// `SENTINEL FAILOVER mymaster` (the replica is promoted, the master demoted to its
    /// replica), then waits until every sentinel names the new master, the new master
    /// says it is one and the old one replicates from it. Returns the new master's plain
    /// port and the moment every sentinel first named it.
    ///
    /// # Panics
    /// When the sentinel refuses, or the fail-over does not complete within 30 s.
    pub fn failover(&self) -> (u16, Instant) {
        let old = self.master_port().expect("a master before the fail-over");
        let answer = command(
            self.sentinels[0].port,
            &["SENTINEL", "FAILOVER", MASTER_NAME],
        )
        .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"));
        assert!(
            answer.starts_with("+OK"),
            "SENTINEL FAILOVER answered {answer:?}"
        );
        let new = self
            .nodes
            .iter()
            .filter_map(RedisServer::port)
            .find(|p| *p != old)
            .expect("two nodes");
        let new_data = match self.tls {
            true => self
                .nodes
                .iter()
                .find(|n| n.port() == Some(new))
                .and_then(RedisServer::tls_port),
            false => Some(new),
        }
        .expect("a data port");
        let named = format!("127.0.0.1:{new_data}");
        self.wait("the sentinels to name the new master", |s| {
            s.master_by_sentinels().as_ref() == Some(&named)
        });
        let agreed = Instant::now();
        self.wait("the fail-over to complete", |s| {
            s.master_by_sentinels() == Some(named.clone())
                && s.master_port() == Some(new)
                && command(old, &["INFO", "replication"])
                    .is_ok_and(|i| i.contains("role:slave") && i.contains("master_link_status:up"))
        });
        (new, agreed)
    }

    fn wait(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ready(self) {
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .sentinels
                    .iter()
                    .map(|s| format!("sentinel {}:\n{}", s.port, read_tail(&s.log)))
                    .collect();
                panic!(
                    "Redis Sentinel: waited {READY_TIMEOUT:?} for {what}; the sentinels' logs:\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn start_sentinel(dir: &std::path::Path, master_port: u16, tls: bool) -> SentinelProcess {
    let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let tls_port = tls.then(free_port);
        let conf = dir.join(format!("sentinel-{port}.conf"));
        let log = dir.join(format!("sentinel-{port}.log"));
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir.display()
        );
        if let Some(tls_port) = tls_port {
            text.push_str(&format!(
                "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\ntls-replication yes\n",
                certs::SERVER,
                certs::SERVER_KEY,
                certs::CA
            ));
        }
        std::fs::write(&conf, text).expect("cannot write the sentinel's configuration");
        let spawned = Command::new(&binary)
            .arg(&conf)
            .arg("--sentinel")
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing_binary(&binary),
            Err(e) => panic!("cannot run {binary}: {e}"),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ping(port) {
                return SentinelProcess {
                    port,
                    tls_port,
                    child,
                    log,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                last_error = format!("exited with {status}; its log:\n{}", read_tail(&log));
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!("did not answer PING; its log:\n{}", read_tail(&log));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("could not start a sentinel (redis-server --sentinel): {last_error}");
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sentinels: Vec<u16> = self.sentinels.iter().map(|s| s.port).collect();
        f.debug_struct("RedisSentinel")
            .field("nodes", &self.nodes)
            .field("sentinels", &sentinels)
            .field("tls", &self.tls)
            .finish()
    }
}
