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

/// Generates the `Deserializer` methods that only pick a scalar rule (both sources have a
/// `dispatch` that routes scalars to [`ScalarDe`] and containers to their accesses).
macro_rules! dispatch_hints {
    ($($method:ident)*) => {$(
        fn $method<V: serde::de::Visitor<'de>>(self, v: V) -> crate::de::Result<V::Value> {
            self.dispatch(v, |s, v| s.$method(v))
        }
    )*};
}
pub(crate) use dispatch_hints;
