//! `grantkit`: cached, refreshed OAuth2 access tokens for shell scripts, CI jobs and
//! programs in other languages.
//!
//! ```text
//! curl -H "Authorization: $(grantkit token -p acme -f header)" https://api.example.com/things
//! ```
//!
//! Every command reads the profiles of a TOML configuration file (see `docs/cli.md` and
//! `docs/configuration.md`): `-c FILE`, else `$GRANTKIT_CONFIG`, else `./grantkit.toml`,
//! else `grantkit/grantkit.toml` in the user's configuration directory. Environment
//! variables `GRANTKIT_PROFILES__<PROFILE>__<KEY>` override the file.
//!
//! Exit codes: 0 success; 1 the token endpoint or the network refused (the message carries
//! the OAuth `error` and `error_description`); 2 bad usage or configuration (the message
//! names the field). Data goes to stdout, errors and logs to stderr, and no secret is
//! printed anywhere except the token itself, on stdout, by `grantkit token`.

#![forbid(unsafe_code)]

mod commands;
mod failure;
mod human;
mod inspect;
mod logging;
mod login;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::failure::Failure;

/// Cached, refreshed OAuth2 access tokens for the shell.
#[derive(Debug, Parser)]
#[command(
    name = "grantkit",
    version,
    about = "Cached, refreshed OAuth2 access tokens for the shell",
    long_about = "Cached, refreshed OAuth2 access tokens for the shell.\n\n\
        Prints a valid token for a profile of a TOML configuration file, reusing the token \
        the profile's store (file or Redis) holds until it nears expiry.",
    after_help = "Configuration file: -c FILE, else $GRANTKIT_CONFIG, else ./grantkit.toml, \
        else grantkit/grantkit.toml in the user's configuration directory. \
        GRANTKIT_PROFILES__<PROFILE>__<KEY> environment variables override the file.\n\n\
        Exit codes: 0 success; 1 the token endpoint or the network refused; \
        2 bad usage or configuration."
)]
struct Cli {
    /// Log what grantkit does on stderr (-v: debug, -vv: trace); secrets are never logged.
    /// Warnings and errors are shown without it.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,

    /// Show no warnings on stderr (a failed command still prints its error).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a valid access token for a profile.
    ///
    /// The token comes from the profile's store while it is fresh (so with a file or Redis
    /// store, repeated invocations share one token across processes) and from the token
    /// endpoint otherwise.
    Token(TokenArgs),
    /// Decode a JWT's header and claims, without verifying its signature.
    ///
    /// Reads the token from the argument, or from stdin when it is `-` or absent (prefer
    /// stdin: arguments are visible to other users of the machine). A leading `Bearer ` is
    /// ignored, so `grantkit token -f header | grantkit inspect` works. Exits 2 when the
    /// input is not a JWT.
    Inspect(InspectArgs),
    /// List the profiles: grant, token URL and store (never secrets).
    Profiles(ConfigArgs),
    /// Drop the stored token of a profile, so the next `grantkit token` fetches a new one.
    Invalidate(ProfileArgs),
    /// Log a user in and keep the user's tokens, so that `grantkit token` serves them.
    ///
    /// A profile with grant = "device_code" logs in with the device flow (RFC 8628): a URL
    /// and a code on stderr; open the URL on any device, enter the code and approve. A
    /// profile with grant = "authorization_code" logs in in a browser (`--browser`: the
    /// authorization code grant with PKCE, the redirect caught on 127.0.0.1). The tokens go
    /// to the profile's store (file or Redis), where every later `grantkit token -p NAME`,
    /// in any process, finds them and renews them through the refresh token.
    Login(LoginArgs),
    /// Log the user out of a profile: remove the user's tokens from its store.
    Logout(ProfileArgs),
}

#[derive(Debug, Args)]
struct LoginArgs {
    #[command(flatten)]
    profile: ProfileArgs,

    /// Log in in a browser: the authorization code grant with PKCE and a one-shot listener
    /// on 127.0.0.1.
    #[arg(long)]
    browser: bool,

    /// Print the URL without opening a browser.
    #[arg(long, requires = "browser")]
    no_open: bool,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The configuration file [default: $GRANTKIT_CONFIG, ./grantkit.toml, then the user's
    /// configuration directory].
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ProfileArgs {
    #[command(flatten)]
    config: ConfigArgs,

    /// The profile [default: the file's `default_profile`, or its only profile].
    #[arg(short, long, value_name = "NAME")]
    profile: Option<String>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    #[command(flatten)]
    profile: ProfileArgs,

    /// What to print.
    #[arg(short, long, value_enum, default_value_t = TokenFormat::Raw)]
    format: TokenFormat,

    /// Give up on the token endpoint after this many seconds, retries included
    /// [default: the profile's `deadline_secs`, else 30].
    #[arg(short, long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
}

/// The output of `grantkit token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TokenFormat {
    /// The access token alone.
    Raw,
    /// The `Authorization` header value: the token type, a space, the access token.
    Header,
    /// A JSON object: access_token, token_type, expires_at (RFC 3339), expires_in
    /// (seconds), scope.
    Json,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// The JWT, or `-` to read it from stdin (the default).
    #[arg(value_name = "TOKEN|-")]
    token: Option<String>,

    /// What to print.
    #[arg(short, long, value_enum, default_value_t = InspectFormat::Text)]
    format: InspectFormat,
}

/// The output of `grantkit inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InspectFormat {
    /// Header and claims as indented JSON, then the times in words.
    Text,
    /// One JSON object: verified (always false), header, claims, expires_at, expires_in
    /// (seconds, negative once expired), expired.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Token(args) => commands::token(
            args.profile.config.config.as_deref(),
            args.profile.profile.as_deref(),
            args.format,
            args.timeout.map(std::time::Duration::from_secs),
        ),
        Command::Inspect(args) => inspect::run(args.token.as_deref(), args.format),
        Command::Profiles(args) => commands::profiles(args.config.as_deref()),
        Command::Invalidate(args) => {
            commands::invalidate(args.config.config.as_deref(), args.profile.as_deref())
        }
        Command::Login(args) => login::login(
            args.profile.config.config.as_deref(),
            args.profile.profile.as_deref(),
            login::Method {
                browser: args.browser,
                open: !args.no_open,
            },
        ),
        Command::Logout(args) => {
            login::logout(args.config.config.as_deref(), args.profile.as_deref())
        }
    }
}
