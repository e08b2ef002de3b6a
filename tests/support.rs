//! Shared set-up for the integration tests: a test server and clients aimed at it.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

use std::sync::Arc;

use grantkit::time::ManualClock;
use grantkit_testkit::server::{ServerConfig, TestServer};

/// A test server reading `clock`.
pub async fn server_with_clock(clock: &ManualClock) -> TestServer {
    TestServer::start_with(ServerConfig::default(), Arc::new(clock.clone())).await
}

/// A `reqwest` client with the auth middleware for the test server's host and port.
pub fn authenticated_client(
    manager: grantkit::TokenManager,
    server: &TestServer,
) -> reqwest_middleware::ClientWithMiddleware {
    let host = server.url().trim_start_matches("http://").to_owned();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(grantkit::middleware::AuthMiddleware::new(manager, [host]))
        .build()
}

/// The README and every guide, compiled as doctests: each Rust block must build against
/// the facade (`no_run` where it would reach the network), so the docs cannot drift from
/// the API. Non-Rust blocks are tagged (`toml`, `sh`, `console`, `text`, …).
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../README.md")]
    pub struct Readme;
    #[doc = include_str!("../docs/concepts.md")]
    pub struct Concepts;
    #[doc = include_str!("../docs/grants.md")]
    pub struct Grants;
    #[doc = include_str!("../docs/stores.md")]
    pub struct Stores;
    #[doc = include_str!("../docs/presets.md")]
    pub struct Presets;
    #[doc = include_str!("../docs/configuration.md")]
    pub struct Configuration;
    #[doc = include_str!("../docs/cli.md")]
    pub struct Cli;
    #[doc = include_str!("../docs/security.md")]
    pub struct Security;
    #[doc = include_str!("../docs/reliability.md")]
    pub struct Reliability;
    #[doc = include_str!("../docs/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../docs/interop.md")]
    pub struct Interop;
    #[doc = include_str!("../docs/observability.md")]
    pub struct Observability;
    #[doc = include_str!("../docs/tower.md")]
    pub struct Tower;
}

/// A local authorization server process an interop test started: it prints
/// `grantkit-interop listening on <url>` on stdout once ready, logs on stderr, and exits
/// when its stdin closes.
pub mod interop {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::{Duration, Instant};

    /// How much of a server's log is kept for failure messages.
    pub const LOG_TAIL: usize = 16 * 1024;

    /// A started server: the process, its stdin (dropping it stops the server), the
    /// address it printed and the tail of its log.
    #[derive(Debug)]
    pub struct Spawned {
        /// The process.
        pub child: Child,
        /// Its stdin; the server exits when this is dropped.
        pub stdin: ChildStdin,
        /// What followed `grantkit-interop listening on `.
        pub url: String,
        /// The last [`LOG_TAIL`] bytes or so of its stderr.
        pub log: Arc<Mutex<String>>,
    }

    /// Spawns `command` (named `name` in messages) with piped stdio, keeps the tail of
    /// its stderr, and waits up to `timeout` for the address it prints.
    ///
    /// # Errors
    /// Why the server could not be started, with the tail of its log.
    pub fn spawn_listening(
        mut command: Command,
        name: &str,
        timeout: Duration,
    ) -> Result<Spawned, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(format!("{name}: stdio was not piped"));
        };
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&String::from_utf8_lossy(&buf[..n]));
                if log.len() > 2 * LOG_TAIL {
                    *log = tail(&log, LOG_TAIL).to_owned();
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Forward the address, then keep draining so that the server never blocks on
            // stdout.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix("grantkit-interop listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let failed = |child: &mut Child, what: String| {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100)); // let the log reader catch up
            let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            format!("{what}; its log:\n{}", tail(&log, LOG_TAIL))
        };
        match rx.recv_timeout(timeout) {
            Ok(url) => Ok(Spawned {
                child,
                stdin,
                url,
                log,
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(failed(
                    &mut child,
                    format!("{name} exited ({status}) before listening"),
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(failed(
                &mut child,
                format!("{name} did not listen within {timeout:?}"),
            )),
        }
    }

    /// The workspace's root directory.
    pub fn workspace() -> &'static Path {
        let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
        tests.parent().unwrap_or(tests)
    }

    /// The virtualenv of the Python interop servers (django-oauth-toolkit, Authlib):
    /// runs `interop/django-oauth-toolkit/prepare.py`, which creates it or reuses it
    /// (serialised by a lock file, so parallel test binaries wait for one another), and
    /// returns the venv's python. `GRANTKIT_INTEROP_PYTHON` picks the interpreter that
    /// runs `prepare.py`, `GRANTKIT_INTEROP_VENV` the directory (default
    /// `target/interop/venv`).
    ///
    /// # Errors
    /// Why the venv could not be had, with the tail of `prepare.py`'s log.
    pub fn python_venv() -> Result<PathBuf, String> {
        let python = std::env::var("GRANTKIT_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
        let venv = std::env::var_os("GRANTKIT_INTEROP_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target").join("interop").join("venv"));
        let started = Instant::now();
        let output = Command::new(&python)
            .arg(
                workspace()
                    .join("interop")
                    .join("django-oauth-toolkit")
                    .join("prepare.py"),
            )
            .arg("--venv")
            .arg(&venv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "`{python}` was not found (set GRANTKIT_INTEROP_PYTHON to use another interpreter)"
                ),
                _ => format!("cannot run `{python}`: {e}"),
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "preparing the virtualenv {} failed ({}):\n{}",
                venv.display(),
                output.status,
                tail(&stderr, LOG_TAIL)
            ));
        }
        let venv_python = stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("prepare.py printed no interpreter path; its log:\n{stderr}"))?;
        eprintln!(
            "interop: virtualenv ready in {:.1?} ({venv_python})",
            started.elapsed()
        );
        Ok(PathBuf::from(venv_python))
    }

    /// The last `max` bytes of `text`, cut at a character boundary.
    pub fn tail(text: &str, max: usize) -> &str {
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        &text[start..]
    }
}

