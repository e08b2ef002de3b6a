//! Shared test support: capturing logs.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log event of this process, from every thread, at TRACE level, into a
/// buffer that [`logs_mentioning`] searches. Tests running in one process share it, so
/// each searches for something unique to it (a temporary path, a key prefix).
pub(crate) fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The captured log lines containing `needle`.
pub(crate) fn logs_mentioning(needle: &str) -> Vec<String> {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// All captured log text.
pub(crate) fn all_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// A grant for `https://auth.example.com/token`, client `app`, that hands out
/// `{name}-{n}` living `lifetime` and counts its calls in `calls`.
pub(crate) fn counting_grant(
    name: &'static str,
    lifetime: std::time::Duration,
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl grantkit_core::Grant + 'static {
    let calls = std::sync::Arc::clone(calls);
    grantkit_core::grant_fn(
        grantkit_core::GrantIdentity::new("client_credentials", "https://auth.example.com/token")
            .with_client_id("app"),
        move |cx| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            async move {
                let now = cx.now();
                Ok(grantkit_core::Token::new(
                    format!("{name}-{n}"),
                    now,
                    now + lifetime,
                ))
            }
        },
    )
}
