//! Runs the built `grantkit` binary against the in-process test server.
//!
//! The server runs on a thread of this test process (`TestServer::start_in_background`);
//! the binary, a child process, reaches it on 127.0.0.1. Each test writes its own
//! configuration file into a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use base64::Engine as _;
use grantkit::time::{Clock as _, SystemClock};
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{ExpiresIn, Fault, JWT_BEARER, ServerConfig, TestServer};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A test server and a directory for the configuration file and the file store.
struct Fixture {
    server: TestServer,
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            server: TestServer::start_in_background(
                ServerConfig::default(),
                Arc::new(SystemClock::new()),
            ),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn token_url(&self) -> String {
        self.server.token_url()
    }

    /// Writes `grantkit.toml`, readable by its owner only (it holds secrets), and returns
    /// its path.
    fn config(&self, toml: &str) -> PathBuf {
        self.config_with_mode(toml, 0o600)
    }

    /// Writes `grantkit.toml` with this mode and returns its path.
    fn config_with_mode(&self, toml: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join("grantkit.toml");
        std::fs::write(&path, toml).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A directory for a file store.
    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }
}

/// The binary, with no `GRANTKIT_*` variable inherited from the test's environment, and a
/// user cache directory (the CLI's default store) of this test process's own.
fn grantkit() -> Command {
    static CACHE: std::sync::OnceLock<TempDir> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| tempfile::tempdir().unwrap());
    let mut cmd = cargo_bin_cmd!("grantkit");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", cache.path());
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// `grantkit <args…> -c <config>`, run to completion, with the user cache directory in
/// the configuration's directory (so each fixture has its own default store).
fn run(config: &Path, args: &[&str]) -> Output {
    grantkit()
        .env("XDG_CACHE_HOME", config.parent().unwrap().join("cache"))
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts success and returns stdout without its final newline.
fn success(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    let out = stdout(output);
    assert!(out.ends_with('\n'), "{out:?}");
    out.trim_end_matches('\n').to_owned()
}

/// Asserts the exit code and returns stderr.
fn failure(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    assert!(
        output.stdout.is_empty(),
        "data on stdout: {}",
        stdout(output)
    );
    stderr(output)
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now_secs() -> u64 {
    SystemClock::new()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------- grants and presets

#[test]
fn client_credentials_form_with_basic_auth() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        client_auth = "basic"
        body = "form"
        scope = "read write"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    ));
    let token = success(&run(&config, &["token", "-p", "acme"]));
    assert!(token.starts_with("at-"), "{token}");

    let requests = f.server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        request
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{request:?}"
    );
    assert_eq!(request.grant_type.as_deref(), Some("client_credentials"));
    assert_eq!(request.params["scope"], "read write");
    assert!(!request.params.contains_key("client_secret"));
}

#[test]
fn client_credentials_json_with_body_auth() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        client_auth = "body"
        body = "json"
        params = {{ audience = "https://api.example.com" }}
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    ));
    let token = success(&run(&config, &["token"]));
    assert!(token.starts_with("at-"), "{token}");

    let requests = f.server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.authorization, None);
    assert_eq!(request.params["client_id"], TestServer::CLIENT_ID);
    assert_eq!(request.params["client_secret"], TestServer::CLIENT_SECRET);
    assert_eq!(request.params["audience"], "https://api.example.com");
}

#[test]
fn password_grant_with_json_body() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.legacy]
        grant = "password"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        username = "{}"
        password = "{}"
        body = "json"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
        TestServer::USERNAME,
        TestServer::PASSWORD
    ));
    let header = success(&run(&config, &["token", "-p", "legacy", "-f", "header"]));
    assert!(header.starts_with("Bearer at-"), "{header}");
    assert_eq!(f.server.requests_for("password"), 1);
    let request = &f.server.requests()[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.params["username"], TestServer::USERNAME);
}

#[test]
fn jwt_bearer_grant() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.sensors]
        grant = "jwt_bearer"
        token_url = "{}"
        jwt = {{ key_id = "{}", issuer = "{}", secret = "{}", lifetime_secs = 600 }}
        "#,
        f.token_url(),
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET
    ));
    let token = success(&run(&config, &["token", "-p", "sensors"]));
    assert!(token.starts_with("at-"), "{token}");
    assert_eq!(f.server.requests_for(JWT_BEARER), 1);
    assert_eq!(f.server.tokens_issued(), 1);
}

#[test]
fn preset_24sevenoffice_with_overridden_token_url() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.tso]
        preset = "24sevenoffice"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        login_organization = 123456
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    ));
    let token = success(&run(&config, &["token", "-p", "tso"]));
    assert!(token.starts_with("at-"), "{token}");

    let requests = f.server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "grant_type": "client_credentials",
            "client_id": TestServer::CLIENT_ID,
            "client_secret": TestServer::CLIENT_SECRET,
            "audience": "https://api.24sevenoffice.com",
            "login_organization": "123456",
        })
    );
}

