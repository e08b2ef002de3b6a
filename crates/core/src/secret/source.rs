//! [`SecretSource`]: a secret given inline, read from a file at each use, or returned by a
//! function at each use.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AccessToken, Assertion, ClientSecret, Password, RefreshToken, SigningKey};
use crate::{Error, Result};

/// The secret types a [`SecretSource`] can hold. Sealed: implemented by the secret types
/// of this crate only.
pub trait SecretValue: Clone + From<String> + private::Sealed {
    /// What the secret is, in error messages: `"client secret"`, `"password"`, …
    const WHAT: &'static str;

    /// The secret text.
    fn secret_text(&self) -> &str;
}

mod private {
    pub trait Sealed {}
}

macro_rules! secret_value {
    ($($name:ident => $what:literal),* $(,)?) => {$(
        impl private::Sealed for $name {}

        impl SecretValue for $name {
            const WHAT: &'static str = $what;

            fn secret_text(&self) -> &str {
                self.secret()
            }
        }

        /// An inline value: anything the secret type is made from (`&str`, `String`, the
        /// secret type itself), so every API that took `impl Into<ClientSecret>` takes it
        /// still.
        impl<V: Into<$name>> From<V> for SecretSource<$name> {
            fn from(value: V) -> Self {
                SecretSource::value(value.into())
            }
        }
    )*};
}

secret_value!(
    ClientSecret => "client secret",
    Password => "password",
    SigningKey => "signing key",
    Assertion => "assertion",
    AccessToken => "access token",
    RefreshToken => "refresh token",
);

/// A function that returns a secret, called at each use.
type SecretFn<T> = Arc<dyn Fn() -> Result<T> + Send + Sync>;

/// Where a secret comes from: a value given once, a file read afresh at every use, or a
/// function called at every use.
///
/// A secret read at each use follows a rotation without a restart: a Kubernetes Secret
/// or Vault agent file that is rewritten in place, a projected service-account token
/// that the kubelet renews, `AZURE_FEDERATED_TOKEN_FILE`. "Each use" is each token
/// request: a manager reads the file when it renews the token, never on the hot path of
/// [`TokenManager::token`](crate::TokenManager::token) with a fresh token.
///
/// # Files
/// The file is read whole, as UTF-8 text, every time; trailing line endings (`\n`,
/// `\r\n`, any number of them) are removed, as the shell's `$(cat file)` and every
/// `*_FILE` convention (Docker secrets, the official database images) do, because
/// `echo secret > file` and most editors end a file with one. Nothing else is trimmed:
/// leading or trailing spaces stay part of the secret.
///
/// A file that is missing, cannot be read, is not UTF-8 or is empty (after the line
/// endings are removed) is an [`ErrorKind::Config`](crate::ErrorKind::Config) error,
/// which is not retried: the message names the secret (the "field") and the path, never
/// the contents; the underlying I/O error is its [`source`](std::error::Error::source).
/// A [`TokenManager`](crate::TokenManager) handles it like any failed renewal: callers
/// keep getting the current token while it is valid, then the error.
///
/// The file is read synchronously on the renewing task: a small local file (a tmpfs
/// mount, a Kubernetes volume) takes microseconds. Do not point it at a network file
/// system that may hang.
///
/// # Functions
/// [`from_fn`](Self::from_fn) calls a function at every use; its error is returned with
/// the field named before its message, with the kind and retryability the function gave
/// it (return a retryable error, e.g. [`Error::retryable`], when trying again may help).
/// An empty value is a `Config` error. The function runs on the renewing task and must not
/// block for long; for a secret fetched over the network, keep a value refreshed in the
/// background and return it from the function.
///
/// # Security
/// `Debug` shows an inline value as its secret type does (`ClientSecret([redacted])`), a
/// file as its path (`ClientSecret(file "/run/secrets/cs")`), a function as
/// `ClientSecret(fn)`: never the secret. The value read is held in the secret type, never
/// logged, and dropped after the request.
///
/// ```
/// use grantkit_core::{ClientSecret, ErrorKind, SecretSource};
///
/// let dir = std::env::temp_dir().join(format!("grantkit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("client-secret");
/// std::fs::write(&path, "s3cret\n")?;
///
/// let source: SecretSource<ClientSecret> = SecretSource::file(&path);
/// assert_eq!(source.resolve()?.secret(), "s3cret"); // the trailing newline is removed
/// std::fs::write(&path, "rotated\n")?;
/// assert_eq!(source.resolve()?.secret(), "rotated"); // read again at each use
///
/// std::fs::remove_file(&path)?;
/// let error = source.resolve().unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Config);
/// assert!(error.to_string().starts_with("cannot read the client secret from file "));
///
/// let inline = SecretSource::<ClientSecret>::from("s3cret");
/// assert_eq!(format!("{inline:?}"), "ClientSecret([redacted])");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SecretSource<T> {
    kind: Kind<T>,
    /// Put before every error message: the profile and field the source came from.
    context: Option<Arc<str>>,
    /// What the secret is, in messages, when not the type's [`SecretValue::WHAT`].
    what: Option<&'static str>,
}

