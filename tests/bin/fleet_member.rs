//! One process of a fleet, for the fleet tests: builds a manager from a profile (its store
//! shared with the other processes), then makes API calls through the reqwest middleware
//! and prints one line per call: `<status> <token fingerprint>`. Exits 1 when a call did
//! not succeed, 2 on bad arguments.
//!
//! `grantkit-fleet-member <config.toml> <profile> <api-url> <calls>`
//!
//! The fingerprint is the first 12 hex digits of the access token's SHA-256 (never the
//! token), so a test can tell that every process used the same token.

use std::process::ExitCode;

use grantkit::config::Config;
use grantkit::middleware::AuthMiddleware;
use sha2::Digest as _;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, profile, url, calls] = args.as_slice() else {
        eprintln!("usage: grantkit-fleet-member <config.toml> <profile> <api-url> <calls>");
        return ExitCode::from(2);
    };
    let Ok(calls) = calls.parse::<usize>() else {
        eprintln!("calls must be a number");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config, profile, url, calls)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("fleet member failed: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(
    config: &str,
    profile: &str,
    url: &str,
    calls: usize,
) -> Result<bool, Box<dyn std::error::Error>> {
    let config = Config::load(config)?;
    let manager = config.builder(Some(profile))?.build()?;
    let host = url::Url::parse(url)?
        .host_str()
        .ok_or("the API URL has no host")?
        .to_owned();
    let port = url::Url::parse(url)?.port_or_known_default().unwrap_or(443);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(
            manager.clone(),
            [format!("{host}:{port}")],
        ))
        .build();
    let mut all_ok = true;
    for _ in 0..calls {
        let response = client.get(url).send().await?;
        let status = response.status();
        let token = manager.token().await?;
        let digest = sha2::Sha256::digest(token.access_token().secret().as_bytes());
        let fingerprint: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        println!("{} {fingerprint}", status.as_u16());
        all_ok &= status.is_success();
    }
    Ok(all_ok)
}
