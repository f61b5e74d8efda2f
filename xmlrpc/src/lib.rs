//! XML-RPC values, calls, responses and faults on quick-xml, exact on XAPI's wire form.
//!
//! Knows nothing of XenAPI or HTTP. Decoding streams over quick-xml events (no DOM) into a
//! dynamic [`Value`] or, through serde, straight into typed structs; hard [`Limits`] apply while
//! decoding and every failure is an [`Error`] naming the problem and its byte offset. Encoding
//! writes what xapi's ocaml-rpc writes: bare `<value>text</value>` strings by default.
//!
//! serde mapping: struct / string-keyed map ↔ `Struct`; seq / tuple ↔ `Array`; `None` ↔ `Nil`;
//! integers accept `Int`, `I8` or a decimal `String` (XAPI's int64 form) and serialize as `Int`
//! when they fit in i32, else `I8`; floats accept `Double`, `Int`, `I8` or a numeric string;
//! bool ↔ `Bool`; strings / chars / unit variants ↔ `String`; newtype / tuple / struct variants
//! ↔ a single-member `Struct`; `DateTime` and bytes keep their XML-RPC types; unknown struct
//! members are ignored unless the target denies them.

mod datetime;
mod de;
mod decode;
mod encode;
mod error;
mod message;
mod ser;
mod value;

pub use datetime::DateTime;
pub use de::from_value;
pub use decode::{decode_call, decode_response, decode_response_as, decode_value, decode_value_as};
pub use encode::{
    encode_call, encode_call_with, encode_fault, encode_response, encode_response_with,
    encode_value, EncodeOptions,
};
pub use error::{Error, ErrorKind};
pub use message::{Fault, Limits, MethodCall, Response};
pub use ser::to_value;
pub use value::{Struct, Value};