#[test]
fn preset_disruptive_technologies_with_overridden_token_url() {
    let f = Fixture::new();
    // The assertion's `aud` follows the overridden token URL; the server checks it.
    let token_url = format!("{}/oauth2/token", f.server.url());
    let config = f.config(&format!(
        r#"
        [profiles.dt]
        preset = "disruptive-technologies"
        token_url = "{token_url}"
        key_id = "{}"
        email = "{}"
        secret = "{}"
        "#,
        TestServer::KEY_ID,
        TestServer::ISSUER,
        TestServer::JWT_SECRET
    ));
    let out = success(&run(&config, &["token", "-p", "dt", "-f", "json"]));
    let value: Value = serde_json::from_str(&out).unwrap();
    assert!(value["access_token"].as_str().unwrap().starts_with("at-"));
    assert_eq!(f.server.requests_for(JWT_BEARER), 1);
    let request = &f.server.requests()[0];
    assert_eq!(request.path, "/oauth2/token");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

// ---------------------------------------------------------------- output formats and the file store

fn file_store_config(f: &Fixture) -> PathBuf {
    f.config(&format!(
        r#"
        default_profile = "acme"

        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        scope = "read"
        store = {{ kind = "file", path = "{}" }}
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
        f.store_dir().display()
    ))
}

#[test]
fn formats_print_the_same_cached_token() {
    let f = Fixture::new();
    let config = file_store_config(&f);

    let raw = success(&run(&config, &["token"]));
    let header = success(&run(&config, &["token", "--format", "header"]));
    let json_out = success(&run(&config, &["token", "-f", "json"]));
    assert_eq!(f.server.token_requests(), 1, "one token for all three");

    assert!(
        raw.starts_with("at-") && !raw.contains(char::is_whitespace),
        "{raw}"
    );
    assert!(header.starts_with("Bearer "), "{header}");
    assert_eq!(header, format!("Bearer {raw}"));

    assert_eq!(json_out.lines().count(), 1, "one line of JSON: {json_out}");
    let value: Value = serde_json::from_str(&json_out).unwrap();
    let object = value.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "token_type",
            "expires_at",
            "expires_in",
            "scope"
        ]
    );
    assert_eq!(value["access_token"], raw.as_str());
    assert_eq!(value["token_type"], "Bearer");
    assert_eq!(value["scope"], "read");
    let expires_in = value["expires_in"]
        .as_u64()
        .expect("expires_in is an integer");
    assert!((3500..=3600).contains(&expires_in), "{expires_in}");
    let expires_at = humantime::parse_rfc3339(value["expires_at"].as_str().unwrap()).unwrap();
    let expected = UNIX_EPOCH + Duration::from_secs(now_secs() + expires_in);
    let skew = expires_at
        .duration_since(expected)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew <= Duration::from_secs(5),
        "{expires_at:?} vs {expected:?}"
    );
}

/// RFC 6749 §5.1: a response without `scope` grants the requested scope. `-f json` used
/// to print `null` there, as if no scope had been granted.
#[test]
fn json_scope_is_the_requested_scope_when_the_server_omits_it() {
    let f = Fixture::new();
    f.server.configure(|c| c.omit_scope = true);
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        scope = "write read"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    ));
    let value: Value =
        serde_json::from_str(&success(&run(&config, &["token", "-f", "json"]))).unwrap();
    assert_eq!(f.server.requests()[0].params["scope"], "write read");
    // Scopes are a set: printed as the manager's identity keeps them, sorted.
    assert_eq!(value["scope"], "read write");
}

#[test]
fn json_scope_is_null_when_none_was_requested_nor_granted() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    ));
    let value: Value =
        serde_json::from_str(&success(&run(&config, &["token", "-f", "json"]))).unwrap();
    assert_eq!(value["scope"], Value::Null);
}

#[test]
fn file_store_reuses_the_token_across_processes_until_invalidated() {
    let f = Fixture::new();
    let config = file_store_config(&f);

    let first = success(&run(&config, &["token"]));
    assert_eq!(f.server.token_requests(), 1);
    let second = success(&run(&config, &["token"]));
    assert_eq!(
        f.server.token_requests(),
        1,
        "the second process used the stored token"
    );
    assert_eq!(first, second);

    let output = run(&config, &["invalidate", "-p", "acme"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "invalidate prints no data");
    assert!(
        stderr(&output).contains("removed the stored token"),
        "{}",
        stderr(&output)
    );
    assert_eq!(f.server.token_requests(), 1, "invalidate sends no request");

    let third = success(&run(&config, &["token"]));
    assert_eq!(
        f.server.token_requests(),
        2,
        "invalidate made the next call fetch"
    );
    assert_ne!(third, first);
    assert_eq!(success(&run(&config, &["token"])), third);
    assert_eq!(f.server.token_requests(), 2);
}

/// A store directory others can write (as `/tmp/grantkit-tokens` was in the docs) is
/// refused: each run still prints a token, fetched from the endpoint, and the warning
/// names the directory and the fix.
#[cfg(unix)]
#[test]
fn a_store_directory_others_can_write_is_refused_and_the_token_still_printed() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = Fixture::new();
    let config = file_store_config(&f);
    std::fs::create_dir(f.store_dir()).unwrap();
    std::fs::set_permissions(f.store_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for run_number in 1..=2 {
        let output = run(&config, &["token", "-v"]);
        let token = success(&output);
        assert!(token.starts_with("at-"), "{token}");
        let err = stderr(&output);
        let dir = f.store_dir().display().to_string();
        assert!(
            err.lines()
                .any(|l| l.contains("WARN") && l.contains(&dir) && l.contains("chmod 700")),
            "{err}"
        );
        assert!(!err.contains(&token), "the token is in the logs: {err}");
        assert_eq!(f.server.token_requests(), run_number, "nothing was cached");
    }
    assert_eq!(std::fs::read_dir(f.store_dir()).unwrap().count(), 0);
}

#[test]
fn concurrent_processes_share_one_token_through_the_file_store() {
    let f = Fixture::new();
    let config = file_store_config(&f);
    let children: Vec<_> = (0..6)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_grantkit"))
                .args(["token", "-c"])
                .arg(&config)
                .env_remove("GRANTKIT_CONFIG")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|child| success(&child.wait_with_output().unwrap()))
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(
        f.server.token_requests(),
        1,
        "the store's lock made it one request"
    );
}

