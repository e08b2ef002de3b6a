//! The environment's part of the configuration: `GRANTKIT_DEFAULT_PROFILE` and
//! `GRANTKIT_PROFILES__<PROFILE>__<KEY>…`, each value taken as written.
//!
//! figment's own `Env` provider parses values as TOML-like data (`007` → `7`, `"x"` → `x`,
//! `[a,b]` → an error) and replaces invalid UTF-8 with U+FFFD; secrets must survive
//! byte for byte, so this provider reads the variables itself.

use std::ffi::{OsStr, OsString};

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// The prefix of every configuration variable.
const PREFIX: &str = "GRANTKIT_";
/// The variable that sets `default_profile`.
const DEFAULT_PROFILE_VAR: &str = "GRANTKIT_DEFAULT_PROFILE";
/// The prefix of the variables that set profile keys.
const PROFILES_PREFIX: &str = "GRANTKIT_PROFILES__";

/// A figment provider for grantkit's configuration variables.
///
/// Only `GRANTKIT_DEFAULT_PROFILE` and `GRANTKIT_PROFILES__<PROFILE>__<KEY>` (nested keys
/// continue with `__`; names are case-insensitive and keys are lower-cased) are
/// configuration; `GRANTKIT_CONFIG` names the file and every other `GRANTKIT_*` variable
/// (`GRANTKIT_LOG`, …) is ignored.
///
/// Values are text, taken verbatim: `007` stays `007`, `"quoted"` keeps its quotes.
/// Only keys that are not text are converted: `*_secs` keys (whole seconds), `danger_*`
/// keys, `key_id_thumbprint`, `jwt.jti` and `dpop.plaintext_key_in_store` (`true` or `false`) and `rejected_statuses` (`401,403` or `[401, 403]`).
///
/// A configuration variable whose name or value is not valid UTF-8 is an error naming
/// the variable.
#[derive(Debug, Clone, Default)]
pub struct ConfigEnv {
    /// `None`: the process environment, read when the figment is extracted.
    vars: Option<Vec<(OsString, OsString)>>,
}

impl ConfigEnv {
    /// The process environment's configuration variables.
    pub fn new() -> Self {
        ConfigEnv::default()
    }

    /// These variables instead of the process environment's.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        ConfigEnv {
            vars: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The configuration variables, as (variable name, key path, text value).
    fn entries(&self) -> Result<Vec<(String, Vec<String>, String)>, String> {
        let vars: Vec<(OsString, OsString)> = match &self.vars {
            Some(vars) => vars.clone(),
            None => std::env::vars_os().collect(),
        };
        let mut entries = Vec::new();
        for (name, value) in vars {
            let Some(path) = key_path(&name)? else {
                continue;
            };
            let name = name.to_string_lossy().into_owned();
            let value = value.into_string().map_err(|_| {
                format!("environment variable {name} is not valid UTF-8 (its value is text)")
            })?;
            entries.push((name, path, value));
        }
        // The environment's order is arbitrary; make conflicts report the same way each run.
        entries.sort();
        Ok(entries)
    }
}

/// The key path a variable sets, or `None` when it is not configuration.
fn key_path(name: &OsStr) -> Result<Option<Vec<String>>, String> {
    let lossy = name.to_string_lossy();
    let upper = lossy.to_ascii_uppercase();
    if !upper.starts_with(PREFIX) {
        return Ok(None);
    }
    let path = if upper == DEFAULT_PROFILE_VAR {
        vec!["default_profile".to_owned()]
    } else if let Some(rest) = upper.strip_prefix(PROFILES_PREFIX) {
        let mut path = vec!["profiles".to_owned()];
        for segment in rest.split("__") {
            if segment.is_empty() {
                return Err(format!(
                    "environment variable {lossy}: empty key between `__` separators"
                ));
            }
            path.push(segment.to_ascii_lowercase());
        }
        path
    } else {
        return Ok(None);
    };
    if name.to_str().is_none() {
        return Err(format!(
            "environment variable name {lossy} is not valid UTF-8"
        ));
    }
    Ok(Some(path))
}

/// Keys other than `danger_*` whose values are booleans.
const BOOLEAN_KEYS: &[&str] = &["key_id_thumbprint", "jti", "plaintext_key_in_store"];

