//! The plumbing every example shares: local mode, required environment variables, and
//! exit codes (2 for missing configuration, 1 for anything else).

use std::error::Error;
use std::fmt;
use std::process::ExitCode;

/// `--local` on the command line, or `GRANTKIT_EXAMPLES_LOCAL=1`.
pub(crate) fn local_mode() -> bool {
    std::env::args().skip(1).any(|a| a == "--local")
        || std::env::var("GRANTKIT_EXAMPLES_LOCAL").is_ok_and(|v| v == "1")
}

/// The value of `name`, if it is set and not blank.
#[allow(dead_code)] // not every example has optional variables
pub(crate) fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Environment variables are missing: a usage error, exit status 2.
#[derive(Debug)]
pub(crate) struct MissingEnv {
    example: &'static str,
    names: Vec<&'static str>,
}

impl fmt::Display for MissingEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "missing environment variable(s): {}\n\
             set them to use the real service, or run against the in-process test server:\n  \
             cargo run --example {} -- --local",
            self.names.join(", "),
            self.example
        )
    }
}

impl Error for MissingEnv {}

/// The values of `names`, or an error naming every one that is unset or empty.
pub(crate) fn require_env<const N: usize>(
    example: &'static str,
    names: [&'static str; N],
) -> Result<[String; N], MissingEnv> {
    let values = names.map(optional_env);
    let missing: Vec<&'static str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(MissingEnv {
            example,
            names: missing,
        });
    }
    Ok(values.map(Option::unwrap_or_default))
}

/// Prints the error with its causes; 2 for missing configuration, 1 for anything else.
pub(crate) fn exit(result: Result<(), Box<dyn Error>>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("error: {message}");
    if error.is::<MissingEnv>() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
