//! Redaction of URLs before they are shown: in errors, logs and listings.

use std::borrow::Cow;

/// Query parameters whose values are treated as secrets (compared case-insensitively;
/// a name that contains one of these, such as `redis_password`, counts too).
const SECRET_PARAMS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "signature",
    "sig",
];

/// `url` as it may be shown: a password in the userinfo becomes `***`, and so does the
/// value of every query parameter whose name looks like a secret (`password`, `pass`,
/// `client_secret`, `token`, `api_key`, `sig`, …). Text that is not a URL is shown as
/// `(invalid url)`, since it may be anything.
///
/// ```
/// use grantkit_core::redact_url;
/// assert_eq!(redact_url("redis://user:pw@host:6379/0"), "redis://user:***@host:6379/0");
/// assert_eq!(redact_url("redis+unix:///run/redis.sock?db=1&pass=pw"), "redis+unix:///run/redis.sock?db=1&pass=***");
/// assert_eq!(redact_url("https://a.example/token"), "https://a.example/token");
/// assert_eq!(redact_url("s3cret"), "(invalid url)");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(invalid url)".to_owned();
    };
    if parsed.password().is_some() {
        // Cannot fail: a URL with a password has a host that takes one.
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    Cow::Borrowed("***")
                } else {
                    v
                };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        let mut query = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                query.push('&');
            }
            query.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
            query.push('=');
            if v == "***" {
                query.push_str("***");
            } else {
                query.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
            }
        }
        parsed.set_query(Some(&query));
    }
    if parsed.fragment().is_some() {
        parsed.set_fragment(Some("***"));
    }
    parsed.to_string()
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_parameters_are_hidden() {
        let cases = [
            ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
            ("https://u:p%40ss@a.example/t", "https://u:***@a.example/t"),
            (
                "redis+unix:///s.sock?pass=PW&db=2",
                "redis+unix:///s.sock?pass=***&db=2",
            ),
            (
                "https://a.example/t?client_secret=x&scope=a+b&API_KEY=k",
                "https://a.example/t?client_secret=***&scope=a+b&API_KEY=***",
            ),
            ("https://a.example/t#access_token=x", "https://a.example/t#***"),
            ("rediss://h:6380", "rediss://h:6380"),
            ("not a url :pw@", "(invalid url)"),
        ];
        for (input, want) in cases {
            let shown = redact_url(input);
            assert_eq!(shown, want, "{input}");
        }
        for input in ["redis://:PW@h", "redis+unix:///s?pass=PW", "https://a/t?token=PW"] {
            assert!(!redact_url(input).contains("PW"), "{input}");
        }
    }
}
