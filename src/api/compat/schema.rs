//! Nova's request schemas, checked in the order Nova's JSON-Schema validator reports the first
//! error (schema keyword order, properties in schema order), with its exact messages.

use serde_json::Value;

use super::pyrepr::{repr, repr_str, str as py_str};
use crate::api::rules;

/// String formats Nova checks.
#[derive(Clone, Copy)]
pub enum Format {
    /// No format.
    Plain,
    /// `parameter_types.name`.
    Name,
    /// `name_with_leading_trailing_spaces`.
    NameWithSpaces,
    /// `fqdn` pattern.
    Fqdn,
    /// `uuid` format.
    Uuid,
}

/// A request schema (just what Nova's aggregate, host and service schemas use).
pub enum Schema {
    /// An object.
    Object {
        /// Properties in schema order.
        props: Vec<(&'static str, Schema)>,
        /// Required keys.
        required: &'static [&'static str],
        /// `anyOf` of single `required` keys (at least one present).
        any_of: &'static [&'static str],
        /// `additionalProperties: false`.
        closed: bool,
    },
    /// A string with length bounds and a format.
    Str(usize, usize, Format),
    /// `oneOf [az_name, null]`.
    AzOrNull,
    /// `metadata_with_null`.
    MetadataWithNull,
    /// A string from a fixed list.
    Enum(&'static [&'static str]),
    /// `parameter_types.boolean`.
    Boolean,
    /// A non-empty array of items.
    List(Box<Schema>),
}