#[test]
fn the_documented_shell_loop_fetches_once() {
    let f = Fixture::new();
    let config = file_store_config(&f);
    let bin = assert_cmd::cargo::cargo_bin!("grantkit");
    let script = r#"
        set -eu
        for i in 1 2 3 4 5; do
          echo "Authorization: $("$GRANTKIT" token -p acme -f header)"
        done
    "#;
    let output = std::process::Command::new("sh")
        .args(["-c", script])
        .env("GRANTKIT", bin)
        .env("GRANTKIT_CONFIG", &config)
        .output()
        .unwrap();
    let out = success(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| *l == lines[0] && l.starts_with("Authorization: Bearer at-")),
        "{out}"
    );
    assert_eq!(f.server.token_requests(), 1);
}

#[test]
fn redis_store_reuses_the_token_across_processes_until_invalidated() {
    let f = Fixture::new();
    let redis = RedisServer::start();
    let config = f.config(&format!(
        r#"
        [profiles.fleet]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        store = {{ kind = "redis", url = "{}", prefix = "{}" }}
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
        redis.url(),
        unique_prefix("cli")
    ));
    let first = success(&run(&config, &["token"]));
    assert_eq!(success(&run(&config, &["token"])), first);
    assert_eq!(
        f.server.token_requests(),
        1,
        "the second process used Redis"
    );

    let output = run(&config, &["invalidate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let third = success(&run(&config, &["token"]));
    assert_ne!(third, first);
    assert_eq!(f.server.token_requests(), 2);
}

#[test]
fn invalidate_with_a_memory_store_says_there_was_nothing_to_remove() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "id"
        client_secret = "secret"
        store = {{ kind = "memory" }}
        "#,
        f.token_url()
    ));
    let output = run(&config, &["invalidate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("memory"), "{}", stderr(&output));
}

// ---------------------------------------------------------------- exit codes

#[test]
fn refused_credentials_exit_1_with_the_oauth_error() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "not-the-secret"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID
    ));
    let err = failure(&run(&config, &["token", "-p", "acme"]), 1);
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("Client authentication failed"), "{err}");
    assert!(err.contains("profile `acme`"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert_eq!(
        f.server.token_requests(),
        1,
        "invalid_client is not retried"
    );
}

/// A token endpoint put a line break into the token: `grantkit token -f header` printed
/// it, and `curl -H "Authorization: $(grantkit token -f header)"` sent the extra header.
/// Now every format refuses, exit 1, with nothing on stdout and the value nowhere.
#[test]
fn a_token_that_could_inject_a_header_is_never_printed() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    let bodies = [
        r#"{"access_token":"EVILtoken\r\nX-Injected: 1","token_type":"Bearer"}"#,
        r#"{"access_token":"EVILtoken","token_type":"Bearer\r\nX-Injected: 1"}"#,
        r#"{"access_token":"EVILtoken\u0000","token_type":"Bearer"}"#,
        r#"{"access_token":"EVILtoken\u00e9","token_type":"Bearer"}"#,
    ];
    for body in bodies {
        for format in ["header", "raw", "json"] {
            f.server
                .push_fault(Fault::Body(200, "application/json", body.to_owned()));
            let err = failure(&run(&config, &["token", "-f", format]), 1);
            assert!(err.contains("token response has"), "{body} {format}: {err}");
            assert!(
                !err.contains("EVILtoken") && !err.contains("Injected"),
                "{body} {format}: {err}"
            );
        }
    }
}

/// A token type other than Bearer is refused, not printed as `mac abc`.
#[test]
fn a_token_type_other_than_bearer_is_refused() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    f.server.push_fault(Fault::Body(
        200,
        "application/json",
        r#"{"access_token":"abc","token_type":"mac"}"#.to_owned(),
    ));
    let err = failure(&run(&config, &["token", "-f", "header"]), 1);
    assert!(err.contains("token_type `mac`"), "{err}");
    assert!(err.contains("only Bearer is accepted"), "{err}");
}

