//! The options every command shares and how failures read: `-c` before or after the
//! command, from stdin or a pipe; `--no-config`; `completions`; one error prefix, causes
//! said once, the attempts a 503 took.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use grantkit::time::SystemClock;
use grantkit_testkit::server::{ServerConfig, TestServer};

/// The binary, with no `GRANTKIT_*` variable inherited and a user cache directory in `dir`.
fn grantkit(dir: &Path) -> Command {
    let mut cmd = cargo_bin_cmd!("grantkit");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .current_dir(dir)
        .timeout(Duration::from_secs(60));
    cmd
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts success and returns stdout.
fn success(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    stdout(output)
}

/// Asserts the exit code and an empty stdout, and returns stderr.
fn failure(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    assert_eq!(stdout(output), "");
    stderr(output)
}

fn server() -> TestServer {
    TestServer::start_in_background(ServerConfig::default(), Arc::new(SystemClock::new()))
}

/// A profile `acme` of the test server, with its secret, kept in memory.
fn profile(server: &TestServer) -> String {
    format!(
        "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\n\
         client_secret = \"{}\"\nstore = {{ kind = \"memory\" }}\n",
        server.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET
    )
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

// ---------------------------------------------------------------- -c

#[test]
fn config_goes_before_or_after_the_command() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "acme.toml", &profile(&server), 0o600);
    let config = config.to_str().unwrap();
    for args in [
        &["-c", config, "token"][..],
        &["token", "-c", config],
        &["--config", config, "token", "-p", "acme"],
        &["-q", "--config", config, "token", "-f", "header"],
    ] {
        let out = success(&grantkit(dir.path()).args(args).output().unwrap());
        assert!(
            out.starts_with("at-") || out.starts_with("Bearer at-"),
            "{args:?}: {out}"
        );
    }
    for args in [&["-c", config, "profiles"][..], &["profiles", "-c", config]] {
        let out = success(&grantkit(dir.path()).args(args).output().unwrap());
        assert!(out.contains("acme"), "{args:?}: {out}");
    }
    for args in [
        &["-c", config, "invalidate"][..],
        &["invalidate", "-c", config],
    ] {
        success(&grantkit(dir.path()).args(args).output().unwrap());
    }
    assert_eq!(server.token_requests(), 4);
}

#[test]
fn config_dash_reads_stdin_without_a_permission_warning() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let output = grantkit(dir.path())
        .args(["token", "-c", "-"])
        .write_stdin(profile(&server))
        .output()
        .unwrap();
    assert!(success(&output).starts_with("at-"));
    // The text holds a secret, but stdin is not a file anyone else can open.
    assert_eq!(stderr(&output), "");

    let output = grantkit(dir.path())
        .args(["-c", "-", "profiles"])
        .write_stdin(profile(&server))
        .output()
        .unwrap();
    assert!(success(&output).contains(&server.token_url()));

    // Errors name where the text came from.
    let output = grantkit(dir.path())
        .args(["-c", "-", "token"])
        .write_stdin("[profiles.acme]\ngrant = \"client_credentials\"\nclinet_id = \"x\"\n")
        .output()
        .unwrap();
    let err = failure(&output, 2);
    assert!(
        err.starts_with("grantkit: error: invalid configuration: unknown field: found `clinet_id`"),
        "{err}"
    );
    assert!(
        err.ends_with("(at `profiles.acme.clinet_id`) in TOML from standard input\n"),
        "{err}"
    );
    let output = grantkit(dir.path())
        .args(["-c", "-", "profiles"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: standard input defines no profiles: add a [profiles.<name>] table\n"
    );
}

#[test]
fn a_process_substitution_is_read_like_a_file() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "acme.toml", &profile(&server), 0o644);
    // `<(cat …)` is an anonymous pipe, private to its processes: no permission warning,
    // although the file it was read from is world-readable.
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec {} token -c <(cat acme.toml)",
            env!("CARGO_BIN_EXE_grantkit")
        ))
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("GRANTKIT_CONFIG")
        .output()
        .unwrap();
    assert!(success(&output).starts_with("at-"));
    assert_eq!(stderr(&output), "");
}

/// Writes `text` into the FIFO at `path` once a reader opens it.
fn feed(path: &Path, text: String) -> std::thread::JoinHandle<()> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        // Opening for writing blocks until grantkit opens the FIFO for reading.
        if let Ok(mut fifo) = std::fs::OpenOptions::new().write(true).open(&path) {
            let _ = fifo.write_all(text.as_bytes());
        }
    })
}