/// The value of `key` from its text: text for text keys, a number, boolean or list for the
/// few keys that are not text. Text that does not convert stays text, so that
/// deserialization names the key and the type it expected.
fn typed(path: &[String], text: String) -> Value {
    let key = path.last().map_or("", String::as_str);
    // Extra body parameters are text whatever their names.
    let in_params = path.get(2).is_some_and(|k| k == "params") && path.len() > 3;
    // So are extra JWT claims (`jwt.claims.<name>`).
    let in_claims = path.get(2).is_some_and(|k| k == "jwt")
        && path.get(3).is_some_and(|k| k == "claims")
        && path.len() > 4;
    if in_params || in_claims {
        return Value::from(text);
    }
    if key.ends_with("_secs") {
        if let Ok(n) = text.trim().parse::<u64>() {
            return Value::from(n);
        }
    } else if key.starts_with("danger_") || BOOLEAN_KEYS.contains(&key) {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => return Value::from(true),
            "false" => return Value::from(false),
            _ => {}
        }
    } else if key == "rejected_statuses" {
        let inner = text.trim();
        let inner = inner
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(inner);
        let statuses: Option<Vec<u16>> = inner
            .split(',')
            .map(|s| s.trim().parse::<u16>().ok())
            .collect();
        if let Some(statuses) = statuses {
            return Value::from(statuses);
        }
    }
    Value::from(text)
}

/// Sets `path` in `dict`; a key set both as a value and as a table is an error.
fn insert(dict: &mut Dict, name: &str, path: &[String], value: Value) -> Result<(), String> {
    let conflict = || {
        format!(
            "environment variable {name} conflicts with another GRANTKIT_ variable that sets \
             the same key or a key below it"
        )
    };
    match path {
        [] => Err(conflict()),
        [last] => {
            if dict.contains_key(last) {
                return Err(conflict());
            }
            dict.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => insert(inner, name, rest, value),
                _ => Err(conflict()),
            }
        }
    }
}