/// The server's error text reaches stderr on one bounded line, without its escape
/// sequences (it cleared the screen and faked a prompt).
#[test]
fn server_error_text_is_printed_sanitized_and_bounded() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    let body = json!({
        "error": "invalid_client",
        "error_description": format!(
            "\u{1b}[2J\u{1b}]0;pwned\u{7}denied\r\nuser@host$ {}",
            "\u{1b}[31mx".repeat(60_000)
        ),
    })
    .to_string();
    f.server
        .push_fault(Fault::Body(401, "application/json", body));
    let err = failure(&run(&config, &["token"]), 1);
    assert!(
        err.contains("invalid_client: denied user@host$ xxx"),
        "{err:.300}"
    );
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:.300}");
    assert!(err.len() < 1000, "{} bytes on stderr", err.len());
}

#[test]
fn unreachable_endpoint_exits_1() {
    let f = Fixture::new();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "http://127.0.0.1:{port}/oauth/token"
        client_id = "id"
        client_secret = "secret"
        "#
    ));
    let err = failure(&run(&config, &["token"]), 1);
    assert!(err.contains("connect"), "{err}");
}

#[test]
fn missing_field_exits_2_naming_it() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_secret = "secret"
        "#,
        f.token_url()
    ));
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("client_id"), "{err}");
    assert!(err.contains("acme"), "{err}");
    assert_eq!(f.server.token_requests(), 0);
}

#[test]
fn missing_preset_field_exits_2_naming_it() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.tso]
        preset = "24sevenoffice"
        token_url = "{}"
        client_id = "id"
        client_secret = "secret"
        "#,
        f.token_url()
    ));
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("login_organization"), "{err}");
}

#[test]
fn missing_profile_exits_2_listing_the_others() {
    let f = Fixture::new();
    let config = file_store_config(&f);
    let err = failure(&run(&config, &["token", "-p", "nope"]), 2);
    assert!(err.contains("nope"), "{err}");
    assert!(err.contains("acme"), "{err}");
    let err = failure(&run(&config, &["invalidate", "-p", "nope"]), 2);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bad_format_exits_2() {
    let f = Fixture::new();
    let config = file_store_config(&f);
    let err = failure(&run(&config, &["token", "-f", "xml"]), 2);
    assert!(err.contains("xml") && err.contains("raw"), "{err}");
    failure(&grantkit().arg("frobnicate").output().unwrap(), 2);
    assert_eq!(f.server.token_requests(), 0);
}

#[test]
fn unknown_key_exits_2_naming_it() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "id"
        clinet_secret = "secret"
        "#,
        f.token_url()
    ));
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("clinet_secret"), "{err}");
    assert!(!err.contains("\"secret\""), "{err}");
}

#[test]
fn missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let err = failure(&run(&dir.path().join("absent.toml"), &["token"]), 2);
    assert!(err.contains("absent.toml"), "{err}");
}

// ---------------------------------------------------------------- the environment

#[test]
fn environment_overrides_the_client_secret() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "stale-secret-in-the-file"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID
    ));
    failure(&run(&config, &["token", "-p", "acme"]), 1);
    let output = grantkit()
        .args(["token", "-p", "acme", "-c"])
        .arg(&config)
        .env(
            "GRANTKIT_PROFILES__ACME__CLIENT_SECRET",
            TestServer::CLIENT_SECRET,
        )
        .output()
        .unwrap();
    assert!(success(&output).starts_with("at-"));
}

#[test]
fn environment_supplies_a_secret_absent_from_the_file() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        "#,
        f.token_url(),
        TestServer::CLIENT_ID
    ));
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("client_secret"), "{err}");
    let output = grantkit()
        .arg("token")
        .env("GRANTKIT_CONFIG", &config)
        .env(
            "GRANTKIT_PROFILES__ACME__CLIENT_SECRET",
            TestServer::CLIENT_SECRET,
        )
        .output()
        .unwrap();
    assert!(success(&output).starts_with("at-"));
}

#[test]
fn config_is_found_through_grantkit_config_then_the_working_directory() {
    let f = Fixture::new();
    let config = file_store_config(&f);
    // $GRANTKIT_CONFIG, from another working directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = grantkit()
        .arg("token")
        .current_dir(elsewhere.path())
        .env("GRANTKIT_CONFIG", &config)
        .output()
        .unwrap();
    let token = success(&output);
    // ./grantkit.toml in the working directory.
    let output = grantkit()
        .arg("token")
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    assert_eq!(success(&output), token);
    // -c wins over $GRANTKIT_CONFIG.
    let output = grantkit()
        .args(["token", "-c"])
        .arg(&config)
        .env("GRANTKIT_CONFIG", elsewhere.path().join("absent.toml"))
        .output()
        .unwrap();
    assert_eq!(success(&output), token);
}

// ---------------------------------------------------------------- profiles

