//! serde deserialization: straight from the decoder's event stream (`decode_response_as`), from
//! an owned [`Value`] (`from_value`), and `Deserialize` for `Value` and `DateTime`.
//!
//! Both sources share the scalar rules in [`ScalarDe`]: integers accept `Int`, `I8` or a
//! decimal string; floats also accept integers and numeric strings; strings accept strings and
//! dateTimes; `()` accepts nil and the empty string (XAPI's void); unit enum variants come from
//! strings. Containers map struct ↔ map/struct and array ↔ seq/tuple.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer as _, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::datetime::DateTime;
use crate::decode::parser::{Container, Head, Parser, Scalar};
use crate::error::{snippet, Error, ErrorKind};
use crate::ser::DATETIME_TOKEN;
use crate::value::{Struct, Value};

type Result<T> = std::result::Result<T, Error>;

/// Deserializes `T` out of an owned [`Value`] (mapping in the crate docs).
pub fn from_value<T: de::DeserializeOwned>(value: Value) -> Result<T> {
    T::deserialize(value)
}

fn serde_err(msg: impl Into<String>) -> Error {
    Error::unlocated(ErrorKind::Serde(msg.into()))
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// A scalar as a serde deserializer (also used for struct member names).
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

/// Generates the `Deserializer` methods that only pick a scalar rule.
macro_rules! dispatch_hints {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
            self.dispatch(v, |s, v| s.$method(v))
        }
    )*};
}

/// The rest of one value in the input stream, its head already read.
pub(crate) struct HeadDe<'p, 'de> {
    p: &'p mut Parser<'de>,
    head: Head<'de>,
    start: usize,
}

impl<'p, 'de> HeadDe<'p, 'de> {
    /// Reads the head of the value whose `<value>` start tag was just consumed.
    pub(crate) fn read(p: &'p mut Parser<'de>, empty: bool) -> Result<Self> {
        let start = p.offset;
        let head = p.read_head(empty)?;
        Ok(HeadDe { p, head, start })
    }