fn mkfifo(path: &Path, mode: u32) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_named_pipe_is_read_once_and_checked_like_a_file() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.fifo");
    mkfifo(&private, 0o600);
    let writer = feed(&private, profile(&server));
    let output = grantkit(dir.path())
        .args(["token", "-c"])
        .arg(&private)
        .output()
        .unwrap();
    writer.join().unwrap();
    assert!(success(&output).starts_with("at-"));
    assert_eq!(stderr(&output), "");

    // Others may open this one and read the secret written into it: warned about, as a
    // file would be.
    let shared = dir.path().join("shared.fifo");
    mkfifo(&shared, 0o644);
    let writer = feed(&shared, profile(&server));
    let output = grantkit(dir.path())
        .args(["token", "-c"])
        .arg(&shared)
        .output()
        .unwrap();
    writer.join().unwrap();
    assert!(success(&output).starts_with("at-"));
    assert_eq!(
        stderr(&output),
        format!(
            "grantkit: warning: configuration file {} holds a secret \
             (`profiles.acme.client_secret`) and is readable by other users (mode 644): run \
             `chmod 600 {}`, or move the secret to a GRANTKIT_PROFILES__… environment variable\n",
            shared.display(),
            shared.display()
        )
    );
    assert!(!stderr(&output).contains(TestServer::CLIENT_SECRET));
}

#[test]
fn a_directory_is_not_a_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = grantkit(dir.path())
        .args(["token", "-c"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        format!(
            "grantkit: error: configuration file {} is a directory\n",
            dir.path().display()
        )
    );
}

// ---------------------------------------------------------------- --no-config

#[test]
fn no_config_takes_the_profiles_from_the_environment_alone() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    // Both would be found without --no-config; neither is read.
    let broken = write(dir.path(), "grantkit.toml", "not toml [", 0o600);
    let env = [
        ("GRANTKIT_CONFIG", broken.to_str().unwrap().to_owned()),
        (
            "GRANTKIT_PROFILES__CI__GRANT",
            "client_credentials".to_owned(),
        ),
        ("GRANTKIT_PROFILES__CI__TOKEN_URL", server.token_url()),
        (
            "GRANTKIT_PROFILES__CI__CLIENT_ID",
            TestServer::CLIENT_ID.to_owned(),
        ),
        (
            "GRANTKIT_PROFILES__CI__CLIENT_SECRET",
            TestServer::CLIENT_SECRET.to_owned(),
        ),
        ("GRANTKIT_PROFILES__CI__STORE__KIND", "memory".to_owned()),
    ];
    for args in [
        &["--no-config", "token"][..],
        &["token", "--no-config", "-p", "ci"],
    ] {
        let output = grantkit(dir.path())
            .envs(env.clone())
            .args(args)
            .output()
            .unwrap();
        assert!(success(&output).starts_with("at-"), "{args:?}");
        assert_eq!(stderr(&output), "");
    }
    let output = grantkit(dir.path())
        .envs(env.clone())
        .args(["profiles", "--no-config"])
        .output()
        .unwrap();
    let table = success(&output);
    assert!(table.contains("*  ci "), "{table}");
    assert!(!table.contains(TestServer::CLIENT_SECRET), "{table}");
    assert_eq!(server.token_requests(), 2);

    // Without --no-config, the broken file is read.
    let output = grantkit(dir.path())
        .envs(env)
        .arg("token")
        .output()
        .unwrap();
    assert!(failure(&output, 2).contains("grantkit.toml"));
}

#[test]
fn no_config_without_a_profile_in_the_environment_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "grantkit.toml", "[profiles.acme]\n", 0o600);
    for command in ["token", "profiles", "invalidate"] {
        let output = grantkit(dir.path())
            .args(["--no-config", command])
            .output()
            .unwrap();
        assert_eq!(
            failure(&output, 2),
            "grantkit: error: --no-config: the environment defines no profile; set \
             GRANTKIT_PROFILES__<PROFILE>__GRANT and the profile's other keys \
             (GRANTKIT_PROFILES__<PROFILE>__TOKEN_URL, …__CLIENT_ID, …), or drop \
             --no-config to read a configuration file\n",
            "{command}"
        );
    }
    // A profile named that the environment lacks: the usual error, listing the others.
    let output = grantkit(dir.path())
        .env("GRANTKIT_PROFILES__CI__GRANT", "client_credentials")
        .args(["--no-config", "token", "-p", "acme"])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: no profile `acme` in the configuration; profiles: ci\n"
    );
}

#[test]
fn no_config_and_config_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let output = grantkit(dir.path())
        .args(["--no-config", "token", "-c", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: --no-config and -c/--config exclude each other: drop one\n"
    );
    let output = grantkit(dir.path())
        .args(["-c", "x.toml", "--no-config", "profiles"])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: --no-config and -c/--config exclude each other: drop one\n"
    );
}

// ---------------------------------------------------------------- completions

