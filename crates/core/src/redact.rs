//! Redaction of credentials in URLs, for every place a URL is shown: errors, `Debug`,
//! logs and listings.

use url::Url;

/// What a URL's redacted parts are replaced with.
const MASK: &str = "***";

/// Query parameter names (compared without regard to case) whose values are hidden: any
/// name containing one of these.
const SECRET_PARAM_PARTS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "sig",
    "auth",
    "cred",
    "assertion",
    "code",
    "session",
];

/// `url` with its credentials hidden, for display.
///
/// - the userinfo (`user:password@`, or a bare `token@`) becomes `***@`;
/// - the value of every query parameter whose name contains `pass`, `pwd`, `secret`,
///   `token`, `key`, `sig`, `auth`, `cred`, `assertion`, `code` or `session` (in any case)
///   becomes `***`, other parameters are kept as written;
/// - a fragment becomes `#***`;
/// - a URL with several hosts (`redis+sentinel://:pw@h1:26379,h2:26379/mymaster`) is
///   redacted the same way, its hosts kept;
/// - text that does not parse as a URL is not echoed at all: `(invalid URL)`.
///
/// ```
/// use grantkit_core::redact_url;
///
/// assert_eq!(redact_url("redis://:pw@host:6379/2"), "redis://***@host:6379/2");
/// assert_eq!(
///     redact_url("redis+unix:///run/redis.sock?db=1&pass=pw"),
///     "redis+unix:///run/redis.sock?db=1&pass=***"
/// );
/// assert_eq!(redact_url("https://auth.example.com/token"), "https://auth.example.com/token");
/// assert_eq!(
///     redact_url("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster"),
///     "redis+sentinel://***@10.0.0.1:26379,10.0.0.2:26379/mymaster"
/// );
/// assert_eq!(redact_url("not a url :pw@"), "(invalid URL)");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return redact_multi_host(url).unwrap_or_else(|| "(invalid URL)".to_owned());
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Both succeed for any URL that has a userinfo (it has a host).
        let _ = parsed.set_password(None);
        let _ = parsed.set_username(MASK);
    }
    if let Some(query) = parsed.query() {
        let redacted = redact_query(query);
        parsed.set_query(Some(&redacted));
    }
    if parsed.fragment().is_some_and(|f| !f.is_empty()) {
        parsed.set_fragment(Some(MASK));
    }
    parsed.to_string()
}

/// A stand-in host for the host list of a multi-host URL while it is redacted.
const HOSTS_PLACEHOLDER: &str = "hosts.invalid";

/// `scheme://[userinfo@]h1:p1,h2:p2/…`: the host list (which holds no secret) is set aside,
/// the rest redacted as a URL with one host, and the list put back. `None` when the text
/// is not such a URL either.
fn redact_multi_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c))
    };
    if !hosts.contains(',') || !hosts.split(',').all(host_ok) {
        return None;
    }
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let single = format!("{scheme}://{userinfo}{HOSTS_PLACEHOLDER}{tail}");
    let parsed = Url::parse(&single).ok()?;
    let redacted = redact_url(parsed.as_str());
    Some(redacted.replacen(HOSTS_PLACEHOLDER, hosts, 1))
}

/// `a=1&pass=x` → `a=1&pass=***`, keeping every other byte as written.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(raw_name: &str) -> bool {
    let name: String = url::form_urlencoded::parse(format!("{raw_name}=").as_bytes())
        .next()
        .map(|(name, _)| name.to_ascii_lowercase())
        .unwrap_or_default();
    SECRET_PARAM_PARTS.iter().any(|part| name.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_form_is_hidden() {
        let cases = [
            ("redis://:PW@host:6379", "redis://***@host:6379"),
            ("redis://user:PW@host", "redis://***@host"),
            ("https://TOKEN@example.com/t", "https://***@example.com/t"),
            ("redis+unix:///sock?pass=PW", "redis+unix:///sock?pass=***"),
            (
                "redis+sentinel://user:PW@h1:26379,[::1]:26380/mymaster/2",
                "redis+sentinel://***@h1:26379,[::1]:26380/mymaster/2",
            ),
            (
                "rediss+sentinel://h1,h2/m?password=PW#PW",
                "rediss+sentinel://h1,h2/m?password=***#***",
            ),
            (
                "https://a.example/t?db=1&Password=PW&x",
                "https://a.example/t?db=1&Password=***&x",
            ),
            (
                "https://a.example/t?client%5Fsecret=PW",
                "https://a.example/t?client%5Fsecret=***",
            ),
            (
                "https://a.example/t?api_key=PW&access_token=PW&sig=PW&code=PW",
                "https://a.example/t?api_key=***&access_token=***&sig=***&code=***",
            ),
            (
                "https://a.example/cb#access_token=PW",
                "https://a.example/cb#***",
            ),
            (
                "https://a.example/t?audience=api",
                "https://a.example/t?audience=api",
            ),
            ("http://[::1]:8080/token", "http://[::1]:8080/token"),
            ("://PW@", "(invalid URL)"),
        ];
        for (input, want) in cases {
            let got = redact_url(input);
            assert_eq!(got, want, "{input}");
            assert!(!got.contains("PW"), "{got}");
        }
    }
}

#[cfg(test)]
mod token_url_tests {
    use crate::http::check_token_url;

    #[test]
    fn token_url_errors_never_show_credentials() {
        for url in [
            "ftp://client:PW@auth.example.com/token",
            "https://client:PW@auth.example.com:99999/token",
            "http://client:PW@auth.example.com/token?client_secret=PW",
            "ldap://auth.example.com/token?password=PW",
        ] {
            let e = check_token_url(url, false).unwrap_err().to_string();
            assert!(!e.contains("PW"), "{e}");
        }
        let request = crate::TokenRequest::post("https://client:PW@auth.example.com/t?key=PW");
        let debug = format!("{request:?}");
        assert!(
            debug.contains("https://***@auth.example.com/t?key=***") && !debug.contains("PW"),
            "{debug}"
        );
        let e = check_token_url("ftp://client:PW@auth.example.com/t", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "token URL ftp://***@auth.example.com/t has unsupported scheme \"ftp\"; use https"
        );
    }
}
