//! `grantkit`: cached, refreshed OAuth2 access tokens for shell scripts, CI jobs and
//! programs in other languages.
//!
//! ```text
//! curl -H "Authorization: $(grantkit token -p acme -f header)" https://api.example.com/things
//! ```
//!
//! Every command reads the profiles of a TOML configuration file (see `docs/cli.md` and
//! `docs/configuration.md`): `-c FILE` (`-` for stdin; a pipe is fine), else
//! `$GRANTKIT_CONFIG`, else `./grantkit.toml`, else `grantkit/grantkit.toml` in the user's
//! configuration directory; `--no-config` reads none. Environment variables
//! `GRANTKIT_PROFILES__<PROFILE>__<KEY>` override the file.
//!
//! Exit codes: 0 success; 1 the token endpoint or the network refused (the message carries
//! the OAuth `error` and `error_description`); 2 bad usage or configuration (the message
//! names the field). Data goes to stdout; every error is one `grantkit: error: …` message
//! on stderr, warnings and logs go there too; no secret is printed anywhere except the
//! token itself, on stdout, by `grantkit token`.

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
    after_help = "Configuration file: -c FILE (- for stdin), else $GRANTKIT_CONFIG, else \
        ./grantkit.toml, else grantkit/grantkit.toml in the user's configuration directory; \
        none with --no-config. GRANTKIT_PROFILES__<PROFILE>__<KEY> environment variables \
        override the file.\n\n\
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

    /// The configuration file, or `-` to read it from stdin; a pipe such as `<(…)` works
    /// [default: $GRANTKIT_CONFIG, ./grantkit.toml, then the user's configuration
    /// directory].
    #[arg(short, long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    /// Read no configuration file: the profiles come from GRANTKIT_PROFILES__<PROFILE>__<KEY>
    /// environment variables alone.
    #[arg(long, global = true)]
    no_config: bool,

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
    /// Print a DPoP proof (RFC 9449) for one API request with a profile's token.
    ///
    /// For a profile with `dpop = { alg = "ES256" }`, whose tokens are bound to a key kept
    /// with them in the profile's store: the proof is signed with the current token's key
    /// and carries its hash (`ath`), the request's method and URL (without query) and the
    /// API's last nonce. Use it with `grantkit token -f header`:
    /// curl -H "Authorization: $(grantkit token -p api -f header)"
    /// -H "DPoP: $(grantkit proof -p api --url https://api.example.com/v1/things)"
    /// https://api.example.com/v1/things
    /// A proof is good for one request. Exits 2 when the profile's token is not a DPoP
    /// token.
    Proof(ProofArgs),
    /// Decode a JWT's header and claims, without verifying its signature.
    ///
    /// Reads the token from the argument, or from stdin when it is `-` or absent (prefer
    /// stdin: arguments are visible to other users of the machine). A leading `Bearer ` is
    /// ignored, so `grantkit token -f header | grantkit inspect` works. Exits 2 when the
    /// input is not a JWT.
    Inspect(InspectArgs),
    /// List the profiles: grant, token URL and store (never secrets).
    Profiles,
    /// Drop the stored token of a profile, so the next `grantkit token` fetches a new one
    /// (a refresh token is kept, on an expired record, and renews it).
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
    /// Print a shell completion script.
    ///
    /// bash: `source <(grantkit completions bash)`, or save it in
    /// ~/.local/share/bash-completion/completions/grantkit. zsh: save it as `_grantkit` in a
    /// directory of $fpath. fish: save it in ~/.config/fish/completions/grantkit.fish.
    Completions(CompletionsArgs),
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
struct ProfileArgs {
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
struct ProofArgs {
    #[command(flatten)]
    profile: ProfileArgs,

    /// The request's HTTP method.
    #[arg(short, long, default_value = "GET")]
    method: String,

    /// The request's URL (its query and fragment are not part of the proof).
    #[arg(short, long)]
    url: String,

    /// Give up on the token endpoint after this many seconds, retries included
    /// [default: the profile's `deadline_secs`, else 30].
    #[arg(short, long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
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

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return failure::usage_error(&error),
    };
    logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let source = ConfigSource::new(cli.config, cli.no_config)?;
    match cli.command {
        Command::Token(args) => commands::token(
            &source,
            args.profile.profile.as_deref(),
            args.format,
            args.timeout.map(std::time::Duration::from_secs),
        ),
        Command::Proof(args) => commands::proof(
            &source,
            args.profile.profile.as_deref(),
            &args.method,
            &args.url,
            args.timeout.map(std::time::Duration::from_secs),
        ),
        Command::Inspect(args) => inspect::run(args.token.as_deref(), args.format),
        Command::Profiles => commands::profiles(&source),
        Command::Invalidate(args) => commands::invalidate(&source, args.profile.as_deref()),
        Command::Login(args) => login::login(
            &source,
            args.profile.profile.as_deref(),
            login::Method {
                browser: args.browser,
                open: !args.no_open,
            },
        ),
        Command::Logout(args) => login::logout(&source, args.profile.as_deref()),
        Command::Completions(args) => completions(args.shell),
    }
}

/// Where the profiles come from: `-c`, `--no-config`, or the usual places.
#[derive(Debug)]
pub(crate) enum ConfigSource {
    /// `-c FILE`: a regular file, a pipe, a device.
    File(PathBuf),
    /// `-c -`.
    Stdin,
    /// `--no-config`: the environment alone.
    Environment,
    /// `$GRANTKIT_CONFIG`, `./grantkit.toml`, the user's configuration directory.
    Discover,
}

impl ConfigSource {
    /// The source `-c` and `--no-config` name. (clap's `conflicts_with` misses a conflict
    /// between global options given on both sides of the command, so it is checked here.)
    fn new(config: Option<PathBuf>, no_config: bool) -> Result<Self, Failure> {
        Ok(match config {
            Some(_) if no_config => {
                return Err(Failure::usage(
                    "--no-config and -c/--config exclude each other: drop one",
                ));
            }
            None if no_config => ConfigSource::Environment,
            Some(path) if path.as_os_str() == "-" => ConfigSource::Stdin,
            Some(path) => ConfigSource::File(path),
            None => ConfigSource::Discover,
        })
    }
}

/// `grantkit completions SHELL`: the script, written in one piece.
fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    use clap::CommandFactory as _;
    use std::io::Write as _;
    // Generated into memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "grantkit", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output(&e))
}
