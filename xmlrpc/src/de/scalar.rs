//! The scalar rules shared by both deserializers (and used for struct member names).

use std::borrow::Cow;

use serde::de::{self, Deserializer as _, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::de::Result;
use crate::decode::parser::Scalar;
use crate::error::{snippet, Error, ErrorKind};
use crate::ser::DATETIME_TOKEN;

fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

pub(crate) struct ScalarDe<'de>(pub(crate) Scalar<'de>);

impl<'de> ScalarDe<'de> {
    fn visit_int<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::Int(i) => v.visit_i64(i.into()),
            Scalar::I8(i) => v.visit_i64(i),
            Scalar::Str(s) => {
                let t = trim(&s);
                if t.starts_with('-') {
                    match t.parse::<i64>() {
                        Ok(i) => v.visit_i64(i),
                        Err(_) => Err(Error::unlocated(ErrorKind::InvalidInt(snippet(&s)))),
                    }
                } else {
                    match t.parse::<u64>() {
                        Ok(u) => v.visit_u64(u),
                        Err(_) => Err(Error::unlocated(ErrorKind::InvalidInt(snippet(&s)))),
                    }
                }
            }
            other => ScalarDe(other).deserialize_any(v),
        }
    }

    fn visit_float<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::Double(d) => v.visit_f64(d),
            Scalar::Int(i) => v.visit_f64(i.into()),
            Scalar::I8(i) => v.visit_f64(i as f64),
            Scalar::Str(s) => match trim(&s).parse::<f64>() {
                Ok(d) => v.visit_f64(d),
                Err(_) => Err(Error::unlocated(ErrorKind::InvalidDouble(snippet(&s)))),
            },
            other => ScalarDe(other).deserialize_any(v),
        }
    }

    fn visit_text<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::DateTime(d) => v.visit_string(d.to_string()),
            other => ScalarDe(other).deserialize_any(v),
        }
    }
}

impl<'de> de::Deserializer<'de> for ScalarDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::Int(i) => v.visit_i32(i),
            Scalar::I8(i) => v.visit_i64(i),
            Scalar::Bool(b) => v.visit_bool(b),
            Scalar::Str(Cow::Borrowed(s)) => v.visit_borrowed_str(s),
            Scalar::Str(Cow::Owned(s)) => v.visit_string(s),
            Scalar::Double(d) => v.visit_f64(d),
            Scalar::DateTime(d) => v.visit_map(de::value::MapDeserializer::new(std::iter::once((
                DATETIME_TOKEN,
                d.to_string(),
            )))),
            Scalar::Base64(b) => v.visit_byte_buf(b),
            Scalar::Nil => v.visit_unit(),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_int(v)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_float(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_float(v)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_text(v)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_text(v)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.visit_text(v)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::Nil => v.visit_unit(),
            Scalar::Str(s) if s.is_empty() => v.visit_unit(),
            other => ScalarDe(other).deserialize_any(v),
        }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.0 {
            Scalar::Nil => v.visit_none(),
            other => v.visit_some(ScalarDe(other)),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        match (name, self.0) {
            (DATETIME_TOKEN, Scalar::DateTime(d)) => v.visit_string(d.to_string()),
            (DATETIME_TOKEN, other) => ScalarDe(other).deserialize_any(v),
            (_, other) => v.visit_newtype_struct(ScalarDe(other)),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self.0 {
            Scalar::Str(s) => v.visit_enum(IntoDeserializer::<Error>::into_deserializer(s)),
            other => ScalarDe(other).deserialize_any(v),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i128 u128 bytes byte_buf seq tuple tuple_struct map struct identifier
    }
}