#[allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // test support
pub mod oidc_provider;

/// Fleets of processes for the multi-process tests: `grantkit-fleet-member` (this
/// package's binary, `tests/bin/fleet_member.rs`) run several times at once.
#[allow(clippy::panic)] // test support: a failed member fails the test
pub mod fleet {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    /// The client a fleet profile uses.
    pub struct Client<'a> {
        /// The token endpoint.
        pub token_url: &'a str,
        /// The client id.
        pub id: &'a str,
        /// The client secret.
        pub secret: &'a str,
        /// The DPoP algorithm (`ES256`, `EdDSA`, …).
        pub dpop_alg: &'a str,
    }

    impl std::fmt::Debug for Client<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Client")
                .field("token_url", &self.token_url)
                .field("id", &self.id)
                .field("dpop_alg", &self.dpop_alg)
                .finish_non_exhaustive()
        }
    }

    /// Writes, in `dir`, a store encryption key and a configuration file (both `0600`)
    /// with one profile, `fleet`: `client`'s client credentials with DPoP, kept in the
    /// encrypted Redis store at `redis_url` under `prefix`. Returns the file's path.
    pub fn write_profile(
        dir: &Path,
        client: &Client<'_>,
        redis_url: &str,
        prefix: &str,
    ) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;

        let key_file = dir.join("store.key");
        std::fs::write(&key_file, "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let config = dir.join("grantkit.toml");
        let text = format!(
            r#"
            [profiles.fleet]
            grant = "client_credentials"
            token_url = "{token_url}"
            client_id = "{id}"
            client_secret = "{secret}"
            dpop = {{ alg = "{alg}" }}
            store = {{ kind = "redis", url = "{redis_url}", prefix = "{prefix}", encryption_key_file = "{key}" }}
            "#,
            token_url = client.token_url,
            id = client.id,
            secret = client.secret,
            alg = client.dpop_alg,
            key = key_file.display(),
        );
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        for path in [&key_file, &config] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        config
    }

    /// Runs `processes` fleet members at once, each making `calls` API calls to `url` with
    /// the manager of `profile` in `config`, and returns the token fingerprint of every
    /// call. Panics, with the member's output and `context`, when a member fails or a call
    /// is not answered 200.
    pub fn run(
        member_binary: &str,
        config: &Path,
        profile: &str,
        url: &str,
        processes: usize,
        calls: usize,
        context: &dyn Fn() -> String,
    ) -> Vec<String> {
        let members: Vec<_> = (0..processes)
            .map(|_| {
                Command::new(member_binary)
                    .arg(config)
                    .args([profile, url, &calls.to_string()])
                    .env_remove("GRANTKIT_CONFIG")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {member_binary}: {e}"))
            })
            .collect();
        let mut fingerprints = Vec::new();
        for member in members {
            let output = member
                .wait_with_output()
                .unwrap_or_else(|e| panic!("a fleet member vanished: {e}"));
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "a fleet member failed: {stdout}\n{}\n{}",
                String::from_utf8_lossy(&output.stderr),
                context()
            );
            let lines: Vec<&str> = stdout.lines().collect();
            assert_eq!(lines.len(), calls, "{stdout}");
            for line in lines {
                let Some((status, fingerprint)) = line.split_once(' ') else {
                    panic!("a fleet member printed {line:?}");
                };
                assert_eq!(status, "200", "{stdout}");
                fingerprints.push(fingerprint.to_owned());
            }
        }
        fingerprints
    }
}
