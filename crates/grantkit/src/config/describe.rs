//! Configuration errors in words that name the key and what was expected, never the value
//! (a value may be a secret: a Redis URL with its password, a JWT secret given where a table
//! was expected).

use figment::error::{Actual, Kind};

/// One figment error: what was wrong, at which key, in which file or variable.
pub(super) fn describe(e: &figment::Error) -> String {
    let mut text = kind(&e.kind);
    if !e.path.is_empty() {
        text = format!("{text} (at `{}`)", e.path.join("."));
    }
    if let Some(meta) = &e.metadata {
        match &meta.source {
            Some(source) => text = format!("{text} in {} {source}", meta.name),
            // Values from the environment: name the variable, since no file has the key.
            None if !e.path.is_empty() => {
                let profile = e.profile.clone().unwrap_or_default();
                text = format!(
                    "{text} from {} {}",
                    meta.name,
                    meta.interpolate(&profile, &e.path)
                );
            }
            None => text = format!("{text} from {}", meta.name),
        }
    }
    text
}

/// What was wrong, with the type of the value found but not the value itself.
fn kind(kind: &Kind) -> String {
    match kind {
        Kind::Message(message) => without_source_excerpt(message),
        Kind::InvalidType(found, expected) => {
            format!(
                "invalid type: found {}, expected {expected}",
                type_of(found)
            )
        }
        Kind::InvalidValue(found, expected) => {
            format!(
                "invalid value: found {}, expected {expected}",
                type_of(found)
            )
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown variant: expected {}", one_of(expected))
        }
        // A key name is not a value: it is shown.
        Kind::UnknownField(found, expected) => {
            format!(
                "unknown field: found `{found}`, expected {}",
                one_of(expected)
            )
        }
        Kind::Unsupported(found) => format!("unsupported type {}", type_of(found)),
        Kind::UnsupportedKey(found, expected) => {
            format!(
                "unsupported key type {}, expected {expected}",
                type_of(found)
            )
        }
        // Key names, lengths and figment's own limits: no value in them.
        other => other.to_string(),
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "no value at all".to_owned(),
        [one] => format!("`{one}`"),
        many => {
            let quoted: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

fn type_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) => "a character",
        Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit => "unit",
        Actual::Option => "an option",
        Actual::NewtypeStruct => "a newtype struct",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        Actual::Enum
        | Actual::UnitVariant
        | Actual::NewtypeVariant
        | Actual::TupleVariant
        | Actual::StructVariant => "an enum",
        Actual::Other(_) => "a value",
    }
}

/// A TOML syntax error quotes the offending line, which may hold a secret: keep the
/// position and the reason, drop the excerpt.
fn without_source_excerpt(message: &str) -> String {
    let kept: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with('|')
                && !line
                    .split_once('|')
                    .is_some_and(|(lead, _)| lead.trim().chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    kept.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_syntax_error_keeps_its_position_and_reason_only() {
        let message = "TOML parse error at line 3, column 17\n  |\n3 | client_secret = \"s3cret\n  |                 ^\ninvalid basic string, expected `\"`\n";
        assert_eq!(
            without_source_excerpt(message),
            "TOML parse error at line 3, column 17: invalid basic string, expected `\"`"
        );
    }

    #[test]
    fn values_are_described_by_their_type() {
        let e = kind(&Kind::InvalidType(
            Actual::Str("redis://:s3cret@host".to_owned()),
            "struct StoreConfig".to_owned(),
        ));
        assert_eq!(
            e,
            "invalid type: found a string, expected struct StoreConfig"
        );
        let e = kind(&Kind::UnknownVariant(
            "s3cret".to_owned(),
            &["basic", "body"],
        ));
        assert_eq!(e, "unknown variant: expected one of `basic`, `body`");
    }
}
