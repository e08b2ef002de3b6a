//! What one request to the loopback listener means: the redirect with a code, a refusal,
//! or something unrelated (a favicon, a stray tab).

use grantkit_core::{AuthorizationCode, Error, ErrorKind, OAuthError};

use crate::error::GrantError;

/// The listener's reading of one request.
pub(crate) enum Callback {
    /// Not the redirect (another path, another method, or the redirect path without any of
    /// `code`, `state`, `error`): answered 404, the listener keeps waiting.
    Unrelated,
    /// The redirect, with the right `state` and a code: the login goes on.
    Code(AuthorizationCode),
    /// The redirect, and the login is over: a wrong `state`, an `error=` redirect, no code.
    Failed(Error),
}

/// Reads a `GET` of `path?query` as a redirect to `redirect_path` carrying `state`.
///
/// The order of the checks matters: `state` is checked before anything else the redirect
/// says, so that a forged redirect (wrong or missing `state`) is never taken for the
/// server's `error=` answer, and a code is never accepted without it.
pub(crate) fn classify(
    path: &str,
    query: Option<&str>,
    redirect_path: &str,
    expected_state: &str,
) -> Callback {
    if path != redirect_path {
        return Callback::Unrelated;
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    let mut error_uri = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match name.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            "error_uri" => &mut error_uri,
            _ => continue,
        };
        // RFC 6749 §3.1: parameters are not repeated. Which one would be meant?
        if slot.replace(value.into_owned()).is_some() {
            return Callback::Failed(GrantError::RepeatedCallbackParam(name.into_owned()).into());
        }
    }
    if code.is_none() && state.is_none() && error.is_none() {
        return Callback::Unrelated;
    }
    let state_matches = state.as_deref().is_some_and(|s| {
        aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), expected_state.as_bytes())
            .is_ok()
    });
    if !state_matches {
        return Callback::Failed(GrantError::StateMismatch.into());
    }
    if let Some(error) = error {
        let mut oauth = OAuthError::new(error);
        if let Some(description) = description {
            oauth = oauth.with_description(description);
        }
        oauth.error_uri = error_uri;
        return Callback::Failed(
            Error::new(
                ErrorKind::OAuth,
                "the authorization server refused the login",
            )
            .with_oauth_error(oauth.sanitized())
            .with_retryable(false),
        );
    }
    match code {
        Some(code) if !code.is_empty() => Callback::Code(AuthorizationCode::new(code)),
        _ => Callback::Failed(GrantError::CallbackWithoutCode.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(query: &str) -> Callback {
        classify("/callback", Some(query), "/callback", "st-1")
    }

    fn failure(query: &str) -> Error {
        match read(query) {
            Callback::Failed(e) => e,
            Callback::Code(_) => panic!("{query}: accepted"),
            Callback::Unrelated => panic!("{query}: unrelated"),
        }
    }

    #[test]
    fn the_redirect_with_the_right_state_yields_its_code() {
        let Callback::Code(code) = read("code=c%2B1&state=st-1&iss=https%3A%2F%2Fa") else {
            panic!("not accepted");
        };
        assert_eq!(code.secret(), "c+1");
    }

    #[test]
    fn other_paths_and_bare_visits_are_unrelated() {
        assert!(matches!(
            classify("/favicon.ico", None, "/callback", "s"),
            Callback::Unrelated
        ));
        assert!(matches!(
            classify("/callback/x", Some("code=c&state=s"), "/callback", "s"),
            Callback::Unrelated
        ));
        assert!(matches!(
            classify("/callback", None, "/callback", "s"),
            Callback::Unrelated
        ));
        assert!(matches!(read("foo=bar"), Callback::Unrelated));
    }

    #[test]
    fn a_wrong_missing_or_longer_state_fails_before_the_code_or_error_is_read() {
        for q in [
            "code=c&state=st-2",
            "code=c",
            "code=c&state=st-1x",
            "code=c&state=",
            "error=access_denied&state=nope",
            "error=access_denied",
        ] {
            let e = failure(q);
            assert_eq!(e.kind(), ErrorKind::Other, "{q}");
            assert!(e.to_string().contains("state"), "{q}: {e}");
            assert!(e.oauth_error().is_none(), "{q}");
        }
    }

    #[test]
    fn an_error_redirect_is_an_oauth_error_with_a_sanitized_description() {
        let e = failure("error=access_denied&error_description=No%1B%5B2J%0D%0AFAKE&state=st-1");
        assert_eq!(e.kind(), ErrorKind::OAuth);
        assert!(!e.is_retryable());
        let oauth = e.oauth_error().unwrap();
        assert_eq!(oauth.error, "access_denied");
        assert_eq!(oauth.error_description.as_deref(), Some("No FAKE"));
    }

    #[test]
    fn the_redirect_without_a_code_fails() {
        for q in ["state=st-1", "state=st-1&code="] {
            let e = failure(q);
            assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{q}");
            assert!(e.to_string().contains("without a code"), "{e}");
        }
    }

    #[test]
    fn a_repeated_parameter_fails() {
        let e = failure("code=a&code=b&state=st-1");
        assert!(e.to_string().contains("\"code\""), "{e}");
    }
}