#[test]
fn completions_name_every_command_and_option() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, start) in [
        ("bash", "_grantkit() {"),
        ("zsh", "#compdef grantkit"),
        ("fish", "# Print an optspec for argparse"),
    ] {
        let output = grantkit(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = success(&output);
        assert_eq!(stderr(&output), "", "{shell}");
        assert!(script.starts_with(start), "{shell}: {}", &script[..80]);
        for word in [
            "token",
            "inspect",
            "profiles",
            "invalidate",
            "login",
            "completions",
            "config",
            "no-config",
            "profile",
            "format",
        ] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let err = failure(
        &grantkit(dir.path())
            .args(["completions", "tcsh"])
            .output()
            .unwrap(),
        2,
    );
    assert!(
        err.starts_with("grantkit: error: invalid value 'tcsh' for '<SHELL>'"),
        "{err}"
    );
}

#[test]
fn completions_load_in_bash() {
    let dir = tempfile::tempdir().unwrap();
    // bash defines the function and registers it for `grantkit`.
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <({} completions bash) && complete -p grantkit",
            env!("CARGO_BIN_EXE_grantkit")
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("_grantkit"), "{}", stdout(&output));
}

// ---------------------------------------------------------------- how failures read

#[test]
fn every_failure_has_one_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["frobnicate"],
            "grantkit: error: unrecognized subcommand 'frobnicate'\n",
        ),
        (
            &["token", "--fromat", "json"],
            "grantkit: error: unexpected argument '--fromat' found\n",
        ),
        (
            &["token", "-f", "xml"],
            "grantkit: error: invalid value 'xml' for '--format <FORMAT>'\n",
        ),
        (&[], "grantkit: error: a command is required\n"),
        (
            &["token", "-c", "absent.toml"],
            "grantkit: error: configuration file absent.toml does not exist\n",
        ),
    ];
    for (args, first_line) in cases {
        let err = failure(&grantkit(dir.path()).args(args).output().unwrap(), 2);
        assert!(err.starts_with(first_line), "{args:?}: {err}");
        // One error, said once: no second `error:` from clap.
        assert_eq!(err.matches("error:").count(), 1, "{args:?}: {err}");
    }
    // Help and version are not failures.
    for arg in ["--help", "--version"] {
        let output = grantkit(dir.path()).arg(arg).output().unwrap();
        assert!(success(&output).contains("grantkit"), "{arg}");
        assert_eq!(stderr(&output), "", "{arg}");
    }
}

#[test]
fn a_refused_connection_is_said_once_with_the_attempts() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write(
        dir.path(),
        "grantkit.toml",
        &format!(
            "[profiles.acme]\ngrant = \"client_credentials\"\n\
             token_url = \"http://127.0.0.1:{port}/oauth/token\"\nclient_id = \"id\"\n\
             client_secret = \"s\"\nstore = {{ kind = \"memory\" }}\n"
        ),
        0o600,
    );
    let output = grantkit(dir.path())
        .args(["token", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let err = failure(&output, 1);
    assert!(
        err.starts_with(
            "grantkit: error: profile `acme`: could not connect to the token endpoint (after 4 attempts): "
        ),
        "{err}"
    );
    let parts: Vec<&str> = err.trim_end().split(": ").collect();
    for pair in parts.windows(2) {
        assert_ne!(pair[0], pair[1], "repeated: {err}");
    }
    assert_eq!(err.matches("onnection refused").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_503_says_how_many_attempts_were_made() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = std::thread::spawn(move || {
        let mut count = 0;
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
                  content-length: 19\r\nconnection: close\r\n\r\nService Unavailable",
            );
            count += 1;
        }
        count
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "grantkit.toml",
        &format!(
            "[profiles.acme]\ngrant = \"client_credentials\"\n\
             token_url = \"http://127.0.0.1:{port}/oauth/token\"\nclient_id = \"id\"\n\
             client_secret = \"s\"\nstore = {{ kind = \"memory\" }}\n"
        ),
        0o600,
    );
    let output = grantkit(dir.path())
        .args(["-c"])
        .arg(&config)
        .arg("token")
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 1),
        "grantkit: error: profile `acme`: token endpoint answered an error (HTTP 503, after 4 \
         attempts): \"Service Unavailable\"\n"
    );
    assert_eq!(requests.join().unwrap(), 4);
}

#[test]
fn endless_or_binary_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = grantkit(dir.path())
        .args(["token", "-c", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: configuration file /dev/zero cannot be read: more than 1048576 bytes\n"
    );
    let output = grantkit(dir.path())
        .args(["token", "-c", "-"])
        .write_stdin(vec![b'a'; 2 << 20])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: cannot read the configuration from standard input: more than 1048576 bytes\n"
    );
    let output = grantkit(dir.path())
        .args(["token", "-c", "-"])
        .write_stdin(vec![0xff, 0xfe])
        .output()
        .unwrap();
    assert_eq!(
        failure(&output, 2),
        "grantkit: error: cannot read the configuration from standard input: stream did not contain valid UTF-8\n"
    );
}