/// A closed object.
pub fn obj(props: Vec<(&'static str, Schema)>, required: &'static [&'static str]) -> Schema {
    Schema::Object {
        props,
        required,
        any_of: &[],
        closed: true,
    }
}

const METADATA_KEY_RE: &str = "'^[a-zA-Z0-9-_:. ]{1,255}$'";
const BOOLEAN_ENUM: [&str; 20] = [
    "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "False", "FALSE", "false",
    "0", "OFF", "Off", "off", "NO", "No", "no",
];

fn fail(path: Option<&str>, instance: &Value, message: String) -> String {
    match path {
        Some(p) => format!(
            "Invalid input for field/attribute {p}. Value: {}. {message}",
            py_str(instance)
        ),
        None => message,
    }
}

fn not_type(path: Option<&str>, v: &Value, ty: &str) -> String {
    fail(path, v, format!("{} is not of type {ty}", repr(v)))
}

/// Checks `v` against `schema`; the error is Nova's `detail` text.
pub fn validate(schema: &Schema, v: &Value, path: Option<&str>) -> Result<(), String> {
    match schema {
        Schema::Object {
            props,
            required,
            any_of,
            closed,
        } => {
            let Some(o) = v.as_object() else {
                return Err(not_type(path, v, "'object'"));
            };
            for (k, sub) in props {
                if let Some(child) = o.get(*k) {
                    validate(sub, child, Some(k))?;
                }
            }
            for r in *required {
                if !o.contains_key(*r) {
                    return Err(fail(path, v, format!("'{r}' is a required property")));
                }
            }
            if !any_of.is_empty() && !any_of.iter().any(|k| o.contains_key(*k)) {
                return Err(fail(
                    path,
                    v,
                    format!("{} is not valid under any of the given schemas", repr(v)),
                ));
            }
            if *closed {
                let extras: Vec<String> = o
                    .keys()
                    .filter(|k| !props.iter().any(|(p, _)| p == k))
                    .map(|k| repr_str(k))
                    .collect();
                if !extras.is_empty() {
                    let verb = if extras.len() == 1 { "was" } else { "were" };
                    return Err(fail(
                        path,
                        v,
                        format!(
                            "Additional properties are not allowed ({} {verb} unexpected)",
                            extras.join(", ")
                        ),
                    ));
                }
            }
            Ok(())
        }
        Schema::Str(min, max, format) => {
            let Some(s) = v.as_str() else {
                return Err(not_type(path, v, "'string'"));
            };
            let n = rules::len(s);
            if n < *min {
                let m = if *min == 1 {
                    format!("{} should be non-empty", repr(v))
                } else {
                    format!("{} is too short", repr(v))
                };
                return Err(fail(path, v, m));
            }
            if n > *max {
                return Err(fail(path, v, format!("{} is too long", repr(v))));
            }
            match format {
                Format::Plain => Ok(()),
                Format::Name if !rules::valid_name(s) => Err(
                    "An invalid 'name' value was provided. The name must be: printable characters. \
                     Can not start or end with whitespace."
                        .to_string(),
                ),
                Format::NameWithSpaces if !rules::valid_name_with_spaces(s) => Err(
                    "An invalid 'name' value was provided. The name must be: printable characters \
                     with at least one non space character"
                        .to_string(),
                ),
                Format::Fqdn if !rules::fqdn_chars(s) => Err(fail(
                    path,
                    v,
                    format!("{} does not match '^[a-zA-Z0-9-._]*$'", repr(v)),
                )),
                Format::Uuid if uuid::Uuid::parse_str(s).is_err() => {
                    Err(fail(path, v, format!("{} is not a 'uuid'", repr(v))))
                }
                _ => Ok(()),
            }
        }
        Schema::AzOrNull => {
            let ok = match v {
                Value::Null => true,
                Value::String(s) => (1..=255).contains(&rules::len(s)) && rules::valid_az(s),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(fail(
                    path,
                    v,
                    format!("{} is not valid under any of the given schemas", repr(v)),
                ))
            }
        }
        Schema::MetadataWithNull => {
            let Some(o) = v.as_object() else {
                return Err(not_type(path, v, "'object'"));
            };
            for (k, val) in o.iter().filter(|(k, _)| rules::valid_metadata_key(k)) {
                match val {
                    Value::Null => {}
                    Value::String(s) if rules::len(s) > 255 => {
                        return Err(fail(Some(k), val, format!("{} is too long", repr(val))))
                    }
                    Value::String(_) => {}
                    _ => return Err(not_type(Some(k), val, "'string', 'null'")),
                }
            }
            let mut extras: Vec<&String> =
                o.keys().filter(|k| !rules::valid_metadata_key(k)).collect();
            if !extras.is_empty() {
                extras.sort();
                let verb = if extras.len() == 1 { "does" } else { "do" };
                let list: Vec<String> = extras.iter().map(|k| repr_str(k)).collect();
                return Err(fail(
                    path,
                    v,
                    format!(
                        "{} {verb} not match any of the regexes: {METADATA_KEY_RE}",
                        list.join(", ")
                    ),
                ));
            }
            Ok(())
        }
        Schema::Enum(values) => {
            let Some(s) = v.as_str() else {
                return Err(not_type(path, v, "'string'"));
            };
            if values.contains(&s) {
                return Ok(());
            }
            let list: Vec<String> = values.iter().map(|x| repr_str(x)).collect();
            Err(fail(
                path,
                v,
                format!("{} is not one of [{}]", repr(v), list.join(", ")),
            ))
        }
        Schema::Boolean => match v {
            Value::Bool(_) => Ok(()),
            Value::String(s) if BOOLEAN_ENUM.contains(&s.as_str()) => Ok(()),
            Value::String(_) => {
                let mut list = vec!["True".to_string()];
                for (i, x) in BOOLEAN_ENUM.iter().enumerate() {
                    if i == 10 {
                        list.push("False".to_string());
                    }
                    list.push(repr_str(x));
                }
                Err(fail(
                    path,
                    v,
                    format!("{} is not one of [{}]", repr(v), list.join(", ")),
                ))
            }
            _ => Err(not_type(path, v, "'boolean', 'string'")),
        },
        Schema::List(item) => {
            let Some(a) = v.as_array() else {
                return Err(not_type(path, v, "'array'"));
            };
            if a.is_empty() {
                return Err(fail(path, v, format!("{} should be non-empty", repr(v))));
            }
            for (i, x) in a.iter().enumerate() {
                validate(item, x, Some(&i.to_string()))?;
            }
            Ok(())
        }
    }
}

/// Reads `parameter_types.boolean` (already validated).
pub fn as_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(
            s.as_str(),
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes"
        ),
        _ => false,
    }
}
