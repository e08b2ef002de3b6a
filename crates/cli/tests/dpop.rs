//! `grantkit proof` and DPoP profiles, against a mocked token endpoint that issues DPoP
//! tokens (the in-process server's DPoP checks are exercised in the workspace tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use mockito::Matcher;
use serde_json::Value;
use tempfile::TempDir;

const TOKEN: &str = r#"{"access_token":"dpop-at-1","token_type":"DPoP","expires_in":3600}"#;

fn grantkit(dir: &Path) -> Command {
    let mut cmd = cargo_bin_cmd!("grantkit");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", dir.join("cache"));
    cmd.timeout(Duration::from_secs(60));
    cmd
}

fn run(dir: &Path, config: &Path, args: &[&str]) -> Output {
    grantkit(dir)
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .trim_end()
        .to_owned()
}

fn failed(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(&B64URL.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// A configuration with one DPoP profile (`api`) on an encrypted file store, and
/// `extra` appended.
fn config(dir: &TempDir, token_url: &str, store: &str, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tokens = dir.path().join("tokens");
    let store = store
        .replace("{dir}", &tokens.display().to_string())
        .replace("{key}", &key_file.display().to_string());
    let path = dir.path().join("grantkit.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            default_profile = "api"

            [profiles.api]
            grant = "client_credentials"
            token_url = "{token_url}"
            client_id = "cli"
            client_secret = "s3cret"
            dpop = {{ alg = "ES256" }}
            store = {store}
            {extra}
            "#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

const ENCRYPTED: &str = r#"{ kind = "file", path = "{dir}", encryption_key_file = "{key}" }"#;

#[test]
fn proofs_use_the_stored_token_and_its_key_across_invocations() {
    let mut server = mockito::Server::new();
    let token = server
        .mock("POST", "/token")
        .match_header("dpop", Matcher::Regex(r"^[\w-]+\.[\w-]+\.[\w-]+$".into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(TOKEN)
        .expect(1)
        .create();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, &format!("{}/token", server.url()), ENCRYPTED, "");
    let url = "https://api.example.com/v1/things?page=2";

    let first = ok(&run(
        dir.path(),
        &config,
        &["proof", "--url", url, "-m", "POST"],
    ));
    let header = part(&first, 0);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["kty"], "EC");
    let claims = part(&first, 1);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], "https://api.example.com/v1/things");
    assert_eq!(
        claims["ath"],
        B64URL.encode(<sha2::Sha256 as sha2::Digest>::digest(b"dpop-at-1"))
    );

    let second = ok(&run(dir.path(), &config, &["proof", "--url", url]));
    assert_eq!(
        part(&second, 0)["jwk"],
        header["jwk"],
        "the stored key signs"
    );
    assert_eq!(part(&second, 1)["htm"], "GET");
    assert_ne!(part(&second, 1)["jti"], claims["jti"]);

    let json: Value =
        serde_json::from_str(&ok(&run(dir.path(), &config, &["token", "-f", "json"]))).unwrap();
    assert_eq!(json["token_type"], "DPoP");
    assert_eq!(
        ok(&run(dir.path(), &config, &["token", "-f", "header"])),
        "DPoP dpop-at-1"
    );
    token.assert();

    // The file store holds the key only inside the encrypted record.
    let mut stored = String::new();
    for entry in std::fs::read_dir(dir.path().join("tokens")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
        }
    }
    assert!(stored.contains("ciphertext"), "{stored}");
    assert!(
        !stored.contains("pkcs8") && !stored.contains("dpop-at-1"),
        "{stored}"
    );

    let err = failed(
        &run(dir.path(), &config, &["proof", "--url", "/relative"]),
        2,
    );
    assert!(err.contains("absolute http(s) URL"), "{err}");

    let listing = ok(&run(dir.path(), &config, &["profiles"]));
    assert!(
        listing.contains("DPoP ES256 (a new key per token)"),
        "{listing}"
    );
}

#[test]
fn a_clear_file_store_needs_an_explicit_choice() {
    let server = mockito::Server::new();
    let dir = tempfile::tempdir().unwrap();
    let clear = r#"{ kind = "file", path = "{dir}" }"#;
    let config = config(&dir, &format!("{}/token", server.url()), clear, "");
    let err = failed(
        &run(
            dir.path(),
            &config,
            &["proof", "--url", "https://a.example/"],
        ),
        2,
    );
    assert!(err.contains("plaintext_key_in_store"), "{err}");
    assert!(err.contains("profile `api`"), "{err}");
}

#[test]
fn proof_refuses_a_profile_without_dpop_a_bearer_answer_and_bad_arguments() {
    let mut server = mockito::Server::new();
    let _bearer = server
        .mock("POST", "/token")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(r#"{"access_token":"plain","token_type":"Bearer","expires_in":3600}"#)
        .create();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/token", server.url());
    let config = config(
        &dir,
        &url,
        ENCRYPTED,
        &format!(
            r#"
            [profiles.plain]
            grant = "client_credentials"
            token_url = "{url}"
            client_id = "cli"
            client_secret = "s3cret"
            "#
        ),
    );
    let err = failed(
        &run(
            dir.path(),
            &config,
            &["proof", "-p", "plain", "--url", "https://a.example/"],
        ),
        2,
    );
    assert!(err.contains("does not use DPoP"), "{err}");

    let err = failed(
        &run(
            dir.path(),
            &config,
            &["proof", "--url", "https://a.example/"],
        ),
        2,
    );
    assert!(err.contains("a Bearer token, not a DPoP token"), "{err}");

    let err = failed(
        &run(
            dir.path(),
            &config,
            &["proof", "--url", "https://a.example/", "-m", "GE T"],
        ),
        2,
    );
    assert!(err.contains("not an HTTP method"), "{err}");
}
