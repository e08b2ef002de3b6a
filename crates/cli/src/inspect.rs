//! `grantkit inspect`: a JWT's header and claims, decoded without verification.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::time::SystemTime;

use base64::Engine as _;
use grantkit::time::{Clock as _, SystemClock};
use serde_json::{Map, Value};

use crate::InspectFormat;
use crate::failure::Failure;
use crate::human;

/// The line that opens the text output.
const UNVERIFIED: &str =
    "Decoded WITHOUT verification: the signature was not checked; do not trust these claims.";

/// The parts of a JWS compact serialization that can be read without a key.
#[derive(Debug)]
struct Jwt {
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

/// Runs `grantkit inspect`.
pub(crate) fn run(token: Option<&str>, format: InspectFormat) -> Result<(), Failure> {
    let text = match token {
        None if std::io::stdin().is_terminal() => {
            return Err(Failure::usage(
                "no token: give one as the argument or pipe it in (`grantkit token | grantkit inspect`)",
            ));
        }
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut text)
                .map_err(|e| {
                    Failure::usage(format_args!("cannot read the token from stdin: {e}"))
                })?;
            text
        }
        Some(token) => token.to_owned(),
    };
    let jwt =
        decode(&text).map_err(|reason| Failure::usage(format_args!("not a JWT: {reason}")))?;
    let now = SystemClock::new().now();
    let output = match format {
        InspectFormat::Text => render_text(&jwt, now),
        InspectFormat::Json => render_json(&jwt, now),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(output.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output(&e))
}

/// Decodes `text` (surrounding whitespace and a `Bearer ` prefix are ignored). The reason
/// for a failure never quotes the input: it may be a secret that is not a JWT.
fn decode(text: &str) -> Result<Jwt, String> {
    let mut token = text.trim();
    if let Some((scheme, rest)) = token.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        token = rest.trim();
    }
    if token.is_empty() {
        return Err("the input is empty".to_owned());
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(
                "it has five parts: an encrypted JWT (JWE) cannot be read without its key"
                    .to_owned(),
            );
        }
        n => {
            return Err(format!(
                "expected three base64url parts separated by dots (header.claims.signature), found {n}"
            ));
        }
    }
    let header = object(parts[0], "header")?;
    let claims = object(parts[1], "claims")?;
    Ok(Jwt { header, claims })
}

/// One base64url part holding a JSON object.
fn object(part: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| format!("the {what} is not base64url"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("the {what} is JSON but not an object")),
        Err(_) => Err(format!("the {what} is not JSON")),
    }
}

/// The registered time claims, in display order.
const TIME_CLAIMS: [(&str, &str); 3] = [
    ("iat", "Issued at"),
    ("nbf", "Not before"),
    ("exp", "Expires"),
];

fn render_text(jwt: &Jwt, now: SystemTime) -> String {
    let pretty = |map: &Map<String, Value>| {
        serde_json::to_string_pretty(map).unwrap_or_else(|_| "{}".to_owned())
    };
    let mut out = format!(
        "{UNVERIFIED}\n\nHeader:\n{}\n\nClaims:\n{}\n",
        pretty(&jwt.header),
        pretty(&jwt.claims)
    );
    let mut times = Vec::new();
    for (claim, label) in TIME_CLAIMS {
        let Some(value) = jwt.claims.get(claim) else {
            continue;
        };
        let line = match human::numeric_date(value) {
            Some(t) => {
                let when = human::rfc3339(t).unwrap_or_else(|| "after the year 9999".to_owned());
                let words = if claim == "exp" {
                    human::expiry(t, now)
                } else {
                    human::relative(t, now)
                };
                format!("{when} ({claim}, {words})")
            }
            None => format!("{value} ({claim}, not a NumericDate)"),
        };
        times.push(format!("{:<11} {line}", format!("{label}:")));
    }
    if !jwt.claims.contains_key("exp") {
        times.push(format!("{:<11} never (no exp claim)", "Expires:"));
    }
    out.push('\n');
    for line in times {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn render_json(jwt: &Jwt, now: SystemTime) -> String {
    let exp = jwt.claims.get("exp").and_then(human::numeric_date);
    let mut value = serde_json::json!({
        "verified": false,
        "header": jwt.header,
        "claims": jwt.claims,
        "expires_at": exp.and_then(human::rfc3339),
        "expires_in": exp.map(|t| human::seconds_until(t, now)),
    });
    if let Some(map) = value.as_object_mut() {
        map.insert("expired".to_owned(), Value::from(exp.map(|t| t <= now)));
    }
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jwt(claims: Value) -> String {
        format!(
            "{}.{}.c2ln",
            b64(&serde_json::json!({"alg": "HS256", "typ": "JWT"})),
            b64(&claims)
        )
    }

    #[test]
    fn decodes_with_bearer_prefix_and_whitespace() {
        let token = format!("Bearer {}\n", jwt(serde_json::json!({"sub": "me"})));
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.header["alg"], "HS256");
        assert_eq!(decoded.claims["sub"], "me");
    }

    #[test]
    fn refuses_what_is_not_a_jwt_without_quoting_it() {
        let err = decode("s3cret-opaque-token").unwrap_err();
        assert!(err.contains("found 1"), "{err}");
        assert!(!err.contains("s3cret"));
        assert!(decode("").unwrap_err().contains("empty"));
        assert!(decode("a.b.c.d.e").unwrap_err().contains("JWE"));
        assert!(
            decode("!!.e30.x")
                .unwrap_err()
                .contains("header is not base64url")
        );
        let not_object = format!(
            "{}.{}.x",
            b64(&serde_json::json!({})),
            b64(&serde_json::json!([1]))
        );
        assert!(
            decode(&not_object)
                .unwrap_err()
                .contains("claims is JSON but not an object")
        );
    }

    #[test]
    fn text_shows_times_in_words() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = jwt(serde_json::json!({"iat": 1_699_999_400, "exp": 1_700_003_552}));
        let text = render_text(&decode(&token).unwrap(), now);
        assert!(text.starts_with(UNVERIFIED));
        assert!(
            text.contains("Issued at:  2023-11-14T22:03:20Z (iat, 10m ago)"),
            "{text}"
        );
        assert!(
            text.contains("Expires:    2023-11-14T23:12:32Z (exp, expires in 59m 12s)"),
            "{text}"
        );
    }

    #[test]
    fn json_says_unverified() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let token = jwt(serde_json::json!({"exp": 820}));
        let value: Value =
            serde_json::from_str(&render_json(&decode(&token).unwrap(), now)).unwrap();
        assert_eq!(value["verified"], false);
        assert_eq!(value["expires_in"], -180);
        assert_eq!(value["expired"], true);
        assert_eq!(value["expires_at"], "1970-01-01T00:13:40Z");
    }
}