#[test]
fn profiles_lists_kinds_urls_and_stores_without_secrets() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        default_profile = "acme"

        [profiles.acme]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "acme-client"
        client_secret = "acme-client-secret-value"
        store = {{ kind = "file", path = "{store}" }}

        [profiles.legacy]
        grant = "password"
        token_url = "{url}"
        client_id = "id"
        client_secret = "legacy-secret-value"
        username = "me"
        password = "legacy-password-value"
        store = {{ kind = "redis", url = "redis://user:redis-password-value@127.0.0.1:6379", prefix = "gk:" }}

        [profiles.tso]
        preset = "24sevenoffice"
        client_id = "id"
        client_secret = "tso-secret-value"
        login_organization = "123"

        [profiles.dt]
        preset = "disruptive-technologies"
        key_id = "kid"
        email = "svc@example.com"
        secret = "dt-secret-value"
        token_url = "{url}"

        [profiles.signed]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "signed-client"
        client_auth = "private_key_jwt"
        private_key = "-----BEGIN PRIVATE KEY-----\nsigned-key-body-value\n-----END PRIVATE KEY-----"
        signing_alg = "ES256"
        key_id = "kid-7"

        [profiles.entra]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "entra-client"
        client_auth = "private_key_jwt"
        private_key_file = "{keys}/test-only-rsa.jwk.json"
        key_id_thumbprint = true
        certificate_file = "{keys}/test-only-rsa-cert.pem"

        [profiles.sensors-jwk]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ issuer = "svc@example.com", private_key_file = "{keys}/test-only-ec-p256.jwk.json" }}

        [profiles.discovered]
        grant = "client_credentials"
        issuer = "https://auth.example.com/realms/acme"
        client_id = "app"
        client_secret = "acme-client-secret-value"
        "#,
        url = f.token_url(),
        store = f.store_dir().display(),
        keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys"),
    ));
    let jwk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../grants/tests/keys/test-only-rsa.jwk.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let output = run(&config, &["profiles"]);
    let out = success(&output);
    for secret in [
        "acme-client-secret-value",
        "legacy-secret-value",
        "legacy-password-value",
        "redis-password-value",
        "tso-secret-value",
        "dt-secret-value",
        "signed-key-body-value",
        "PRIVATE KEY",
        jwk["d"].as_str().unwrap(),
        jwk["p"].as_str().unwrap(),
    ] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
        assert!(!stderr(&output).contains(secret));
    }
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert!(
        lines[0].contains("NAME") && lines[0].contains("TOKEN URL"),
        "{out}"
    );
    let line = |name: &str| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
    };
    assert!(
        line("acme").starts_with('*'),
        "the default is marked:\n{out}"
    );
    assert!(line("acme").contains("client_credentials"));
    assert!(line("acme").contains(&f.token_url()));
    assert!(line("acme").contains("file ("));
    assert!(
        line("discovered").contains("(discovered from https://auth.example.com/realms/acme)"),
        "{out}"
    );
    assert!(!line("legacy").starts_with('*'));
    assert!(line("legacy").contains("password"));
    assert!(
        line("legacy").contains("redis (redis://***@127.0.0.1:6379"),
        "{out}"
    );
    assert!(line("tso").contains("24sevenoffice"));
    assert!(line("tso").contains("https://login.24sevenoffice.com/oauth/token"));
    let cache = config.parent().unwrap().join("cache").join("grantkit");
    assert!(
        line("tso").ends_with(&format!("file ({}; the CLI's default)", cache.display())),
        "a profile without a store uses the CLI's default:\n{out}"
    );
    assert!(line("dt").contains("disruptive-technologies"));
    assert!(line("dt").contains("jwt_bearer"));
    assert!(
        line("signed").contains("client_credentials, auth private_key_jwt (kid kid-7)"),
        "the method and the key's id, never the key:\n{out}"
    );
    assert!(
        line("entra").contains(
            "client_credentials, auth private_key_jwt (kid 4Ip62dPIndsjuclkugfNwR6LRkS4kJeigyYmWjUcC2s (JWK thumbprint), x5t#S256 EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw)"
        ),
        "the key's thumbprint and the certificate's x5t#S256, never the key:\n{out}"
    );
    assert!(
        line("sensors-jwk").contains("jwt_bearer, kid test-only-ec-p256-jwk (from the JWK)"),
        "a JWT-bearer profile's kid, read from its JWK:\n{out}"
    );
    assert!(!line("dt").contains("kid"), "{out}");
    assert!(!line("acme").contains(", auth "), "{out}");
    assert_eq!(f.server.token_requests(), 0);
}

// ---------------------------------------------------------------- inspect

fn test_jwt(claims: &Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})),
        b64(claims)
    )
}

