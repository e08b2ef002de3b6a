//! Runs every example the way a user would: `--local`, with no network and no credentials;
//! then the real-service mode of the generic ones against a test server, and every
//! example without credentials.
//!
//! The example binaries are the ones cargo built for this same `cargo test` run (it builds
//! examples to check that they compile). When one is missing or older than its source —
//! `cargo test --test run_examples` builds no examples — it is built first with
//! `cargo build --example`.

#![allow(clippy::expect_used, clippy::panic)] // test code: a failure should stop the test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grantkit::time::SystemClock;
use grantkit_testkit::server::{ServerConfig, TestServer};

const EXAMPLES: &[&str] = &[
    "quickstart",
    "twenty_four_seven_office",
    "disruptive_technologies",
    "password_grant",
    "client_credentials_env",
    "custom_grant",
    "metrics_prometheus",
    "tonic_client",
];

/// Every variable an example reads; cleared so that the developer's shell cannot change
/// what a test sees.
const ENV_VARS: &[&str] = &[
    "GRANTKIT_EXAMPLES_LOCAL",
    "TSO_CLIENT_ID",
    "TSO_CLIENT_SECRET",
    "TSO_LOGIN_ORGANIZATION",
    "TSO_API_URL",
    "DT_SERVICE_ACCOUNT_KEY_ID",
    "DT_SERVICE_ACCOUNT_EMAIL",
    "DT_SERVICE_ACCOUNT_SECRET",
    "DT_API_URL",
    "OAUTH_TOKEN_URL",
    "OAUTH_CLIENT_ID",
    "OAUTH_CLIENT_SECRET",
    "OAUTH_SCOPE",
    "OAUTH_CLIENT_AUTH",
    "OAUTH_USERNAME",
    "OAUTH_PASSWORD",
    "IBM_CLOUD_API_KEY",
    "IBM_IAM_TOKEN_URL",
    "GRPC_URL",
];

/// Values that must never appear in an example's output.
const SECRETS: &[&str] = &[
    TestServer::CLIENT_SECRET,
    TestServer::PASSWORD,
    TestServer::JWT_SECRET,
    "ibm-api-key-of-the-service-id",
    "revoked-api-key",
    "iam-token-",
    "at-1-",
    "rt-1-",
];

/// The binary of example `name`, built if missing or stale.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/run_examples-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!(
        (modified(&path), modified(&source)),
        (Some(built), Some(src)) if built >= src
    );
    if !fresh {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "grantkit-examples",
            "--example",
            name,
        ]);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(other) => {
                build.args(["--profile", other]);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example {name} failed");
        assert!(path.is_file(), "{} was not built", path.display());
    }
    path
}

/// Runs example `name` with `args` and `env`, and every other variable it reads unset.
fn run(name: &str, args: &[&str], env: &[(&str, String)]) -> (Output, String, String) {
    let mut command = Command::new(binary(name));
    command.args(args);
    for var in ENV_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let started = Instant::now();
    let output = command.output().expect("the example starts");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        elapsed < Duration::from_secs(30),
        "{name} took {elapsed:?}\n{stdout}\n{stderr}"
    );
    for secret in SECRETS {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{name} printed a secret ({secret:?})\n{stdout}\n{stderr}"
        );
    }
    (output, stdout, stderr)
}

/// Runs example `name --local`, checks it succeeded and printed every line of `expected`.
fn run_local(name: &str, expected: &[&str]) -> String {
    let (output, stdout, stderr) = run(name, &["--local"], &[]);
    assert!(
        output.status.success(),
        "{name} --local failed: {:?}\n{stdout}\n{stderr}",
        output.status
    );
    for line in expected {
        assert!(
            stdout.contains(line),
            "{name} did not print {line:?}\n{stdout}"
        );
    }
    stdout
}

/// The number after `label` on the line that starts with it.
fn count_after(stdout: &str, label: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} line in\n{stdout}"))
}

#[test]
fn quickstart() {
    let out = run_local(
        "quickstart",
        &["token requests made: 1", "Token expires in", "summary"],
    );
    assert!(count_after(&out, "tokens fetched:") >= 2, "{out}");
}

