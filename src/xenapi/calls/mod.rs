//! Typed XenAPI calls the agent needs, as methods on [`Session`](super::Session): one file per
//! XenAPI class. Each method is a thin, named wrapper: parameters in XAPI's order, the result
//! decoded into the matching record type.

mod event;
mod host;
mod pool;
mod vm;

use xenpool_xapi_types::Ref;
use xenpool_xmlrpc::{Struct, Value};

/// A reference as a call parameter.
fn r(reference: &Ref) -> Value {
    Value::from(reference.as_str())
}

/// A string as a call parameter.
fn s(text: &str) -> Value {
    Value::from(text)
}

/// A string → string map as a call parameter.
fn map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Struct(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Struct>(),
    )
}