#[test]
fn inspect_decodes_a_jwt_from_stdin_and_from_the_argument() {
    let now = now_secs();
    let jwt = test_jwt(&json!({
        "sub": "svc@example.com",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3552,
    }));
    let from_stdin = success(
        &grantkit()
            .arg("inspect")
            .write_stdin(format!("{jwt}\n"))
            .output()
            .unwrap(),
    );
    let from_dash = success(
        &grantkit()
            .args(["inspect", "-"])
            .write_stdin(jwt.clone())
            .output()
            .unwrap(),
    );
    let from_arg = success(&grantkit().args(["inspect", &jwt]).output().unwrap());
    assert_eq!(from_stdin, from_dash);
    assert_eq!(from_stdin, from_arg);

    let out = from_stdin;
    assert!(
        out.lines().next().unwrap().contains("WITHOUT verification"),
        "{out}"
    );
    assert!(out.contains(r#""alg": "HS256""#), "{out}");
    assert!(out.contains(r#""kid": "k1""#), "{out}");
    assert!(out.contains(r#""sub": "svc@example.com""#), "{out}");
    let rfc = |secs: u64| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    };
    assert!(
        out.contains(&format!(
            "Expires:    {} (exp, expires in 59m",
            rfc(now + 3552)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("Issued at:  {} (iat, 1m", rfc(now - 60))),
        "{out}"
    );
    assert!(
        out.contains(&format!("Not before: {} (nbf,", rfc(now - 60))),
        "{out}"
    );
    assert!(
        !out.contains("c2lnbmF0dXJl"),
        "the signature is not printed"
    );
}

#[test]
fn inspect_says_when_a_jwt_has_expired() {
    let now = now_secs();
    let jwt = test_jwt(&json!({"exp": now - 200}));
    let out = success(
        &grantkit()
            .args(["inspect", "-"])
            .write_stdin(format!("Bearer {jwt}"))
            .output()
            .unwrap(),
    );
    assert!(out.contains("expired 3m"), "{out}");

    let out = success(
        &grantkit()
            .args(["inspect", "-f", "json"])
            .write_stdin(jwt)
            .output()
            .unwrap(),
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["verified"], false);
    assert_eq!(value["header"]["alg"], "HS256");
    assert_eq!(value["claims"]["exp"], now - 200);
    assert_eq!(value["expired"], true);
    let expires_in = value["expires_in"].as_i64().unwrap();
    assert!((-210..=-195).contains(&expires_in), "{expires_in}");
}

#[test]
fn inspect_refuses_garbage_with_exit_2() {
    let output = grantkit()
        .arg("inspect")
        .write_stdin("an-opaque-secret-token")
        .output()
        .unwrap();
    let err = failure(&output, 2);
    assert!(err.contains("not a JWT"), "{err}");
    assert!(
        !err.contains("an-opaque-secret-token"),
        "the input is not echoed: {err}"
    );

    failure(
        &grantkit()
            .args(["inspect", "bm90.anNvbg.x"])
            .output()
            .unwrap(),
        2,
    );
    failure(
        &grantkit().arg("inspect").write_stdin("").output().unwrap(),
        2,
    );
}

#[test]
fn a_token_from_the_server_can_be_piped_into_inspect() {
    let f = Fixture::new();
    f.server.configure(|c| c.expires_in = ExpiresIn::JwtOnly);
    let config = file_store_config(&f);
    let header = success(&run(&config, &["token", "-f", "header"]));
    let out = success(
        &grantkit()
            .arg("inspect")
            .write_stdin(header)
            .output()
            .unwrap(),
    );
    assert!(
        out.contains(&format!(r#""sub": "{}""#, TestServer::CLIENT_ID)),
        "{out}"
    );
    assert!(
        out.contains("expires in 59m") || out.contains("expires in 1h"),
        "{out}"
    );
}

// ---------------------------------------------------------------- logs

#[test]
fn verbose_logs_go_to_stderr_without_secrets() {
    let f = Fixture::new();
    let config = f.config(&format!(
        r#"
        [profiles.legacy]
        grant = "password"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        username = "{}"
        password = "{}"
        store = {{ kind = "file", path = "{}" }}
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
        TestServer::USERNAME,
        TestServer::PASSWORD,
        f.store_dir().display()
    ));
    for verbosity in ["-v", "-vv"] {
        let output = run(&config, &["token", verbosity]);
        let token = success(&output);
        let logs = stderr(&output);
        assert!(
            logs.contains("DEBUG"),
            "{verbosity} enables debug logs: {logs}"
        );
        for secret in [
            TestServer::CLIENT_SECRET,
            TestServer::PASSWORD,
            token.as_str(),
        ] {
            assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        }
    }
    let quiet = run(&config, &["token"]);
    success(&quiet);
    assert_eq!(
        stderr(&quiet),
        "",
        "no logs without -v while nothing goes wrong"
    );
}

// ---------------------------------------------------------------- what the CLI says

/// A client-credentials profile for the test server's client, without a store.
fn plain_profile(f: &Fixture, extra: &str) -> String {
    format!(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "{}"
        client_id = "{}"
        client_secret = "{}"
        {extra}
        "#,
        f.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
    )
}

#[test]
fn a_profile_without_a_store_caches_in_the_user_cache_directory() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    let first = success(&run(&config, &["token"]));
    assert_eq!(success(&run(&config, &["token"])), first);
    assert_eq!(
        f.server.token_requests(),
        1,
        "the second process read the token the first one stored"
    );
    let dir = config.parent().unwrap().join("cache").join("grantkit");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert!(files >= 1, "no token file in {}", dir.display());
    let output = run(&config, &["invalidate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("removed the stored token"));
    success(&run(&config, &["token"]));
    assert_eq!(f.server.token_requests(), 2);
}

#[test]
fn a_failing_store_is_a_warning_by_default_and_silent_with_q() {
    let f = Fixture::new();
    // Nothing listens on port 1: every store operation fails at once.
    let config = f.config(&plain_profile(
        &f,
        r#"store = { kind = "redis", url = "redis://127.0.0.1:1" }"#,
    ));
    let output = run(&config, &["token"]);
    let token = success(&output);
    let err = stderr(&output);
    assert!(
        err.lines()
            .any(|l| l.starts_with("grantkit: warning: token store failed")),
        "{err}"
    );
    assert!(
        !err.contains(&token) && !err.contains(TestServer::CLIENT_SECRET),
        "{err}"
    );
    let quiet = run(&config, &["-q", "token"]);
    success(&quiet);
    assert_eq!(stderr(&quiet), "");
    let usage = run(&config, &["-q", "-v", "token"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "-q and -v contradict each other"
    );
}

#[test]
fn a_config_file_with_a_secret_readable_by_others_is_warned_about_once() {
    let f = Fixture::new();
    let config = f.config_with_mode(&plain_profile(&f, ""), 0o644);
    let output = run(&config, &["token"]);
    success(&output);
    let err = stderr(&output);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("readable by other users"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with(&format!(
            "grantkit: warning: configuration file {} holds a secret (`profiles.acme.client_secret`)",
            config.display()
        )),
        "{err}"
    );
    assert!(
        warnings[0].contains("mode 644") && warnings[0].contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(TestServer::CLIENT_SECRET), "{err}");
    assert_eq!(stderr(&run(&config, &["-q", "token"])), "");
    // Readable by others but without a secret: nothing to say.
    let public = f.config_with_mode(
        &plain_profile(&f, "").replace(
            &format!("client_secret = \"{}\"", TestServer::CLIENT_SECRET),
            "",
        ),
        0o644,
    );
    let output = grantkit()
        .env("XDG_CACHE_HOME", public.parent().unwrap().join("cache"))
        .env(
            "GRANTKIT_PROFILES__ACME__CLIENT_SECRET",
            TestServer::CLIENT_SECRET,
        )
        .args(["token", "-c"])
        .arg(&public)
        .output()
        .unwrap();
    success(&output);
    assert_eq!(stderr(&output), "");
}

#[test]
fn environment_values_reach_the_server_verbatim() {
    let mut server_config = ServerConfig::default();
    server_config
        .clients
        .insert("env-client".to_owned(), "007".to_owned());
    let f = Fixture {
        server: TestServer::start_in_background(server_config, Arc::new(SystemClock::new())),
        dir: tempfile::tempdir().unwrap(),
    };
    let config = f.config(&format!(
        "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nstore = {{ kind = \"memory\" }}\n",
        f.token_url()
    ));
    let output = grantkit()
        .env("GRANTKIT_PROFILES__ACME__CLIENT_ID", "env-client")
        .env("GRANTKIT_PROFILES__ACME__CLIENT_SECRET", "007")
        .env("GRANTKIT_PROFILES__ACME__CLIENT_AUTH", "body")
        .env("GRANTKIT_PROFILES__ACME__PARAMS__A", "1.50")
        .env("GRANTKIT_PROFILES__ACME__PARAMS__B", "\"quoted\"")
        .env("GRANTKIT_PROFILES__ACME__PARAMS__C", "[a,b]")
        .env("GRANTKIT_PROFILES__ACME__REFRESH__BEFORE_EXPIRY_SECS", "30")
        .args(["token", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    success(&output);
    let requests = f.server.requests();
    assert_eq!(requests.len(), 1);
    let params = &requests[0].params;
    assert_eq!(params["client_secret"], json!("007"), "not the number 7");
    assert_eq!(params["a"], json!("1.50"));
    assert_eq!(params["b"], json!("\"quoted\""));
    assert_eq!(params["c"], json!("[a,b]"));
}

#[test]
fn configuration_errors_name_the_key_and_type_never_the_value() {
    let f = Fixture::new();
    for (extra, key) in [
        (
            r#"store = "redis://:store-password-value@127.0.0.1:6379""#,
            "profiles.acme.store",
        ),
        (r#"refresh = "refresh-value-text""#, "profiles.acme.refresh"),
        (
            r#"client_auth = "client-auth-value""#,
            "profiles.acme.client_auth",
        ),
    ] {
        let config = f.config(&plain_profile(&f, extra));
        let err = failure(&run(&config, &["token"]), 2);
        assert!(err.contains(&format!("(at `{key}`)")), "{err}");
        assert!(err.contains("expected"), "{err}");
        for value in [
            "store-password-value",
            "refresh-value-text",
            "client-auth-value",
        ] {
            assert!(!err.contains(value), "{value} echoed: {err}");
        }
    }
    let config = f.config(
        "[profiles.sensors]\ngrant = \"jwt_bearer\"\ntoken_url = \"https://a.example/t\"\njwt = \"jwt-secret-value\"\n",
    );
    let err = failure(&run(&config, &["token"]), 2);
    assert!(
        err.contains(
            "invalid type: found a string, expected struct JwtConfig (at `profiles.sensors.jwt`)"
        ),
        "{err}"
    );
    assert!(!err.contains("jwt-secret-value"), "{err}");
    // A TOML syntax error keeps its position, not the line it quotes.
    let config = f.config("[profiles.acme]\nclient_secret = \"unterminated-secret-value\n");
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("unterminated-secret-value"), "{err}");
}

#[test]
fn a_tls_sentinel_redis_store_is_shown_without_its_passwords() {
    let f = Fixture::new();
    let config = f.config(
        r#"
        [profiles.fleet]
        grant = "client_credentials"
        token_url = "https://auth.example.com/token"
        client_id = "id"
        store = { kind = "redis", url = "rediss+sentinel://app:sentinel-url-pw@10.0.0.1:26379,10.0.0.2/mymaster/2", ca_file = "/etc/redis/ca.pem", certificate_file = "/etc/redis/client.pem", private_key_file = "/etc/redis/client-key.pem" }

        [profiles.acl]
        grant = "client_credentials"
        token_url = "https://auth.example.com/token"
        client_id = "id"
        store = { kind = "redis", url = "redis://10.0.0.9:6379", username = "app", password = "store-password-value" }
        "#,
    );
    let out = success(&run(&config, &["profiles"]));
    assert!(
        out.contains(
            "redis (rediss+sentinel://***@10.0.0.1:26379,10.0.0.2/mymaster/2; ca_file \
             /etc/redis/ca.pem; certificate_file /etc/redis/client.pem)"
        ),
        "{out}"
    );
    assert!(
        out.contains("redis (redis://10.0.0.9:6379; user app; password set)"),
        "{out}"
    );
    for secret in ["sentinel-url-pw", "store-password-value", "client-key"] {
        assert!(!out.contains(secret), "{secret}:\n{out}");
    }
}

#[test]
fn urls_are_shown_without_their_credentials() {
    let f = Fixture::new();
    let config = f.config(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "ftp://client:url-password-value@auth.example.com/token?client_secret=query-secret-value"
        client_id = "id"
        client_secret = "s"
        store = { kind = "redis", url = "redis+unix:///run/redis.sock?db=1&pass=redis-pass-value" }
        "#,
    );
    let out = success(&run(&config, &["profiles"]));
    assert!(
        out.contains("ftp://***@auth.example.com/token?client_secret=***"),
        "{out}"
    );
    assert!(
        out.contains("redis (redis+unix:///run/redis.sock?db=1&pass=***)"),
        "{out}"
    );
    let err = failure(&run(&config, &["token"]), 2);
    assert!(err.contains("ftp://***@auth.example.com/token"), "{err}");
    for secret in [
        "url-password-value",
        "query-secret-value",
        "redis-pass-value",
    ] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret}:\n{out}\n{err}"
        );
    }
}

#[test]
fn an_empty_store_path_is_a_configuration_error() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(
        &f,
        r#"store = { kind = "file", path = "" }"#,
    ));
    let err = failure(&run(&config, &["token"]), 2);
    assert!(
        err.contains("profile `acme`: field `store.path` is empty"),
        "{err}"
    );
    assert_eq!(f.server.token_requests(), 0);
    let files: Vec<_> = std::fs::read_dir(f.dir.path()).unwrap().collect();
    assert_eq!(
        files.len(),
        1,
        "nothing but the configuration file was written"
    );
}

#[test]
fn a_non_utf8_configuration_variable_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStringExt as _;
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    let output = grantkit()
        .env(
            "GRANTKIT_PROFILES__ACME__CLIENT_SECRET",
            std::ffi::OsString::from_vec(b"s3cr\xffet".to_vec()),
        )
        .args(["token", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let err = failure(&output, 2);
    assert!(
        err.contains(
            "environment variable GRANTKIT_PROFILES__ACME__CLIENT_SECRET is not valid UTF-8"
        ),
        "{err}"
    );
    assert_eq!(f.server.token_requests(), 0);
}

#[test]
fn other_grantkit_variables_are_not_configuration() {
    use std::os::unix::ffi::OsStringExt as _;
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    let output = grantkit()
        .env("XDG_CACHE_HOME", f.dir.path().join("cache"))
        .env("GRANTKIT_LOG", "debug")
        .env("GRANTKIT_EXAMPLES_LOCAL", "1")
        .env(
            "GRANTKIT_SOMETHING_ELSE",
            std::ffi::OsString::from_vec(b"\xff".to_vec()),
        )
        .args(["token", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    success(&output);
    assert_eq!(stderr(&output), "");
}

/// Runs `grantkit <args>` with stdout a pipe whose reader is already closed.
fn run_into_a_closed_pipe(config: &Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_grantkit"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", config.parent().unwrap().join("cache"))
        .args(args)
        .arg("-c")
        .arg(config)
        .stdout(writer)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let f = Fixture::new();
    let config = f.config(&plain_profile(&f, ""));
    for args in [&["profiles"][..], &["token"], &["token", "-f", "json"]] {
        let output = run_into_a_closed_pipe(&config, args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stderr(&output), "", "{args:?}");
    }
    let jwt = test_jwt(&json!({"sub": "x", "exp": now_secs() + 60}));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_grantkit"))
        .args(["inspect", &jwt])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}