    fn dispatch<V, F>(self, v: V, scalar: F) -> Result<V::Value>
    where
        V: Visitor<'de>,
        F: FnOnce(ScalarDe<'de>, V) -> Result<V::Value>,
    {
        let start = self.start;
        match self.head {
            Head::Scalar(s) => scalar(ScalarDe(s), v).map_err(|e| e.at_if_unlocated(start)),
            Head::Struct(c) => {
                let mut map = StreamMap {
                    p: self.p,
                    c,
                    value_empty: false,
                };
                let r = v
                    .visit_map(&mut map)
                    .map_err(|e| e.at_if_unlocated(start))?;
                map.p.skip_members(&mut map.c)?;
                Ok(r)
            }
            Head::Array(c) => {
                let mut seq = StreamSeq { p: self.p, c };
                let r = v
                    .visit_seq(&mut seq)
                    .map_err(|e| e.at_if_unlocated(start))?;
                if seq.p.next_item(&mut seq.c)?.is_some() {
                    return Err(Error::new(
                        ErrorKind::Serde("array has more items than the target type takes".into()),
                        seq.p.offset,
                    ));
                }
                Ok(r)
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for HeadDe<'_, 'de> {
    type Error = Error;

    dispatch_hints! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_seq deserialize_map deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_map(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.head {
            Head::Scalar(Scalar::Nil) => v.visit_none(),
            _ => v.visit_some(self),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        match self.head {
            Head::Scalar(_) => self.dispatch(v, |s, v| s.deserialize_newtype_struct(name, v)),
            _ => v.visit_newtype_struct(self),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let start = self.start;
        match self.head {
            Head::Struct(c) => v
                .visit_enum(StreamEnum { p: self.p, c })
                .map_err(|e| e.at_if_unlocated(start)),
            _ => self.dispatch(v, |s, v| s.deserialize_enum(name, variants, v)),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.p.skip_head(self.head)?;
        v.visit_unit()
    }
}

/// Struct members straight from the input.
struct StreamMap<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
    value_empty: bool,
}

impl<'de> de::MapAccess<'de> for StreamMap<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.p.next_member(&mut self.c)? {
            Some((name, value_empty)) => {
                self.value_empty = value_empty;
                let at = self.p.offset;
                seed.deserialize(ScalarDe(Scalar::Str(name)))
                    .map(Some)
                    .map_err(|e| e.at_if_unlocated(at))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        seed.deserialize(HeadDe::read(self.p, self.value_empty)?)
    }
}

/// Array items straight from the input.
struct StreamSeq<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
}

impl<'de> de::SeqAccess<'de> for StreamSeq<'_, 'de> {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.p.next_item(&mut self.c)? {
            Some(empty) => seed.deserialize(HeadDe::read(self.p, empty)?).map(Some),
            None => Ok(None),
        }
    }
}

/// A single-member struct as an enum variant, straight from the input.
struct StreamEnum<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
}

fn one_member_error() -> Error {
    serde_err("an enum variant with data is a struct with exactly one member")
}

impl<'p, 'de> de::EnumAccess<'de> for StreamEnum<'p, 'de> {
    type Error = Error;
    type Variant = StreamVariant<'p, 'de>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        mut self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant)> {
        match self.p.next_member(&mut self.c)? {
            Some((name, empty)) => {
                let variant = seed.deserialize(ScalarDe(Scalar::Str(name)))?;
                Ok((
                    variant,
                    StreamVariant {
                        p: self.p,
                        c: self.c,
                        empty,
                    },
                ))
            }
            None => Err(one_member_error()),
        }
    }
}

/// The member value of a [`StreamEnum`].
struct StreamVariant<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
    empty: bool,
}

impl StreamVariant<'_, '_> {
    fn finish(mut self) -> Result<()> {
        match self.p.next_member(&mut self.c)? {
            None => Ok(()),
            Some(_) => Err(one_member_error().at_if_unlocated(self.p.offset)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for StreamVariant<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        self.p.skip_value(self.empty)?;
        self.finish()
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        let r = seed.deserialize(HeadDe::read(&mut *self.p, self.empty)?)?;
        self.finish()?;
        Ok(r)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        let r = de::Deserializer::deserialize_seq(HeadDe::read(&mut *self.p, self.empty)?, v)?;
        self.finish()?;
        Ok(r)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value> {
        let r = de::Deserializer::deserialize_map(HeadDe::read(&mut *self.p, self.empty)?, v)?;
        self.finish()?;
        Ok(r)
    }
}

// ---- from an owned Value ------------------------------------------------------------------

impl Value {
    fn dispatch<'de, V, F>(self, v: V, scalar: F) -> Result<V::Value>
    where
        V: Visitor<'de>,
        F: FnOnce(ScalarDe<'de>, V) -> Result<V::Value>,
    {
        let s = match self {
            Value::Struct(s) => {
                return v.visit_map(OwnedMap {
                    iter: s.into_iter(),
                    value: None,
                })
            }
            Value::Array(items) => {
                let mut seq = OwnedSeq {
                    iter: items.into_iter(),
                };
                let r = v.visit_seq(&mut seq)?;
                if seq.iter.len() > 0 {
                    return Err(serde_err("array has more items than the target type takes"));
                }
                return Ok(r);
            }
            Value::Int(i) => Scalar::Int(i),
            Value::I8(i) => Scalar::I8(i),
            Value::Bool(b) => Scalar::Bool(b),
            Value::String(s) => Scalar::Str(Cow::Owned(s)),
            Value::Double(d) => Scalar::Double(d),
            Value::DateTime(d) => Scalar::DateTime(d),
            Value::Base64(b) => Scalar::Base64(b),
            Value::Nil => Scalar::Nil,
        };
        scalar(ScalarDe(s), v)
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    dispatch_hints! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_seq deserialize_map deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_map(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            Value::Nil => v.visit_none(),
            other => v.visit_some(other),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        match self {
            Value::Struct(_) | Value::Array(_) => v.visit_newtype_struct(self),
            scalar => scalar.dispatch(v, |s, v| s.deserialize_newtype_struct(name, v)),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self {
            Value::Struct(s) => v.visit_enum(OwnedEnum(s)),
            other => other.dispatch(v, |s, v| s.deserialize_enum(name, variants, v)),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

/// Struct members of an owned value.
struct OwnedMap {
    iter: std::vec::IntoIter<(String, Value)>,
    value: Option<Value>,
}

impl<'de> de::MapAccess<'de> for OwnedMap {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ScalarDe(Scalar::Str(Cow::Owned(k))))
                    .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(serde_err("struct member value requested before its name")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Array items of an owned value.
struct OwnedSeq {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> de::SeqAccess<'de> for OwnedSeq {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        self.iter.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A single-member struct as an enum variant.
struct OwnedEnum(Struct);

impl<'de> de::EnumAccess<'de> for OwnedEnum {
    type Error = Error;
    type Variant = Value;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Value)> {
        let mut members = self.0.into_iter();
        match (members.next(), members.next()) {
            (Some((name, value)), None) => {
                let variant = seed.deserialize(ScalarDe(Scalar::Str(Cow::Owned(name))))?;
                Ok((variant, value))
            }
            _ => Err(one_member_error()),
        }
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value> {
        de::Deserializer::deserialize_map(self, v)
    }
}

// ---- Deserialize for Value and DateTime ---------------------------------------------------

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