enum Kind<T> {
    Value(T),
    File(Arc<Path>),
    Fn(SecretFn<T>),
}

impl<T: SecretValue> SecretSource<T> {
    /// A secret given once.
    ///
    /// ```
    /// # use grantkit_core::{Password, SecretSource};
    /// let source = SecretSource::value(Password::new("pw"));
    /// assert_eq!(source.resolve()?.secret(), "pw");
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn value(value: T) -> Self {
        SecretSource {
            kind: Kind::Value(value),
            context: None,
            what: None,
        }
    }

    /// A secret read from `path` at every use; see [Files](Self#files).
    ///
    /// ```
    /// # use grantkit_core::{ClientSecret, SecretSource};
    /// let source = SecretSource::<ClientSecret>::file("/run/secrets/client-secret");
    /// assert_eq!(source.path(), Some(std::path::Path::new("/run/secrets/client-secret")));
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SecretSource {
            kind: Kind::File(Arc::from(path.into())),
            context: None,
            what: None,
        }
    }

    /// A secret returned by `f` at every use; see [Functions](Self#functions).
    ///
    /// ```
    /// # use grantkit_core::{Assertion, SecretSource};
    /// let source = SecretSource::<Assertion>::from_fn(|| Ok("eyJ…".to_owned()));
    /// assert_eq!(source.resolve()?.secret(), "eyJ…");
    /// assert_eq!(format!("{source:?}"), "Assertion(fn)");
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn from_fn<V, F>(f: F) -> Self
    where
        V: Into<T>,
        F: Fn() -> Result<V> + Send + Sync + 'static,
    {
        SecretSource {
            kind: Kind::Fn(Arc::new(move || f().map(Into::into))),
            context: None,
            what: None,
        }
    }

    /// The same source, with `context` (e.g. ``profile `acme`: field `client_secret_file` ``)
    /// put before the message of every error it returns.
    ///
    /// ```
    /// # use grantkit_core::{ClientSecret, SecretSource};
    /// let source = SecretSource::<ClientSecret>::file("/nonexistent/grantkit-doc")
    ///     .context("profile `acme`: field `client_secret_file`");
    /// let error = source.resolve().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "profile `acme`: field `client_secret_file`: cannot read the client secret from file /nonexistent/grantkit-doc",
    /// );
    /// ```
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.context = Some(Arc::from(context.to_string()));
        self
    }

    /// The same source, calling the secret `what` in error messages instead of its type's
    /// name (an encryption key held as a [`SigningKey`]).
    ///
    /// ```
    /// # use grantkit_core::{SecretSource, SigningKey};
    /// let source = SecretSource::<SigningKey>::file("/nonexistent/key").what("encryption key");
    /// assert_eq!(
    ///     source.resolve().unwrap_err().to_string(),
    ///     "cannot read the encryption key from file /nonexistent/key",
    /// );
    /// ```
    #[must_use]
    pub fn what(mut self, what: &'static str) -> Self {
        self.what = Some(what);
        self
    }

    /// The secret now: the inline value, the file's contents, or the function's result.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a file that is missing,
    /// unreadable, not UTF-8 or empty, and for an empty value from a function; a
    /// function's own error otherwise. Messages name the field and the path, never the
    /// contents.
    pub fn resolve(&self) -> Result<T> {
        let what = self.what.unwrap_or(T::WHAT);
        let result = match &self.kind {
            Kind::Value(value) => return Ok(value.clone()),
            Kind::File(path) => read_file::<T>(path, what),
            Kind::Fn(f) => match f() {
                Ok(value) if value.secret_text().is_empty() => Err(Error::config(format!(
                    "the {what} function returned an empty value"
                ))),
                Ok(value) => Ok(value),
                Err(e) => Err(e.with_context(format_args!("reading the {what}"))),
            },
        };
        result.map_err(|e| match &self.context {
            Some(context) => e.with_context(context),
            None => e,
        })
    }

    /// The inline value, if this source is one; `None` for a file or a function.
    pub fn inline(&self) -> Option<&T> {
        match &self.kind {
            Kind::Value(value) => Some(value),
            Kind::File(_) | Kind::Fn(_) => None,
        }
    }

    /// The file read at each use, if this source is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::File(path) => Some(path),
            Kind::Value(_) | Kind::Fn(_) => None,
        }
    }

    /// Whether the secret is known now to be empty: an inline empty value. A file or a
    /// function is checked when it is read.
    pub fn is_empty_value(&self) -> bool {
        self.inline().is_some_and(|v| v.secret_text().is_empty())
    }
}

