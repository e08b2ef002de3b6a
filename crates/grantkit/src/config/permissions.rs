//! A warning when a configuration file that holds a secret, or a file a secret is read
//! from (`client_secret_file`, …), can be read by other users, as ssh warns about private
//! keys.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use figment::Provider as _;
use figment::providers::{Format as _, Toml};
use figment::value::Value;

/// Keys whose value is a secret wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "password",
    "secret",
    "encryption_key",
    "private_key",
    "refresh_token",
    "assertion",
];

/// Emits one `WARN` event per file and process when `path` holds a secret and its mode lets
/// group or others read it. Reading problems are left to the caller's own read.
pub(super) fn warn_if_readable(path: &Path) {
    if let Some(warning) = readable_secret_warning(path) {
        warn_once(path, &warning);
    }
}

/// [`warn_if_readable`] for a source read once (a named pipe, a device): its `text` is
/// what was read, since reading `path` again would find nothing.
pub(super) fn warn_if_text_readable(path: &Path, text: &str) {
    if let Some(warning) = readable_secret_text_warning(path, text) {
        warn_once(path, &warning);
    }
}

/// Emits one `WARN` event per file and process when the secret file `path` (the value of
/// `field`, e.g. ``profile `acme`: field `client_secret_file` ``) lets group or others
/// read it. A file that does not exist (yet) is not checked.
pub(super) fn warn_if_secret_file_readable(path: &Path, field: &str) {
    if let Some(warning) = readable_secret_file_warning(path, field) {
        warn_once(path, &warning);
    }
}

/// The warning for the secret file `path`, if group or others may read it.
pub(crate) fn readable_secret_file_warning(path: &Path, field: &str) -> Option<String> {
    let mode = shared_mode(path)?;
    Some(format!(
        "secret file {} ({field}) is readable by other users (mode {mode:03o}): run \
         `chmod 600 {}`, or mount it with mode 0400 (Kubernetes `defaultMode: 0400`)",
        path.display(),
        path.display(),
    ))
}

/// The permission bits of `path` when group or others may read it.
#[cfg(unix)]
fn shared_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then_some(mode & 0o777)
}

/// Not checked where file modes do not say who may read.
#[cfg(not(unix))]
fn shared_mode(_: &Path) -> Option<u32> {
    None
}

fn warn_once(path: &Path, warning: &str) {
    static WARNED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let first = WARNED
        .get_or_init(Mutex::default)
        .lock()
        .map(|mut warned| warned.insert(path.to_owned()))
        .unwrap_or(true);
    if first {
        tracing::warn!("{warning}");
    }
}

/// The warning for `path`, if it holds a secret and is readable by group or others.
pub(crate) fn readable_secret_warning(path: &Path) -> Option<String> {
    let mode = shared_mode(path)?;
    let keys = secret_keys(Toml::file_exact(path));
    secret_warning(path, mode, &keys)
}

/// The warning for `path`, read once as `text`, if `text` holds a secret and `path` is
/// readable by group or others.
pub(crate) fn readable_secret_text_warning(path: &Path, text: &str) -> Option<String> {
    let mode = shared_mode(path)?;
    let keys = secret_keys(Toml::string(text));
    secret_warning(path, mode, &keys)
}

fn secret_warning(path: &Path, mode: u32, keys: &[String]) -> Option<String> {
    let first = keys.first()?;
    let more = match keys.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "configuration file {} holds a secret (`{first}`{more}) and is readable by other \
         users (mode {:03o}): run `chmod 600 {}`, or move the secret to a \
         GRANTKIT_PROFILES__… environment variable",
        path.display(),
        mode,
        path.display(),
    ))
}

/// The dotted keys of `toml` that hold secrets: [`SECRET_KEYS`], and URLs with credentials.
fn secret_keys(toml: figment::providers::Data<Toml>) -> Vec<String> {
    let Ok(data) = toml.data() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dict in data.values() {
        for (key, value) in dict {
            walk(key, value, &mut found);
        }
    }
    found
}

fn walk(path: &str, value: &Value, found: &mut Vec<String>) {
    let key = path.rsplit('.').next().unwrap_or(path);
    match value {
        Value::Dict(_, dict) => {
            for (k, v) in dict {
                walk(&format!("{path}.{k}"), v, found);
            }
        }
        Value::String(_, text) => {
            if (SECRET_KEYS.contains(&key) && !text.is_empty()) || url_with_credentials(text) {
                found.push(path.to_owned());
            }
        }
        _ => {
            if SECRET_KEYS.contains(&key) {
                found.push(path.to_owned());
            }
        }
    }
}

