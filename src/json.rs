//! Lenient JSON scalars as both Apigee flavours send them, shared by the client
//! (`backend/apigee/wire.rs`, reading responses) and the emulator (`server/`, reading
//! requests), so the two sides cannot drift apart.
//!
//! Apigee X speaks proto3 JSON: int64 values are strings (`"createdAt": "1591645866735"`),
//! empty fields are omitted and an empty list may be `{}`. Apigee Edge sends int64 values as
//! numbers, a string field may arrive as a number or boolean (quota fields, attribute
//! values), and lists are always `[]`. Request bodies mix both (migration tools send
//! `"keyExpiresIn": 1` to X). Null and absent are the caller's business: wrap [`Int64`] and
//! [`Text`] in `Option`, or use the `deserialize_with` helpers [`int64`], [`text`] and
//! [`list`], which read them as "unset".
//!
//! Architecture invariant: this module knows JSON only — no flavour, no HTTP, no model.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::Value;

/// An int64 as either flavour sends it: a JSON number (Edge) or a string of digits (X).
///
/// Surrounding whitespace in a string is ignored; an integral float (`1e3`) is accepted. A
/// fraction, a value out of range, an empty string, `null`, a boolean, an array or an object
/// is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int64(pub i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match int64_of(&v).map_err(D::Error::custom)? {
            Some(n) => Ok(Int64(n)),
            None => Err(D::Error::custom(format!("expected an int64, got {v}"))),
        }
    }
}

/// A string field that may arrive as a JSON number or boolean (Edge quota fields, odd
/// attribute values); the number or boolean is taken as its JSON text (`1000` → `"1000"`).
///
/// `null`, an array or an object is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        text_of(v).map(Text).map_err(D::Error::custom)
    }
}

/// `deserialize_with` for an optional int64: as [`Int64`], with `null` and an empty (or
/// blank) string read as `None`. Pair with `#[serde(default)]` for absent fields.
pub fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int64_of(&Value::deserialize(d)?).map_err(D::Error::custom)
}

/// `deserialize_with` for a string field: as [`Text`], with `null` read as `""`. Pair with
/// `#[serde(default)]` for absent fields.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        v => text_of(v).map_err(D::Error::custom),
    }
}

/// `deserialize_with` for a repeated field: a JSON array; `null` or `{}` for empty (X); or a
/// one-key wrapper object such as `{"attribute": […]}`. Pair with `#[serde(default)]` for
/// absent fields.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        Value::Object(map) if map.is_empty() => Vec::new(),
        Value::Object(map) if map.len() == 1 => match map.into_iter().next() {
            Some((_, Value::Array(items))) => items,
            _ => return Err(D::Error::custom("expected a list")),
        },
        _ => return Err(D::Error::custom("expected a list")),
    };
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(D::Error::custom))
        .collect()
}

/// The int64 in `v`; `None` for `null` or a blank string.
fn int64_of(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("expected an int64, got {s:?}")),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| format!("expected an int64, got {n}")),
        other => Err(format!("expected an int64, got {other}")),
    }
}

/// The text of a string, number or boolean.
fn text_of(v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    struct Lenient {
        #[serde(deserialize_with = "int64")]
        issued_at: Option<i64>,
        #[serde(deserialize_with = "text")]
        quota: String,
        #[serde(deserialize_with = "list")]
        scopes: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    struct Strict {
        expires_in: Option<Int64>,
        value: Option<Text>,
    }

    fn lenient(body: &str) -> Result<Lenient, serde_json::Error> {
        serde_json::from_str(body)
    }

    fn strict(body: &str) -> Result<Strict, serde_json::Error> {
        serde_json::from_str(body)
    }

    #[test]
    fn int64_as_x_string_or_edge_number() {
        for (body, want) in [
            (r#"{"issuedAt":"1591645866735"}"#, 1591645866735),
            (r#"{"issuedAt":1568312504682}"#, 1568312504682),
            (r#"{"issuedAt":"-1"}"#, -1),
            (r#"{"issuedAt":-1}"#, -1),
            (r#"{"issuedAt":" 42 "}"#, 42),
            (r#"{"issuedAt":1e3}"#, 1000),
        ] {
            assert_eq!(lenient(body).unwrap().issued_at, Some(want), "{body}");
            let body = body.replace("issuedAt", "expiresIn");
            assert_eq!(
                strict(&body).unwrap().expires_in,
                Some(Int64(want)),
                "{body}"
            );
        }
    }

    #[test]
    fn int64_refuses_what_is_not_an_integer() {
        for v in [
            r#""soon""#,
            "1.5",
            "1e19",
            "18446744073709551615",
            "true",
            "[]",
            "{}",
        ] {
            assert!(lenient(&format!(r#"{{"issuedAt":{v}}}"#)).is_err(), "{v}");
            assert!(strict(&format!(r#"{{"expiresIn":{v}}}"#)).is_err(), "{v}");
        }
    }

    #[test]
    fn unset_int64_in_every_spelling() {
        for body in [r#"{}"#, r#"{"issuedAt":null}"#, r#"{"issuedAt":""}"#] {
            assert_eq!(lenient(body).unwrap().issued_at, None, "{body}");
        }
        assert_eq!(strict(r#"{"expiresIn":null}"#).unwrap().expires_in, None);
        // A value that is present must be a number: an empty string is not one.
        assert!(strict(r#"{"expiresIn":""}"#).is_err());
    }

    #[test]
    fn text_from_strings_numbers_and_booleans() {
        for (v, want) in [
            (r#""1000""#, "1000"),
            ("1000", "1000"),
            ("1.5", "1.5"),
            ("true", "true"),
        ] {
            assert_eq!(lenient(&format!(r#"{{"quota":{v}}}"#)).unwrap().quota, want);
            let s = strict(&format!(r#"{{"value":{v}}}"#)).unwrap();
            assert_eq!(s.value, Some(Text(want.into())), "{v}");
        }
        assert_eq!(lenient(r#"{"quota":null}"#).unwrap().quota, "");
        assert_eq!(strict(r#"{"value":null}"#).unwrap().value, None);
        for v in ["[]", "{}", r#"["a"]"#] {
            assert!(lenient(&format!(r#"{{"quota":{v}}}"#)).is_err(), "{v}");
            assert!(strict(&format!(r#"{{"value":{v}}}"#)).is_err(), "{v}");
        }
    }

    #[test]
    fn empty_lists_in_every_spelling() {
        for body in [
            r#"{}"#,
            r#"{"scopes":[]}"#,
            r#"{"scopes":{}}"#,
            r#"{"scopes":null}"#,
        ] {
            assert!(lenient(body).unwrap().scopes.is_empty(), "{body}");
        }
        let l = lenient(r#"{"scopes":{"scope":["a","b"]}}"#).unwrap();
        assert_eq!(l.scopes, ["a", "b"]);
        for body in [
            r#"{"scopes":"a"}"#,
            r#"{"scopes":{"a":[],"b":[]}}"#,
            r#"{"scopes":{"scope":"a"}}"#,
            r#"{"scopes":[1]}"#,
        ] {
            assert!(lenient(body).is_err(), "{body}");
        }
    }
}
