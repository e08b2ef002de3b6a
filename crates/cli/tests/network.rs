//! What the CLI sends where: proxies never receive a loopback or plain-http token request,
//! and `--timeout` bounds the wait for a silent endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use grantkit::time::SystemClock;
use grantkit_testkit::server::{ServerConfig, TestServer};
use tempfile::TempDir;

/// A loopback listener that records what it receives and answers `answer` (or, with
/// `None`, keeps the connection open without a word).
fn listener(answer: Option<&'static str>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = vec![0u8; 8192];
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let n = stream.read(&mut buf).unwrap_or(0);
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            match answer {
                Some(answer) => {
                    let _ = stream.write_all(answer.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    (port, seen)
}

const PROXY_TOKEN: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
    content-length: 31\r\nconnection: close\r\n\r\n{\"access_token\":\"from-proxy\"}  ";

fn grantkit() -> Command {
    let mut cmd = cargo_bin_cmd!("grantkit");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("GRANTKIT_") || key.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(key);
        }
    }
    cmd.timeout(Duration::from_secs(60));
    cmd
}

fn config(dir: &TempDir, token_url: &str, extra: &str) -> PathBuf {
    let path = dir.path().join("grantkit.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            [profiles.p]
            grant = "client_credentials"
            token_url = "{token_url}"
            client_id = "{}"
            client_secret = "{}"
            client_auth = "basic"
            store = {{ kind = "memory" }}   # every run asks the endpoint; nothing outside the test
            {extra}
            "#,
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET
        ),
    )
    .unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The attack: with the proxy variables set, a plain-http loopback token URL sent the
/// client's Basic credentials to the proxy, and the proxy's token was used.
#[test]
fn proxy_variables_never_see_a_loopback_token_request() {
    let server =
        TestServer::start_in_background(ServerConfig::default(), Arc::new(SystemClock::new()));
    let (proxy_port, proxy_seen) = listener(Some(PROXY_TOKEN));
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let dir = tempfile::tempdir().unwrap();
    let localhost_url = server.token_url().replace("127.0.0.1", "localhost");
    for (url, extra) in [
        (server.token_url(), String::new()),
        (localhost_url, String::new()),
        // The `proxy` key is never used for loopback either.
        (server.token_url(), format!("proxy = \"{proxy}\"")),
    ] {
        let config = config(&dir, &url, &extra);
        let output = grantkit()
            .args(["token", "-c"])
            .arg(&config)
            .args(["-p", "p"])
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("HTTPS_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env("all_proxy", &proxy)
            .output()
            .unwrap();
        assert_exit(&output, 0);
        assert_ne!(text(&output.stdout).trim(), "from-proxy", "{url} {extra}");
    }
    assert_eq!(server.token_requests(), 3);
    assert!(
        proxy_seen.lock().unwrap().is_empty(),
        "the proxy received {:?}",
        proxy_seen.lock().unwrap()
    );
}

/// A silent endpoint kept `grantkit token` for 121 s; `--timeout` bounds the whole
/// renewal, retries included.
#[test]
fn timeout_bounds_the_wait_for_a_silent_endpoint() {
    let (port, seen) = listener(None);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, &format!("http://127.0.0.1:{port}/token"), "");
    let started = Instant::now();
    let output = grantkit()
        .args(["token", "--timeout", "2", "-c"])
        .arg(&config)
        .args(["-p", "p"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no token within the renewal deadline of 2s"),
        "{stderr}"
    );
    // Bounded by the 2 s deadline, not by 4 attempts × 30 s; generous for a loaded machine.
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(!seen.lock().unwrap().is_empty(), "the endpoint was asked");

    for bad in ["0", "-1", "soon"] {
        let output = grantkit()
            .args(["token", "--timeout", bad, "-c"])
            .arg(&config)
            .output()
            .unwrap();
        assert_exit(&output, 2);
    }
}

/// `timeout_secs` and `deadline_secs` in a profile: the same bound, from the file.
#[test]
fn profile_deadline_bounds_the_wait_and_zero_is_refused() {
    let (port, _seen) = listener(None);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/token");
    let path = config(&dir, &url, "timeout_secs = 1\ndeadline_secs = 2");
    let output = grantkit()
        .args(["token", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        text(&output.stderr).contains("no token within the renewal deadline of 2s")
            || text(&output.stderr).contains("attempt timeout of 1s"),
        "{}",
        text(&output.stderr)
    );

    let path = config(&dir, &url, "timeout_secs = 0");
    let output = grantkit()
        .args(["token", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("field `timeout_secs` must be at least 1"),
        "{}",
        text(&output.stderr)
    );
}
