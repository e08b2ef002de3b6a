//! A real Redis for tests: `REDIS_URL` if set, else a `redis-server` child process on a
//! free loopback port, killed when the handle is dropped.
//!
//! Tests never skip silently: without `REDIS_URL` and without a `redis-server` binary,
//! [`RedisServer::start`] panics with instructions (`apt-get install redis-server`). Set
//! `REDIS_SERVER` to use a binary that is not on `PATH`.
//!
//! ```no_run
//! use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
//!
//! let redis = RedisServer::start();
//! let prefix = unique_prefix("my_test"); // keys of parallel tests never collide
//! println!("{} {prefix}", redis.url());
//! ```

// Test support: a harness that cannot provide Redis must fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a started server gets to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis server for one test; see the [module docs](self).
pub struct RedisServer {
    url: String,
    port: Option<u16>,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    tls_port: Option<u16>,
}

impl RedisServer {
    /// `REDIS_URL` if set, else a new `redis-server` on a free loopback port.
    ///
    /// # Panics
    /// When no Redis can be had: no `REDIS_URL` and no `redis-server` binary (with
    /// install instructions), or the server does not come up.
    pub fn start() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => RedisServer {
                url,
                port: None,
                child: None,
                dir: None,
                extra_args: Vec::new(),
                tls_port: None,
            },
            _ => Self::spawn(),
        }
    }

    /// A new `redis-server` child process, whatever `REDIS_URL` says; for tests that stop
    /// and restart it.
    ///
    /// # Panics
    /// As for [`RedisServer::start`].
    pub fn spawn() -> Self {
        Self::spawn_with(Vec::new())
    }

    /// A new `redis-server` child process with `extra_args` after the harness's own
    /// (`--port`, `--bind 127.0.0.1`, `--dir`, `--logfile`, no persistence). In the
    /// arguments, `{port}`, `{bus_port}` and `{tls_port}` become free loopback ports
    /// (`{tls_port}` then gives [`tls_url`](Self::tls_url)) and `{dir}` the server's
    /// temporary directory.
    ///
    /// # Panics
    /// As for [`RedisServer::start`], and when the server does not accept the arguments
    /// (with the end of its log: e.g. a `redis-server` built without TLS).
    pub fn spawn_with(extra_args: Vec<String>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("grantkit-redis-")
            .tempdir()
            .expect("cannot create a temporary directory for redis-server");
        let mut last_error = String::new();
        // A free port can be taken by someone else before redis binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut extra = extra_args.clone();
            let dir_text = dir.path().display().to_string();
            for arg in &mut extra {
                *arg = arg
                    .replace("{port}", &port.to_string())
                    .replace("{dir}", &dir_text);
            }
            let mut other_port = |placeholder: &str| {
                let used = extra.iter().any(|a| a.contains(placeholder));
                let other = used.then(free_port);
                if let Some(other) = other {
                    for arg in &mut extra {
                        *arg = arg.replace(placeholder, &other.to_string());
                    }
                }
                other
            };
            other_port("{bus_port}");
            let tls_port = other_port("{tls_port}");
            let mut server = RedisServer {
                url: format!("redis://127.0.0.1:{port}/"),
                port: Some(port),
                child: None,
                dir: None,
                extra_args: extra,
                tls_port,
            };
            match server.launch(port, dir.path()) {
                Ok(()) => {
                    server.dir = Some(dir);
                    return server;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    /// The URL to connect to, e.g. `redis://127.0.0.1:41234/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `rediss://127.0.0.1:{tls_port}/` for a server started with `{tls_port}` (see
    /// [`spawn_tls`](Self::spawn_tls)).
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("rediss://127.0.0.1:{p}/"))
    }

    /// The TLS port of a server started with `{tls_port}`.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The server's temporary directory (its log, its unix socket); `None` for `REDIS_URL`.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The port of a server this harness started; `None` for `REDIS_URL`.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the server comes from `REDIS_URL` (and cannot be stopped).
    pub fn is_external(&self) -> bool {
        self.child.is_none() && self.dir.is_none()
    }

    /// Kills the server (`SIGKILL`, like a crash) and waits for it to be gone.
    ///
    /// # Panics
    /// For a server from `REDIS_URL`.
    pub fn stop(&mut self) {
        assert!(
            !self.is_external(),
            "cannot stop a Redis given by REDIS_URL; use RedisServer::spawn"
        );
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)), empty.
    ///
    /// # Panics
    /// For a server from `REDIS_URL`, or when it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.expect("a spawned server has a port");
        let dir = self
            .dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .expect("a spawned server has a directory");
        // The port was just released; give the OS a few tries to let us bind it again.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch(port, &dir) {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("could not restart redis-server on port {port}: {e}"),
            }
        }
    }

    /// Whether the server answers `PING` now.
    pub fn is_up(&self) -> bool {
        self.port.is_none_or(ping)
    }

    fn launch(&mut self, port: u16, dir: &std::path::Path) -> Result<(), String> {
        let extra = self.extra_args.clone();
        self.launch_with(port, dir, &extra)
    }

    fn launch_with(
        &mut self,
        port: u16,
        dir: &std::path::Path,
        extra: &[String],
    ) -> Result<(), String> {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let log = dir.join(format!("redis-{port}.log"));
        let spawned = Command::new(&binary)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "yes"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing_binary(&binary);
            }
            Err(e) => return Err(format!("cannot run {binary}: {e}")),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited with {status}; its log:\n{}",
                    read_tail(&log)
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server did not answer PING within {START_TIMEOUT:?}; its log:\n{}",
                    read_tail(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // REDIS_URL may hold a password.
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("external", &self.is_external())
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// A three-node Redis Cluster (three masters, no replicas) of `redis-server` child
/// processes on free loopback ports, killed when dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them with `redis-cli --cluster
    /// create`; returns once the cluster reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing, or the cluster does not form.
    pub fn spawn() -> Self {
        Self::spawn_with(Vec::new())
    }

    /// [`spawn`](Self::spawn) with `extra_args` for every node (see
    /// [`RedisServer::spawn_with`] for the placeholders).
    ///
    /// # Panics
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with(extra_args: Vec<String>) -> Self {
        let mut args: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes-{port}.conf",
            "--cluster-port",
            "{bus_port}",
            "--cluster-node-timeout",
            "2000",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra_args);
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::spawn_with(args.clone()))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port.unwrap_or_default()))
            .collect();
        let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned());
        let created = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match created {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing_binary(&cli),
            Err(e) => panic!("cannot run {cli}: {e}"),
        };
        // `redis-cli` waits for the nodes to join without a limit: a cluster whose nodes
        // cannot reach each other (a TLS bus refused) must fail the test, not hang it.
        let create_limit = START_TIMEOUT * 6;
        let deadline = Instant::now() + create_limit;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                panic!(
                    "redis-cli --cluster create did not finish within {create_limit:?}:\n{}",
                    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{cli} vanished: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ok = nodes.iter().all(|n| {
                Command::new(&cli)
                    .args([
                        "-p",
                        &n.port.unwrap_or_default().to_string(),
                        "cluster",
                        "info",
                    ])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            });
            if ok {
                return RedisCluster { nodes };
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster did not reach cluster_state:ok within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url().to_owned()).collect()
    }

    /// The nodes' `rediss://` URLs, for a cluster with TLS ports (see
    /// [`spawn_tls`](Self::spawn_tls)).
    pub fn tls_urls(&self) -> Vec<String> {
        self.nodes.iter().filter_map(RedisServer::tls_url).collect()
    }
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.nodes)
            .finish()
    }
}

/// A key prefix unique to this test, process and moment, e.g.
/// `grantkit-test:conformance:4242-1a2b3c4d:`; lets tests share one Redis.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "grantkit-test:{test}:{}-{:08x}{}:",
        std::process::id(),
        fastrand::u32(..),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn missing_binary(binary: &str) -> ! {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    panic!(
        "\n\n*** No Redis for the tests: `{binary}` was not found and REDIS_URL is not set. ***\n\
         Install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`),\n\
         point REDIS_SERVER at the binary, or set REDIS_URL=redis://host:port.\n\
         {}\n",
        if ci {
            "CI=true: the Redis tests are required in CI; .ci/run must install redis-server."
        } else {
            "The Redis tests never skip silently."
        }
    );
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

/// Whether something on the port answers a Redis `PING` (`+PONG`, or `-NOAUTH` when a
/// password is required).
pub(crate) fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"),
        Err(_) => false,
    }
}

pub(crate) fn read_tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
