//! The built `grantkit` binary against a real authorization server: oidc-provider
//! (interop/oidc-provider/serve.mjs, its device client `grantkit-device`), started by the
//! shared harness of `grantkit-integration-tests` (`tests/oidc_provider.rs`), which also plays
//! the user in the browser over HTTP (the user-code page, the development login, consent).
//!
//! `grantkit login -p me` runs as a child process: the test reads the verification URL
//! from its stderr while it waits, approves, and the binary exits 0 with the user's tokens
//! in a file store; `grantkit token` serves them, renews them through the (rotated)
//! refresh token once the stored token has expired (its times moved two hours back, as if
//! that much time had gone by), and `grantkit logout` has the server revoke them (proven by
//! oidc-provider's introspection endpoint) before `grantkit token` says to log in.
//!
//! Set-up and skipping as in the library's interop tests: `bash
//! interop/oidc-provider/prepare.sh`; with `CI=true` a missing server fails instead of
//! skipping. oidc-provider names no polling interval, so the login waits RFC 8628's 5 s
//! once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use grantkit_integration_tests::oidc_provider::{Browser, LoginBrowser, Op, op, query_param};

/// How long any one `grantkit` process may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// A `device_code` profile `me` for serve.mjs's device client, with a file store and the
/// revocation endpoint, in `dir`, plus `extra` lines; written to `dir/file`.
fn write_config(op: &Op, dir: &Path, file: &str, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let issuer = &op.issuer;
    let toml = format!(
        "[profiles.me]\n\
         grant = \"device_code\"\n\
         device_authorization_url = \"{issuer}/device/auth\"\n\
         token_url = \"{issuer}/token\"\n\
         revocation_url = \"{issuer}/token/revocation\"\n\
         client_id = \"grantkit-device\"\n\
         scope = \"openid offline_access\"\n\
         store = {{ kind = \"file\", path = \"{store}\" }}\n{extra}",
        store = dir.join("tokens").display(),
    );
    let path = dir.join(file);
    std::fs::write(&path, toml).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `grantkit ARGS -c CONFIG`, with no `GRANTKIT_*` variable of the test's environment and a
/// cache directory of its own.
fn grantkit(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grantkit"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", config.parent().unwrap().join("cache"))
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs a command that returns at once; its exit code must be `code`.
#[track_caller]
fn run(op: &Op, config: &Path, args: &[&str], code: i32) -> (String, String) {
    let output: Output = grantkit(config, args).output().unwrap();
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "grantkit {args:?}\nstdout: {out}\nstderr: {err}\nserver log:\n{}",
        op.log()
    );
    (out, err)
}

