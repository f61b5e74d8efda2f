//! serde deserialization: straight from the decoder's event stream (`decode_response_as`), from
//! an owned [`Value`] (`from_value`), and `Deserialize` for `Value` and `DateTime`.
//!
//! Both sources share the scalar rules in [`ScalarDe`]: integers accept `Int`, `I8` or a
//! decimal string; floats also accept integers and numeric strings; strings accept strings and
//! dateTimes; `()` accepts nil and the empty string (XAPI's void); unit enum variants come from
//! strings. Containers map struct ↔ map/struct and array ↔ seq/tuple.

mod impls;
mod owned;
mod scalar;
mod stream;

use serde::de;

use crate::error::{Error, ErrorKind};
use crate::value::Value;

pub(crate) use scalar::ScalarDe;
pub(crate) use stream::HeadDe;

type Result<T> = std::result::Result<T, Error>;

/// Deserializes `T` out of an owned [`Value`] (mapping in the crate docs).
pub fn from_value<T: de::DeserializeOwned>(value: Value) -> Result<T> {
    T::deserialize(value)
}

fn serde_err(msg: impl Into<String>) -> Error {
    Error::unlocated(ErrorKind::Serde(msg.into()))
}

fn one_member_error() -> Error {
    serde_err("an enum variant with data is a struct with exactly one member")
}

/// Generates the `Deserializer` methods that only pick a scalar rule, for a type with a
/// `dispatch` that routes scalars to [`ScalarDe`] and containers to their accesses, plus the
/// methods that are aliases (`tuple` → `seq`, `struct` → `map`, `unit_struct` → `unit`).
macro_rules! dispatch_hints {
    () => {
        crate::de::dispatch_hints! {
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
            deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
            deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
            deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
            deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        }

        fn deserialize_unit_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            v: V,
        ) -> crate::de::Result<V::Value> {
            serde::de::Deserializer::deserialize_unit(self, v)
        }
        fn deserialize_tuple<V: serde::de::Visitor<'de>>(
            self,
            _: usize,
            v: V,
        ) -> crate::de::Result<V::Value> {
            serde::de::Deserializer::deserialize_seq(self, v)
        }
        fn deserialize_tuple_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            _: usize,
            v: V,
        ) -> crate::de::Result<V::Value> {
            serde::de::Deserializer::deserialize_seq(self, v)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            v: V,
        ) -> crate::de::Result<V::Value> {
            serde::de::Deserializer::deserialize_map(self, v)
        }
    };
    ($($method:ident)*) => {$(
        fn $method<V: serde::de::Visitor<'de>>(self, v: V) -> crate::de::Result<V::Value> {
            self.dispatch(v, |s, v| s.$method(v))
        }
    )*};
}
pub(crate) use dispatch_hints;