/// Whether `text` is a URL whose display would be redacted.
fn url_with_credentials(text: &str) -> bool {
    match url::Url::parse(text) {
        Ok(url) => grantkit_core::redact_url(text) != url.as_str(),
        // A URL of several hosts (`redis+sentinel://:pw@h1,h2/m`) is redacted without
        // parsing as a whole.
        Err(_) => grantkit_core::redact_url(text).contains("***"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn a_readable_file_with_a_secret_is_named_without_the_secret() {
        let f = file(
            "[profiles.acme]\nclient_id = \"a\"\nclient_secret = \"s3cret\"\n",
            0o644,
        );
        let w = readable_secret_warning(f.path()).unwrap();
        assert!(w.contains("`profiles.acme.client_secret`"), "{w}");
        assert!(w.contains("mode 644"), "{w}");
        assert!(w.contains("chmod 600"), "{w}");
        assert!(!w.contains("s3cret"), "{w}");
    }

    #[test]
    fn secrets_in_urls_and_tables_count() {
        for (text, key) in [
            (
                "[profiles.a]\nstore = { kind = \"redis\", url = \"redis://:pw@h\" }\n",
                "profiles.a.store.url",
            ),
            (
                "[profiles.a]\nstore = { kind = \"redis\", url = \"redis+unix:///s?pass=pw\" }\n",
                "profiles.a.store.url",
            ),
            (
                "[profiles.a]\nstore = { kind = \"redis\", url = \"redis+sentinel://:pw@h1,h2/m\" }\n",
                "profiles.a.store.url",
            ),
            (
                "[profiles.a]\nstore = { kind = \"redis\", password = \"pw\" }\n",
                "profiles.a.store.password",
            ),
            (
                "[profiles.a]\njwt = { secret = \"x\" }\n",
                "profiles.a.jwt.secret",
            ),
            ("[profiles.a]\npassword = 1234\n", "profiles.a.password"),
            (
                "[profiles.a]\nclient_auth = \"private_key_jwt\"\nprivate_key = \"pem\"\n",
                "profiles.a.private_key",
            ),
        ] {
            let w = readable_secret_warning(file(text, 0o640).path()).unwrap();
            assert!(w.contains(&format!("`{key}`")), "{w}");
        }
    }

    #[test]
    fn a_readable_secret_file_is_named_with_its_field_never_its_contents() {
        let f = file("cs-Mode-Secret\n", 0o644);
        let w = readable_secret_file_warning(f.path(), "profile `a`: field `client_secret_file`")
            .unwrap();
        assert_eq!(
            w,
            format!(
                "secret file {} (profile `a`: field `client_secret_file`) is readable by other \
                 users (mode 644): run `chmod 600 {}`, or mount it with mode 0400 (Kubernetes \
                 `defaultMode: 0400`)",
                f.path().display(),
                f.path().display()
            )
        );
        for mode in [0o600, 0o400] {
            let f = file("cs-Mode-Secret", mode);
            assert_eq!(
                readable_secret_file_warning(f.path(), "x"),
                None,
                "{mode:o}"
            );
        }
        let missing = std::env::temp_dir().join("grantkit-no-such-secret-file");
        assert_eq!(readable_secret_file_warning(&missing, "x"), None);
    }

    /// A pipe is read once: the keys come from the text read, the mode from the path.
    #[test]
    fn a_source_read_once_is_judged_by_its_text_and_its_mode() {
        let secret = "[profiles.acme]\nclient_secret = \"s3cret\"\n";
        // The path's own contents are not read again (a pipe would be empty by now).
        let shared = file("", 0o644);
        let w = readable_secret_text_warning(shared.path(), secret).unwrap();
        assert!(w.contains("`profiles.acme.client_secret`"), "{w}");
        assert!(w.contains("mode 644"), "{w}");
        assert!(!w.contains("s3cret"), "{w}");
        assert_eq!(
            readable_secret_text_warning(shared.path(), "[profiles.acme]\n"),
            None
        );
        assert_eq!(
            readable_secret_text_warning(file("", 0o600).path(), secret),
            None
        );
    }

    #[test]
    fn no_warning_for_a_private_file_or_one_without_secrets() {
        let secret = "[profiles.acme]\nclient_secret = \"s3cret\"\n";
        assert_eq!(readable_secret_warning(file(secret, 0o600).path()), None);
        assert_eq!(readable_secret_warning(file(secret, 0o400).path()), None);
        let public = "[profiles.acme]\nclient_id = \"a\"\ntoken_url = \"https://a.example/t\"\nstore = { kind = \"redis\", url = \"redis://h\" }\n";
        assert_eq!(readable_secret_warning(file(public, 0o644).path()), None);
    }
}