/// `grantkit ARGS` (a login): reads its stderr while it waits, gives the URL it shows on a
/// line starting with `indent` to `user`, then waits for it to exit 0. Returns its stdout
/// and stderr.
fn login(
    op: &Op,
    config: &Path,
    args: &[&str],
    indent: &str,
    user: impl FnOnce(String),
) -> (String, String) {
    let mut child = grantkit(config, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let started = Instant::now();
    let mut err = String::new();
    let url = loop {
        let Ok(line) = rx.recv_timeout(DEADLINE.saturating_sub(started.elapsed())) else {
            let _ = child.kill();
            panic!(
                "no verification URL on stderr:\n{err}\nserver log:\n{}",
                op.log()
            );
        };
        err.push_str(&line);
        err.push('\n');
        if let Some(url) = line
            .strip_prefix(indent)
            .filter(|l| l.starts_with("http://"))
        {
            break url.to_owned();
        }
    };
    user(url);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!(
                "`grantkit login` did not end:\n{err}\nserver log:\n{}",
                op.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    err.extend(rx.try_iter().map(|line| line + "\n"));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "stdout: {out}\nstderr: {err}\nserver log:\n{}",
        op.log()
    );
    (out, err)
}

/// The store directory's one token file (docs/stores.md, "A stored record").
fn token_file(store: &Path) -> (PathBuf, serde_json::Value) {
    let files: Vec<PathBuf> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let json = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    (files[0].clone(), json)
}

/// Moves the stored token's issue and expiry times `by` into the past, as if that much
/// time had gone by since the login (the binary reads the system clock).
fn age_stored_token(store: &Path, by: Duration) {
    let (path, mut json) = token_file(store);
    let by = u64::try_from(by.as_millis()).unwrap();
    for field in ["issued_at_ms", "expires_at_ms"] {
        let ms = json[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in the record"));
        json[field] = (ms - by).into();
    }
    std::fs::write(path, serde_json::to_vec(&json).unwrap()).unwrap();
}

/// The refresh token in the store directory's one token file.
fn stored_refresh_token(store: &Path) -> String {
    let (_, json) = token_file(store);
    json["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {json}"))
        .to_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn active(op: &Op, token: &str) -> bool {
    block_on(op.active(token))
}

/// An access token of oidc-provider: opaque, 43 base64url characters (256 bits).
#[track_caller]
fn assert_access_token_shape(token: &str) {
    assert_eq!(token.len(), 43, "{token:?}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token:?}"
    );
}

#[test]
fn login_token_renewal_and_logout_with_the_built_binary() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(op, dir.path(), "grantkit.toml", "");
    let store = dir.path().join("tokens");

    let (_, err) = run(op, &config, &["token", "-p", "me"], 1);
    assert!(err.contains("run `grantkit login -p me`"), "{err}");

    // Log in: the prompt on stderr, nothing on stdout.
    let (out, err) = login(op, &config, &["login", "-p", "me"], "    ", |url| {
        let page = block_on(Browser::new().approve(&url, &[]));
        assert!(page.contains("<h1>Sign-in Success</h1>"), "{page}");
    });
    assert_eq!(out, "");
    let prefix = format!(
        "grantkit: to log in to profile `me`, open this URL in a browser:\n\n    {}/device?user_code=",
        op.issuer
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.ends_with(&format!(
            "grantkit: logged in; profile `me` keeps the user's tokens in file ({})\n",
            store.display()
        )),
        "{err}"
    );
    let refresh_1 = stored_refresh_token(&store);

    // The token the login stored, active at the server; served again from the store.
    let (first, _) = run(op, &config, &["token", "-p", "me"], 0);
    let first = first.strip_suffix('\n').unwrap().to_owned();
    assert_access_token_shape(&first);
    assert!(active(op, &first), "{}", op.log());
    let (again, _) = run(op, &config, &["token", "-p", "me"], 0);
    assert_eq!(again.trim_end(), first);

    // Renewal through the refresh token, which oidc-provider rotates: the store keeps the
    // new one, and the next process serves it.
    age_stored_token(&store, Duration::from_secs(2 * 3600));
    let (renewed, _) = run(op, &config, &["token", "-p", "me"], 0);
    let renewed = renewed.trim_end().to_owned();
    assert_access_token_shape(&renewed);
    assert_ne!(renewed, first);
    assert!(active(op, &renewed), "{}", op.log());
    let refresh_2 = stored_refresh_token(&store);
    assert_ne!(refresh_2, refresh_1, "rotated");
    assert!(!active(op, &refresh_1), "the rotated-away refresh token");
    assert!(active(op, &refresh_2), "{}", op.log());
    let (again, _) = run(op, &config, &["token", "-p", "me"], 0);
    assert_eq!(again.trim_end(), renewed);

    // Logout: the server revokes the refresh token, the store forgets the tokens.
    let (_, err) = run(op, &config, &["logout", "-p", "me"], 0);
    assert_eq!(
        err,
        format!(
            "grantkit: logged out; the server revoked the user's tokens of profile `me`, removed from file ({})\n",
            store.display()
        )
    );
    assert!(!active(op, &refresh_2), "revoked");
    let (out, err) = run(op, &config, &["token", "-p", "me"], 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "grantkit: error: profile `me`: not logged in (or the login expired or was revoked): \
         run `grantkit login -p me`\n"
    );
}

/// `grantkit login --browser --no-open` with serve.mjs's native client: the test opens the
/// printed URL in the harness's browser (development login, consent), which the server
/// redirects to the binary's loopback listener; the binary redeems the code (PKCE) and
/// exits 0, and `grantkit token` serves the user's token. Scope `openid` only: a refresh
/// token needs `offline_access`, which oidc-provider grants only with `prompt=consent`, and
/// a profile cannot add parameters to the authorization request (yet).
#[test]
fn browser_login_then_token_with_the_built_binary() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();
    let issuer = &op.issuer;
    let store = dir.path().join("tokens");
    let config = dir.path().join("grantkit.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.web]\n\
             grant = \"authorization_code\"\n\
             authorization_url = \"{issuer}/auth\"\n\
             token_url = \"{issuer}/token\"\n\
             client_id = \"grantkit-native\"\n\
             scope = \"openid\"\n\
             store = {{ kind = \"file\", path = \"{store}\" }}\n",
            store = store.display(),
        ),
    )
    .unwrap();
    let args = ["login", "-p", "web", "--browser", "--no-open"];
    let (out, err) = login(op, &config, &args, "  ", |url| {
        let redirect_uri = query_param(&url, "redirect_uri").unwrap();
        assert!(
            redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
            "{redirect_uri}"
        );
        let (status, page) = block_on(LoginBrowser::new().log_in(url, &redirect_uri, || op.log()));
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Login complete"), "{page}");
    });
    assert_eq!(out, "");
    assert!(
        err.starts_with(&format!(
            "To log in, open this URL in a browser on this machine:\n\n  {issuer}/auth?"
        )),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "grantkit: logged in; profile `web` keeps the user's tokens in file ({})\n",
            store.display()
        )),
        "{err}"
    );
    let (token, _) = run(op, &config, &["token", "-p", "web"], 0);
    let token = token.strip_suffix('\n').unwrap();
    assert_access_token_shape(token);
    assert!(active(op, token), "{}", op.log());
}
