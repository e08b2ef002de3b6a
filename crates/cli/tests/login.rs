//! `grantkit login --browser`, then `grantkit token`: the built binary logs in (the test
//! plays the browser's redirect to its loopback listener), a mockito token endpoint checks
//! the code exchange, and the next process serves the stored token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;

fn config(dir: &std::path::Path, token_url: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("grantkit.toml");
    let store = dir.join("tokens");
    std::fs::write(
        &path,
        format!(
            r#"
[profiles.me]
grant = "authorization_code"
authorization_url = "https://auth.example.com/authorize"
token_url = "{token_url}"
client_id = "cli"
scope = "openid offline_access"
store = {{ kind = "file", path = "{}" }}
"#,
            store.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `GET {redirect_uri}?{query}` over a plain socket; the status line and the page.
fn redirect(redirect_uri: &str, query: &str) -> String {
    let rest = redirect_uri.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path}?{query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn login_in_a_browser_then_token_serves_the_stored_login() {
    let mut server = mockito::Server::new();
    let exchange = server
        .mock("POST", "/token")
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(mockito::Matcher::Regex(
            "^grant_type=authorization_code&code=c-cli&redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A[0-9]+%2Fcallback&client_id=cli&code_verifier=[A-Za-z0-9_-]{43}$".into(),
        ))
        .with_body(r#"{"access_token":"at-cli","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-cli"}"#)
        .expect(1)
        .create();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("{}/token", server.url()));

    // Before a login, `token` asks for one instead of opening a browser.
    let before = Command::new(cargo_bin("grantkit"))
        .args(["token", "-c"])
        .arg(&config)
        .args(["-p", "me"])
        .output()
        .unwrap();
    assert_eq!(before.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(stderr.contains("run `grantkit login -p me`"), "{stderr}");

    let mut login = Command::new(cargo_bin("grantkit"))
        .args(["login", "-c"])
        .arg(&config)
        .args(["-p", "me", "--browser", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap());
    let mut shown = String::new();
    let url = loop {
        let mut line = String::new();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "no URL in {shown}");
        shown.push_str(&line);
        if let Some(url) = line
            .trim()
            .strip_prefix("https://auth.example.com/authorize?")
        {
            break url.to_owned();
        }
    };
    let param = |name: &str| {
        url.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("code_challenge_method"), "S256");
    let redirect_uri = param("redirect_uri")
        .replace("%3A", ":")
        .replace("%2F", "/");
    let page = redirect(
        &redirect_uri,
        &format!("code=c-cli&state={}", param("state")),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = login.wait().unwrap();
    assert!(status.success(), "{shown}{rest}");
    assert!(rest.contains("grantkit: logged in; profile `me`"), "{rest}");
    exchange.assert();

    // Another process: the stored login's token, without a request.
    let token = Command::new(cargo_bin("grantkit"))
        .args(["token", "-c"])
        .arg(&config)
        .args(["-p", "me"])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&token.stdout), "at-cli\n");
    exchange.assert();
}