/// `path`'s contents as a `T`, trailing line endings removed.
fn read_file<T: SecretValue>(path: &Path, what: &str) -> Result<T> {
    let mut text = std::fs::read_to_string(path).map_err(|source| {
        let message = match source.kind() {
            // read_to_string's message for this kind carries no contents.
            std::io::ErrorKind::InvalidData => {
                format!("the {what} file {} is not UTF-8 text", path.display())
            }
            _ => format!("cannot read the {what} from file {}", path.display()),
        };
        Error::config(message).with_source(source)
    })?;
    let kept = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(kept);
    if text.is_empty() {
        return Err(Error::config(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(T::from(text))
}

impl<T: Clone> Clone for SecretSource<T> {
    fn clone(&self) -> Self {
        SecretSource {
            kind: match &self.kind {
                Kind::Value(value) => Kind::Value(value.clone()),
                Kind::File(path) => Kind::File(Arc::clone(path)),
                Kind::Fn(f) => Kind::Fn(Arc::clone(f)),
            },
            context: self.context.clone(),
            what: self.what,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for SecretSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("Secret");
        match &self.kind {
            Kind::Value(value) => fmt::Debug::fmt(value, f),
            Kind::File(path) => write!(f, "{name}(file {:?})", path.display().to_string()),
            Kind::Fn(_) => write!(f, "{name}(fn)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("grantkit-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn trailing_line_endings_are_removed_and_nothing_else() {
        for (contents, want) in [
            (&b"s3cret"[..], "s3cret"),
            (b"s3cret\n", "s3cret"),
            (b"s3cret\r\n", "s3cret"),
            (b"s3cret\n\n\r\n", "s3cret"),
            (b" s3 cret \n", " s3 cret "),
            (b"line1\nline2\n", "line1\nline2"),
        ] {
            let path = temp("trim", contents);
            let got = SecretSource::<ClientSecret>::file(&path).resolve().unwrap();
            assert_eq!(got.secret(), want, "{contents:?}");
        }
    }

    #[test]
    fn file_errors_are_config_errors_naming_field_and_path_never_contents() {
        let missing = std::env::temp_dir().join("grantkit-source-missing/none");
        let empty = temp("empty", b"\r\n\n");
        let binary = temp("binary", b"pw-\xff\xfe-Secret");
        for (path, want) in [
            (
                &missing,
                format!("cannot read the password from file {}", missing.display()),
            ),
            (
                &empty,
                format!("the password file {} is empty", empty.display()),
            ),
            (
                &binary,
                format!("the password file {} is not UTF-8 text", binary.display()),
            ),
        ] {
            let e = SecretSource::<Password>::file(path).resolve().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(!e.is_retryable());
            assert_eq!(e.to_string(), want);
            let report = format!("{} {e:?}", e.report());
            assert!(!report.contains("Secret"), "{report}");
        }
        let e = SecretSource::<Password>::file(&missing)
            .context("profile `p`: field `password_file`")
            .resolve()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("profile `p`: field `password_file`: cannot read the password"),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some(), "the io error");
    }

    #[test]
    fn functions_are_called_at_each_use() {
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&n);
        let source = SecretSource::<Assertion>::from_fn(move || {
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(format!("assertion-{i}"))
        });
        assert_eq!(source.resolve().unwrap().secret(), "assertion-0");
        assert_eq!(source.clone().resolve().unwrap().secret(), "assertion-1");
        let empty = SecretSource::<Assertion>::from_fn(|| Ok(""));
        let e = empty.resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(
            e.to_string(),
            "the assertion function returned an empty value"
        );
        let failing = SecretSource::<Assertion>::from_fn(|| -> Result<String> {
            Err(Error::retryable("vault is sealed"))
        });
        let e = failing.resolve().unwrap_err();
        assert!(e.is_retryable(), "the function's own retryability");
        assert_eq!(e.to_string(), "reading the assertion: vault is sealed");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let path = temp("debug", b"cs-Debug-Secret\n");
        let file = SecretSource::<ClientSecret>::file(&path);
        assert_eq!(
            format!("{file:?}"),
            format!("ClientSecret(file {:?})", path.display().to_string())
        );
        let inline = SecretSource::from(ClientSecret::new("cs-Debug-Secret"));
        assert_eq!(format!("{inline:#?}"), "ClientSecret([redacted])");
        let f = SecretSource::<SigningKey>::from_fn(|| Ok("cs-Debug-Secret"));
        assert_eq!(format!("{f:?}"), "SigningKey(fn)");
        assert_eq!(file.resolve().unwrap().secret(), "cs-Debug-Secret");
    }
}
