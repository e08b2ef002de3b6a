//! Text keys that TOML may give as numbers or booleans.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Accepts a string, a number or a boolean where a string is expected: TOML makes `123` a
/// number, and an organization id is still text. Anything else is an error naming the type
/// found, never the value.
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    d.deserialize_option(OptionalText)
}

/// As [`lenient_string`], into a type made from text: a secret type or a
/// [`ConfigUrl`](super::ConfigUrl).
pub(super) fn lenient<'de, D: Deserializer<'de>, T: From<String>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    Ok(lenient_string(d)?.map(T::from))
}

/// A table of text values (see [`lenient_string`]).
pub(super) fn lenient_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_string")] Option<String>);
    let raw = BTreeMap::<String, Wrap>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, Wrap(v))| v.map(|v| (k, v)))
        .collect())
}

/// One text value or a list of them (`audience = "a"` or `audience = ["a", "b"]`), each
/// as [`lenient_string`] reads it.
pub(super) fn lenient_list<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_string")] Option<String>);
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Wrap>),
        One(Wrap),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(Wrap(v))) => v.map(|v| vec![v]),
        Some(OneOrMany::Many(values)) => Some(values.into_iter().filter_map(|Wrap(v)| v).collect()),
    })
}

struct OptionalText;

impl<'de> Visitor<'de> for OptionalText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text (a string, number or boolean)")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
}