impl Provider for ConfigEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("GRANTKIT_{}", keys.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (name, path, text) in self.entries().map_err(Error::from)? {
            let value = typed(&path, text);
            insert(&mut dict, &name, &path, value).map_err(Error::from)?;
        }
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(vars: &[(&str, &str)]) -> Dict {
        let provider = ConfigEnv::from_vars(vars.iter().map(|(k, v)| (*k, *v)));
        provider
            .data()
            .unwrap()
            .remove(&Profile::Default)
            .unwrap_or_default()
    }

    fn at<'a>(dict: &'a Dict, path: &[&str]) -> &'a Value {
        let (first, rest) = path.split_first().unwrap();
        let value = dict.get(*first).unwrap();
        if rest.is_empty() {
            value
        } else {
            at(value.as_dict().unwrap(), rest)
        }
    }

    #[test]
    fn values_are_verbatim_text() {
        let d = data(&[
            ("GRANTKIT_PROFILES__ACME__CLIENT_SECRET", "007"),
            ("GRANTKIT_PROFILES__ACME__PASSWORD", "1.50"),
            ("GRANTKIT_PROFILES__ACME__CLIENT_ID", "\"quoted\""),
            ("GRANTKIT_PROFILES__ACME__SCOPE", "[a,b]"),
            ("GRANTKIT_PROFILES__ACME__PARAMS__TIMEOUT_SECS", "0060"),
            ("GRANTKIT_PROFILES__ACME__USERNAME", " spaced "),
        ]);
        for (key, want) in [
            ("client_secret", "007"),
            ("password", "1.50"),
            ("client_id", "\"quoted\""),
            ("scope", "[a,b]"),
            ("username", " spaced "),
        ] {
            assert_eq!(
                at(&d, &["profiles", "acme", key]).as_str(),
                Some(want),
                "{key}"
            );
        }
        assert_eq!(
            at(&d, &["profiles", "acme", "params", "timeout_secs"]).as_str(),
            Some("0060")
        );
    }

    #[test]
    fn keys_that_are_not_text_are_converted() {
        let d = data(&[
            ("GRANTKIT_PROFILES__A__REFRESH__BEFORE_EXPIRY_SECS", "060"),
            ("GRANTKIT_PROFILES__A__DANGER_ALLOW_HTTP", "TRUE"),
            ("GRANTKIT_PROFILES__A__REJECTED_STATUSES", "[401, 403]"),
            ("GRANTKIT_PROFILES__B__REJECTED_STATUSES", "401"),
            ("GRANTKIT_PROFILES__B__JWT__LIFETIME_SECS", "ten"),
            ("GRANTKIT_PROFILES__C__KEY_ID_THUMBPRINT", "true"),
            ("GRANTKIT_PROFILES__C__JWT__JTI", "False"),
            ("GRANTKIT_PROFILES__C__JWT__CLAIMS__JTI", "true"),
            ("GRANTKIT_PROFILES__C__JWT__CLAIMS__WAIT_SECS", "10"),
        ]);
        assert_eq!(
            at(&d, &["profiles", "c", "key_id_thumbprint"]).to_bool(),
            Some(true)
        );
        assert_eq!(
            at(&d, &["profiles", "c", "jwt", "jti"]).to_bool(),
            Some(false)
        );
        for claim in ["jti", "wait_secs"] {
            assert!(
                at(&d, &["profiles", "c", "jwt", "claims", claim])
                    .as_str()
                    .is_some(),
                "claims are text: {claim}"
            );
        }
        assert_eq!(
            at(&d, &["profiles", "a", "refresh", "before_expiry_secs"]).to_u128(),
            Some(60)
        );
        assert_eq!(
            at(&d, &["profiles", "a", "danger_allow_http"]).to_bool(),
            Some(true)
        );
        let statuses = at(&d, &["profiles", "a", "rejected_statuses"]);
        assert_eq!(statuses.as_array().map(|a| a.len()), Some(2));
        let statuses = at(&d, &["profiles", "b", "rejected_statuses"]);
        assert_eq!(statuses.as_array().map(|a| a.len()), Some(1));
        assert_eq!(
            at(&d, &["profiles", "b", "jwt", "lifetime_secs"]).as_str(),
            Some("ten"),
            "left as text: deserialization then names the key and the type"
        );
    }

    #[test]
    fn only_configuration_variables_are_read() {
        let d = data(&[
            ("GRANTKIT_LOG", "debug"),
            ("GRANTKIT_EXAMPLES_LOCAL", "1"),
            ("GRANTKIT_CONFIG", "/etc/grantkit.toml"),
            ("GRANTKIT_PROFILES", "x"),
            ("HOME", "/root"),
            ("GRANTKIT_DEFAULT_PROFILE", "Acme"),
        ]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(at(&d, &["default_profile"]).as_str(), Some("Acme"));
    }

    #[test]
    fn conflicting_and_empty_keys_are_errors() {
        let e = ConfigEnv::from_vars([
            ("GRANTKIT_PROFILES__A__STORE", "file"),
            ("GRANTKIT_PROFILES__A__STORE__KIND", "file"),
        ])
        .data()
        .unwrap_err();
        assert!(e.to_string().contains("conflicts"), "{e}");
        let e = ConfigEnv::from_vars([("GRANTKIT_PROFILES__A____KIND", "x")])
            .data()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("environment variable GRANTKIT_PROFILES__A____KIND: empty key"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_is_an_error_naming_the_variable() {
        use std::os::unix::ffi::OsStringExt as _;
        let bad = OsString::from_vec(b"s3cr\xffet".to_vec());
        let e =
            ConfigEnv::from_vars([(OsString::from("GRANTKIT_PROFILES__A__CLIENT_SECRET"), bad)])
                .data()
                .unwrap_err()
                .to_string();
        assert_eq!(
            e,
            "environment variable GRANTKIT_PROFILES__A__CLIENT_SECRET is not valid UTF-8 (its value is text)"
        );
        // Not configuration: ignored, whatever its bytes.
        let bad = OsString::from_vec(b"\xff".to_vec());
        assert!(
            ConfigEnv::from_vars([(OsString::from("GRANTKIT_LOG"), bad)])
                .data()
                .is_ok()
        );
        let bad_name = OsString::from_vec(b"GRANTKIT_PROFILES__A__\xff".to_vec());
        let e = ConfigEnv::from_vars([(bad_name, OsString::from("x"))])
            .data()
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not valid UTF-8"), "{e}");
    }
}
