//! What the CLI says on stderr besides its result: grantkit's `tracing` events.
//!
//! By default WARN and ERROR events are shown, one line each (`grantkit: warning: …`), so that
//! a failing store or a world-readable secret is never silent; `-q` shows nothing, `-v`
//! adds debug events and `-vv` trace events, in tracing's full format. Only grantkit's own
//! crates are enabled: HTTP and TLS libraries stay silent, so nothing outside grantkit's
//! redaction rules is printed.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The crates whose events are shown.
const TARGETS: [&str; 4] = [
    "grantkit",
    "grantkit_core",
    "grantkit_grants",
    "grantkit_stores",
];

/// Installs the subscriber for `-q` / default / `-v` / `-vv`.
pub(crate) fn init(verbose: u8, quiet: bool) {
    if quiet {
        return;
    }
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let directives = TARGETS.map(|target| format!("{target}={level}")).join(",");
    let filter = tracing_subscriber::EnvFilter::new(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Each fails only if a subscriber is already installed, which nothing here does.
    if verbose == 0 {
        let _ = builder.event_format(Plain).try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// `grantkit: warning: <message> <fields>`: the CLI's own voice, for users rather than logs.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            _ => "note",
        };
        write!(writer, "grantkit: {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
