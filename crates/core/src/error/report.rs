//! [`Report`]: an error with its causes, each said once.

use std::error::Error as StdError;
use std::fmt;

use super::Error;

/// Displays an error with its whole source chain; see [`Error::report`].
///
/// Causes are separated by `: `. A cause is left out when it says nothing new: when its
/// text is the same as the cause before it (an I/O error wrapped by a library that repeats
/// its message: `Connection refused: Connection refused`), or when the cause before it
/// already ends with it (a library that prints its source in its own message as well).
///
/// ```
/// use grantkit_core::{Error, ErrorKind};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
/// let wrapped = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, io);
/// let e = Error::new(ErrorKind::Connect, "could not connect to the token endpoint").with_source(wrapped);
/// assert_eq!(e.report().to_string(), "could not connect to the token endpoint: Connection refused");
/// ```
#[derive(Debug)]
pub struct Report<'a>(&'a Error);

impl<'a> Report<'a> {
    pub(super) fn new(error: &'a Error) -> Self {
        Report(error)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = self.0.to_string();
        f.write_str(&previous)?;
        let mut source = StdError::source(self.0);
        while let Some(cause) = source {
            let text = cause.to_string();
            let repeated = text.is_empty()
                || text == previous
                || previous
                    .strip_suffix(text.as_str())
                    .is_some_and(|head| head.ends_with(": "));
            if !repeated {
                write!(f, ": {text}")?;
            }
            previous = text;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;
    use crate::ErrorKind;

    /// A cause with a fixed text and an optional cause of its own.
    #[derive(Debug)]
    struct Cause(&'static str, Option<Box<Cause>>);

    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Cause {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|c| c as &(dyn StdError + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Error {
        let cause = texts
            .iter()
            .rev()
            .fold(None, |inner, text| Some(Box::new(Cause(text, inner))));
        let error = Error::new(ErrorKind::Connect, "could not connect");
        match cause {
            Some(cause) => error.with_source(cause),
            None => error,
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        for (causes, expected) in [
            (&[][..], "could not connect"),
            (
                &["Connection refused", "Connection refused"][..],
                "could not connect: Connection refused",
            ),
            (
                &[
                    "client error (Connect)",
                    "tcp connect error",
                    "tcp connect error",
                    "Connection refused (os error 111)",
                ][..],
                "could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
            ),
            // A cause that printed its own source already.
            (
                &[
                    "tcp connect error: Connection refused",
                    "Connection refused",
                ][..],
                "could not connect: tcp connect error: Connection refused",
            ),
            // Only consecutive repeats: the same text later in the chain is news again.
            (&["a", "b", "a"][..], "could not connect: a: b: a"),
            // A cause that merely ends like the previous one is kept.
            (
                &["connection refused", "refused"][..],
                "could not connect: connection refused: refused",
            ),
            (&["", "x"][..], "could not connect: x"),
        ] {
            assert_eq!(chain(causes).report().to_string(), expected, "{causes:?}");
        }
    }

    #[test]
    fn a_cause_repeating_the_error_itself_is_left_out() {
        let e = Error::new(ErrorKind::Connect, "refused").with_source(Cause("refused", None));
        assert_eq!(e.report().to_string(), "refused");
    }
}
