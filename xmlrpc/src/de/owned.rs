//! Deserializing from an owned [`Value`] (`from_value`).

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::de::{dispatch_hints, one_member_error, serde_err, Result, ScalarDe};
use crate::decode::parser::Scalar;
use crate::error::Error;
use crate::value::{Struct, Value};

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

    dispatch_hints!();

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
