//! Streaming decoding over quick-xml events: no DOM, the `Value` tree or the typed target is
//! built directly while the input is read.

pub(crate) mod parser;
pub(crate) mod tokens;

use serde::de::DeserializeOwned;

use crate::de::HeadDe;
use crate::error::Error;
use crate::message::{Fault, Limits, MethodCall, Response};
use crate::value::Value;
use parser::Parser;
use tokens::Tag;

/// Decodes a `<methodCall>` document.
pub fn decode_call(input: &[u8], limits: &Limits) -> Result<MethodCall, Error> {
    let (name, params) = Parser::new(input, limits)?.call()?;
    Ok(MethodCall { name, params })
}

/// Decodes a `<methodResponse>` document into a `Value` or a `Fault`.
pub fn decode_response(input: &[u8], limits: &Limits) -> Result<Response, Error> {
    let mut p = Parser::new(input, limits)?;
    match p.response_start()? {
        Some(empty) => {
            let v = p.value(empty)?;
            p.success_end()?;
            Ok(Response::Success(v))
        }
        None => Ok(Response::Fault(p.fault_rest()?)),
    }
}

/// Decodes a lone `<value>…</value>` document.
pub fn decode_value(input: &[u8], limits: &Limits) -> Result<Value, Error> {
    let mut p = Parser::new(input, limits)?;
    let empty = p.expect_open(Tag::Value, "<value>")?;
    let v = p.value(empty)?;
    p.expect_eof()?;
    Ok(v)
}

/// Typed decode straight from the XML events into `T` (serde), no intermediate Value tree.
pub fn decode_response_as<T: DeserializeOwned>(
    input: &[u8],
    limits: &Limits,
) -> Result<Result<T, Fault>, Error> {
    let mut p = Parser::new(input, limits)?;
    match p.response_start()? {
        Some(empty) => {
            let t = T::deserialize(HeadDe::read(&mut p, empty)?)?;
            p.success_end()?;
            Ok(Ok(t))
        }
        None => Ok(Err(p.fault_rest()?)),
    }
}

/// Typed decode of a lone `<value>…</value>` document straight into `T`.
pub fn decode_value_as<T: DeserializeOwned>(input: &[u8], limits: &Limits) -> Result<T, Error> {
    let mut p = Parser::new(input, limits)?;
    let empty = p.expect_open(Tag::Value, "<value>")?;
    let t = T::deserialize(HeadDe::read(&mut p, empty)?)?;
    p.expect_eof()?;
    Ok(t)
}
