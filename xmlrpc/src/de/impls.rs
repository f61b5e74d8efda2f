//! `Deserialize` for [`Value`] and [`DateTime`]: exact from this crate's deserializers (the
//! dateTime travels as a one-entry map under a reserved key), sensible from other formats.

use serde::de::{self, Visitor};

use crate::datetime::DateTime;
use crate::ser::DATETIME_TOKEN;
use crate::value::{Struct, Value};

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Builds a `Value` from whatever the deserializer has.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an XML-RPC value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i32<E>(self, i: i32) -> std::result::Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_i64<E>(self, i: i64) -> std::result::Result<Value, E> {
        Ok(Value::I8(i))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> std::result::Result<Value, E> {
        match (i32::try_from(u), i64::try_from(u)) {
            (Ok(i), _) => Ok(Value::Int(i)),
            (_, Ok(i)) => Ok(Value::I8(i)),
            _ => Err(E::custom(format!(
                "integer {u} is out of the range of XML-RPC <i8>"
            ))),
        }
    }
    fn visit_f64<E>(self, d: f64) -> std::result::Result<Value, E> {
        Ok(Value::Double(d))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> std::result::Result<Value, E> {
        Ok(Value::Base64(b.to_vec()))
    }
    fn visit_byte_buf<E>(self, b: Vec<u8>) -> std::result::Result<Value, E> {
        Ok(Value::Base64(b))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        de::Deserialize::deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        de::Deserialize::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut s = Struct::new();
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Struct(s));
        };
        if first == DATETIME_TOKEN {
            let text: String = map.next_value()?;
            return DateTime::parse(&text)
                .map(Value::DateTime)
                .map_err(de::Error::custom);
        }
        s.push(first, map.next_value::<Value>()?);
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            s.push(k, v);
        }
        Ok(Value::Struct(s))
    }
}

impl<'de> de::Deserialize<'de> for DateTime {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<DateTime, D::Error> {
        d.deserialize_newtype_struct(DATETIME_TOKEN, DateTimeVisitor)
    }
}

/// Parses a `DateTime` from its string, however the deserializer wraps it.
struct DateTimeVisitor;

impl<'de> Visitor<'de> for DateTimeVisitor {
    type Value = DateTime;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a dateTime.iso8601 such as 20240611T10:00:00Z")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<DateTime, E> {
        DateTime::parse(s).map_err(E::custom)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<DateTime, D::Error> {
        // `any`, not `str`: buffered content (serde's flatten / untagged) holds the map form.
        d.deserialize_any(DateTimeVisitor)
    }
    fn visit_map<A: de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<DateTime, A::Error> {
        match map.next_key::<String>()? {
            Some(k) if k == DATETIME_TOKEN => {
                let text: String = map.next_value()?;
                DateTime::parse(&text).map_err(de::Error::custom)
            }
            _ => Err(de::Error::custom("expected a dateTime.iso8601")),
        }
    }
}
