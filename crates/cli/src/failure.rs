//! Why a command failed, and the exit code that says so.

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use grantkit::ErrorKind;

/// The token endpoint or the network refused (or a store or the terminal failed).
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Bad usage or configuration (clap also exits 2 for usage errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Nothing to report: stdout's reader went away.
const EXIT_QUIET: u8 = 0;

/// A failed command: a message for stderr and an exit code.
///
/// The message comes from `grantkit::Error`'s report (which never holds a secret) or from
/// this crate's own text (which names fields and files, never their values).
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad usage or configuration: exit 2.
    pub(crate) fn usage(message: impl fmt::Display) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.to_string(),
        }
    }

    /// A refusal or an environment failure: exit 1.
    pub(crate) fn refused(message: impl fmt::Display) -> Self {
        Failure {
            code: EXIT_REFUSED,
            message: message.to_string(),
        }
    }

    /// Writing the output failed (a full disk, a closed terminal). A reader that has gone
    /// away (`grantkit profiles | head -1`) is not a failure: the command ends quietly
    /// with exit 0, as `cat` does when it is not killed by SIGPIPE.
    pub(crate) fn output(error: &std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure {
                code: EXIT_QUIET,
                message: String::new(),
            };
        }
        Self::refused(format_args!("cannot write the output: {error}"))
    }

    /// Prints the message on stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if self.code == EXIT_QUIET {
            return ExitCode::SUCCESS;
        }
        let _ = writeln!(std::io::stderr().lock(), "{PREFIX}{}", self.message);
        ExitCode::from(self.code)
    }
}

/// What every error message on stderr starts with, clap's included.
pub(crate) const PREFIX: &str = "grantkit: error: ";

/// Reports a command line clap refused, with the CLI's one error prefix (clap's own is
/// `error: `), and returns exit 2; `--help` and `--version` print on stdout and exit 0.
pub(crate) fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    match error.kind() {
        Clap::DisplayHelp | Clap::DisplayVersion => {
            // Printing fails only when stdout is gone: nothing left to say.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let _ = write!(std::io::stderr().lock(), "{}", usage_message(error));
    ExitCode::from(EXIT_USAGE)
}

/// The text of a refused command line: `grantkit: error: …`, then clap's tips and usage.
fn usage_message(error: &clap::Error) -> String {
    use clap::CommandFactory as _;
    use clap::error::ErrorKind as Clap;
    if error.kind() == Clap::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap prints the whole help, as if it had been asked for; say what is wrong.
        let mut command = crate::Cli::command();
        return format!(
            "{PREFIX}a command is required\n\n{}\n\nFor more information, try '--help'.\n",
            command.render_usage()
        );
    }
    let text = error.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{PREFIX}{text}")
}

impl From<grantkit::Error> for Failure {
    /// The error's [report](grantkit::Error::report): its message and causes, each said
    /// once, and for a renewal that was retried, how many attempts were made.
    fn from(error: grantkit::Error) -> Self {
        let message = error.report().to_string();
        match error.kind() {
            ErrorKind::Config => Failure::usage(message),
            _ => Failure::refused(message),
        }
    }
}