#[test]
fn twenty_four_seven_office_retries_once_after_a_403() {
    run_local(
        "twenty_four_seven_office",
        &[
            "rejected statuses: [401, 403]",
            "application/json {grant_type, client_id, client_secret, audience, login_organization}",
            "token requests: 1, API requests: 3",
            "token requests: 2 (+1), API requests: 5 (+2: the 403 and the retry)",
            "token requests: 2, API requests: 6",
        ],
    );
}

#[test]
fn disruptive_technologies_renews_ahead_of_expiry() {
    let out = run_local(
        "disruptive_technologies",
        &[
            "a 2-hour assertion is refused up front",
            "Token expires in",
            "/api/resource -> 200 OK",
        ],
    );
    let renewals = out.matches("-> new access token").count();
    assert!(renewals >= 2, "expected renewals\n{out}");
}

#[test]
fn password_grant_renews_with_the_refresh_token() {
    let out = run_local(
        "password_grant",
        &[
            "application/json {username, password, client_secret, client_id, grant_type}",
            "Authorization: Bearer <access token",
        ],
    );
    assert_eq!(count_after(&out, "password logins:"), 1, "{out}");
    assert!(count_after(&out, "refresh-token renewals:") >= 1, "{out}");
}

#[test]
fn client_credentials_env_shows_both_client_authentications() {
    run_local(
        "client_credentials_env",
        &[
            "application/x-www-form-urlencoded {grant_type, client_id, client_secret, scope}",
            "application/x-www-form-urlencoded {grant_type, scope} + Authorization: Basic",
            "scope \"read write\"",
            "token requests at the server: 2",
        ],
    );
}

#[test]
fn custom_grant_trades_the_api_key_once_and_reports_ibms_error() {
    run_local(
        "custom_grant",
        &[
            "[stand-in server]   grant_type=urn:ibm:params:oauth:grant-type:apikey",
            "[stand-in server]   apikey=[redacted, sha256 ",
            "got: Bearer token, ",
            " s lifetime, scope \"ibm openid\", refresh token kept: true",
            "requests at the stand-in: 1, cache hits: 100",
            "refused: kind Status, status Some(400), retryable false; token endpoint answered an error (HTTP 400): \"{\\\"errorCode\\\":\\\"BXNIM0415E\\\",\\\"errorMessage\\\":\\\"Provided API key could not be found.\\\"}\"",
            "requests at the stand-in: 2",
        ],
    );
}

#[test]
fn tonic_client_renews_and_retries_once_after_unauthenticated() {
    run_local(
        "tonic_client",
        &[
            "   Health/Check -> Serving",
            "token requests: 1, gRPC calls: 3",
            "token requests: 2, gRPC calls: 5",
        ],
    );
}

/// Without `--local` and without credentials: exit status 2, naming what is missing.
#[test]
fn without_credentials_every_example_names_the_missing_variables() {
    let cases: &[(&str, &[&str])] = &[
        (
            "twenty_four_seven_office",
            &[
                "TSO_CLIENT_ID",
                "TSO_CLIENT_SECRET",
                "TSO_LOGIN_ORGANIZATION",
            ],
        ),
        (
            "disruptive_technologies",
            &[
                "DT_SERVICE_ACCOUNT_KEY_ID",
                "DT_SERVICE_ACCOUNT_EMAIL",
                "DT_SERVICE_ACCOUNT_SECRET",
            ],
        ),
        (
            "password_grant",
            &[
                "OAUTH_TOKEN_URL",
                "OAUTH_CLIENT_ID",
                "OAUTH_CLIENT_SECRET",
                "OAUTH_USERNAME",
                "OAUTH_PASSWORD",
            ],
        ),
        (
            "client_credentials_env",
            &["OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"],
        ),
        ("custom_grant", &["IBM_CLOUD_API_KEY"]),
        (
            "tonic_client",
            &[
                "GRPC_URL",
                "OAUTH_TOKEN_URL",
                "OAUTH_CLIENT_ID",
                "OAUTH_CLIENT_SECRET",
            ],
        ),
    ];
    for (name, vars) in cases {
        let (output, stdout, stderr) = run(name, &[], &[]);
        assert_eq!(output.status.code(), Some(2), "{name}\n{stdout}\n{stderr}");
        assert!(stderr.contains("missing environment variable"), "{stderr}");
        assert!(
            stderr.contains(&format!("--example {name} -- --local")),
            "{stderr}"
        );
        for var in *vars {
            assert!(stderr.contains(var), "{name} did not name {var}\n{stderr}");
        }
    }
    // One variable set: only the others are named.
    let (output, _, stderr) = run(
        "client_credentials_env",
        &[],
        &[("OAUTH_TOKEN_URL", "https://auth.example.com/token".into())],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr.contains("OAUTH_TOKEN_URL"), "{stderr}");
    assert!(
        stderr.contains("OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET"),
        "{stderr}"
    );
}

