//! The `<methodCall>` and `<methodResponse>` envelopes around the values.

use crate::decode::tokens::{Tag, Tok};
use crate::error::{Error, ErrorKind};
use crate::message::Fault;
use crate::value::Value;

use super::Parser;

impl Parser<'_> {
    /// `<methodResponse>` then either `<params><param><value>` (returns `Ok(Some(empty))`)
    /// or `<fault><value>` (returns `Ok(None)`).
    pub(crate) fn response_start(&mut self) -> Result<Option<bool>, Error> {
        self.expect_open(Tag::MethodResponse, "<methodResponse>")?;
        match self.next_markup()? {
            Tok::Open {
                tag: Tag::Params,
                empty: false,
                ..
            } => {
                self.expect_open(Tag::Param, "<param> (a response has exactly one)")?;
                Ok(Some(self.expect_open(Tag::Value, "<value>")?))
            }
            Tok::Open {
                tag: Tag::Fault,
                empty: false,
                ..
            } => {
                self.expect_open(Tag::Value, "<value>")?;
                Ok(None)
            }
            other => Err(self.unexpected("<params> or <fault>", &other)),
        }
    }

    /// `</param></params></methodResponse>` and the end of input.
    pub(crate) fn success_end(&mut self) -> Result<(), Error> {
        self.expect_close(Tag::Param, "</param>")?;
        self.expect_close(
            Tag::Params,
            "</params> (a response has exactly one <param>)",
        )?;
        self.expect_close(Tag::MethodResponse, "</methodResponse>")?;
        self.expect_eof()
    }

    /// The fault struct after `<fault><value>`, through the end of input.
    pub(crate) fn fault_rest(&mut self) -> Result<Fault, Error> {
        let at = self.offset;
        let v = self.value(false)?;
        self.expect_close(Tag::Fault, "</fault>")?;
        self.expect_close(Tag::MethodResponse, "</methodResponse>")?;
        self.expect_eof()?;
        fault_of(v).map_err(|k| Error::new(k, at))
    }

    /// A whole `<methodCall>` document.
    pub(crate) fn call(&mut self) -> Result<(String, Vec<Value>), Error> {
        self.expect_open(Tag::MethodCall, "<methodCall>")?;
        let empty = self.expect_open(Tag::MethodName, "<methodName>")?;
        let name = self
            .element_text(Tag::MethodName, empty, "</methodName>")?
            .into_owned();
        let mut params = Vec::new();
        match self.next_markup()? {
            Tok::Open {
                tag: Tag::Params,
                empty,
                ..
            } => {
                if !empty {
                    loop {
                        match self.next_markup()? {
                            Tok::Open {
                                tag: Tag::Param,
                                empty: false,
                                ..
                            } => {
                                let value_empty = self.expect_open(Tag::Value, "<value>")?;
                                params.push(self.value(value_empty)?);
                                self.expect_close(Tag::Param, "</param>")?;
                            }
                            Tok::Close {
                                tag: Tag::Params, ..
                            } => break,
                            other => return Err(self.unexpected("<param> or </params>", &other)),
                        }
                    }
                }
                self.expect_close(Tag::MethodCall, "</methodCall>")?;
            }
            Tok::Close {
                tag: Tag::MethodCall,
                ..
            } => {}
            other => return Err(self.unexpected("<params> or </methodCall>", &other)),
        }
        self.expect_eof()?;
        Ok((name, params))
    }
}

/// `faultCode` / `faultString` out of a fault value.
fn fault_of(v: Value) -> Result<Fault, ErrorKind> {
    let Value::Struct(s) = v else {
        return Err(ErrorKind::Missing(format!(
            "fault struct (found {})",
            v.type_name()
        )));
    };
    let code = match s.get("faultCode") {
        Some(Value::Int(i)) => *i,
        Some(c) => c
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| ErrorKind::InvalidInt(format!("faultCode {c:?}")))?,
        None => return Err(ErrorKind::Missing("faultCode in <fault>".to_owned())),
    };
    let string = match s.get("faultString") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(ErrorKind::Missing(format!(
                "faultString as a string (found {})",
                other.type_name()
            )))
        }
        None => return Err(ErrorKind::Missing("faultString in <fault>".to_owned())),
    };
    Ok(Fault { code, string })
}