/// The real-service path of the generic examples, with the test server as "the vendor".
#[test]
fn real_mode_of_the_generic_examples_against_a_test_server() {
    let server =
        TestServer::start_in_background(ServerConfig::default(), Arc::new(SystemClock::new()));
    let common = [
        ("OAUTH_TOKEN_URL", server.token_url()),
        ("OAUTH_CLIENT_ID", TestServer::CLIENT_ID.to_owned()),
        ("OAUTH_CLIENT_SECRET", TestServer::CLIENT_SECRET.to_owned()),
    ];

    let mut env = common.to_vec();
    env.push(("OAUTH_SCOPE", "read".into()));
    env.push(("OAUTH_CLIENT_AUTH", "basic".into()));
    let (output, stdout, stderr) = run("client_credentials_env", &[], &env);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("scope \"read\""), "{stdout}");
    assert_eq!(server.requests_for("client_credentials"), 1);
    let last = server.requests().pop().expect("a token request");
    assert!(last.authorization.is_some_and(|a| a.starts_with("Basic ")));

    let mut env = common.to_vec();
    env.push(("OAUTH_USERNAME", TestServer::USERNAME.to_owned()));
    env.push(("OAUTH_PASSWORD", TestServer::PASSWORD.to_owned()));
    let (output, stdout, stderr) = run("password_grant", &[], &env);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Authorization: Bearer <access token"),
        "{stdout}"
    );
    assert_eq!(server.requests_for("password"), 1);

    // The test server does not speak IBM's API-key grant: a refusal, exit status 1.
    let env = [
        ("IBM_IAM_TOKEN_URL", server.token_url()),
        ("IBM_CLOUD_API_KEY", "some-key".to_owned()),
    ];
    let (output, stdout, stderr) = run("custom_grant", &[], &env);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("unsupported_grant_type"), "{stderr}");
}

#[test]
fn metrics_prometheus_prints_every_kind_of_metric() {
    let out = run_local(
        "metrics_prometheus",
        &[
            "API answered 200 OK",
            "# TYPE grantkit_token_requests_total counter",
            r#"grantkit_token_requests_total{grant="client_credentials",outcome="transient"} 1"#,
            r#"grantkit_token_requests_total{grant="client_credentials",outcome="refused"} 1"#,
            r#"grantkit_token_requests_total{grant="client_credentials",outcome="ok"} 2"#,
            r#"grantkit_token_renewals_total{grant="client_credentials",outcome="failed"} 1"#,
            r#"grantkit_token_obtained_total{grant="client_credentials",source="endpoint"} 2"#,
            r#"grantkit_middleware_retries_total{grant="client_credentials",status="401"} 1"#,
            "# TYPE grantkit_token_request_duration_seconds histogram",
            r#"grantkit_token_request_duration_seconds_count{grant="client_credentials",outcome="ok"} 2"#,
            "# TYPE grantkit_token_renewal_duration_seconds histogram",
            "# TYPE grantkit_token_time_to_expiry_seconds gauge",
        ],
    );
    // 1000 calls from memory, and the middleware's first request (its token was then
    // rejected).
    assert!(
        out.contains(r#"grantkit_token_cache_hits_total{grant="client_credentials"} 1001"#),
        "{out}"
    );
}

#[test]
fn every_example_is_tested() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("examples/Cargo.toml");
    let declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "grantkit-examples")
        .collect();
    assert_eq!(declared, EXAMPLES);
}
