//! The XML-RPC grammar over [`Tokens`]: value heads (the scalar, or the opening of a struct /
//! array), container iteration and limits (the call / response envelopes are in `envelope`). The `Value`
//! tree builder and the typed serde decoder walk the input through this.

use std::borrow::Cow;

use base64::Engine as _;

use crate::datetime::DateTime;
use crate::decode::tokens::{is_xml_whitespace, Tag, Tok, Tokens};
use crate::error::{snippet, Error, ErrorKind};
use crate::message::Limits;
use crate::value::{Struct, Value};

mod envelope;

/// A non-container value as read from the input.
#[derive(Debug)]
pub(crate) enum Scalar<'a> {
    Int(i32),
    I8(i64),
    Bool(bool),
    Str(Cow<'a, str>),
    Double(f64),
    DateTime(DateTime),
    Base64(Vec<u8>),
    Nil,
}

impl Scalar<'_> {
    pub(crate) fn into_value(self) -> Value {
        match self {
            Scalar::Int(i) => Value::Int(i),
            Scalar::I8(i) => Value::I8(i),
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Str(s) => Value::String(s.into_owned()),
            Scalar::Double(d) => Value::Double(d),
            Scalar::DateTime(d) => Value::DateTime(d),
            Scalar::Base64(b) => Value::Base64(b),
            Scalar::Nil => Value::Nil,
        }
    }
}

/// An open struct or array being walked.
#[derive(Debug)]
pub(crate) struct Container {
    /// `<struct/>` / `<array/>` / `<data/>`: nothing to read, no end tags to expect.
    empty: bool,
    count: usize,
    /// A member's value has been handed out and its `</member>` is still to be read.
    member_open: bool,
    done: bool,
    /// An array whose `</array>` is still to be read (not `<array/>`).
    close_array: bool,
}

/// What follows a `<value>`: a complete scalar (its `</value>` consumed), or an open container.
#[derive(Debug)]
pub(crate) enum Head<'a> {
    Scalar(Scalar<'a>),
    Struct(Container),
    Array(Container),
}

const VALUE_TYPES: &str =
    "a value type (string, int, i4, i8, boolean, double, dateTime.iso8601, base64, struct, array, nil)";

/// The decoder state for one input document.
pub(crate) struct Parser<'a> {
    toks: Tokens<'a>,
    limits: Limits,
    depth: usize,
    /// Members of every struct under construction, innermost last.
    members: Vec<(String, Value)>,
    /// Items of every array under construction, innermost last.
    items: Vec<Value>,
    /// Offset of the last token read.
    pub(crate) offset: usize,
}

impl<'a> Parser<'a> {
    /// A parser over `input`, or the `TooLarge` error if the input exceeds the limit.
    pub(crate) fn new(input: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        if input.len() > limits.max_document_bytes {
            return Err(Error::new(
                ErrorKind::TooLarge {
                    limit: limits.max_document_bytes,
                },
                limits.max_document_bytes,
            ));
        }
        Ok(Parser {
            toks: Tokens::new(input, limits.max_string_bytes),
            limits: limits.clone(),
            depth: 0,
            members: Vec::new(),
            items: Vec::new(),
            offset: 0,
        })
    }

    fn next(&mut self) -> Result<Tok<'a>, Error> {
        let (tok, at) = self.toks.next()?;
        self.offset = at;
        Ok(tok)
    }

    /// The next token that is not whitespace-only text; other text is an error here.
    fn next_markup(&mut self) -> Result<Tok<'a>, Error> {
        loop {
            match self.next()? {
                Tok::Text(t) if is_xml_whitespace(&t) => continue,
                Tok::Text(t) => return Err(self.err(ErrorKind::UnexpectedText(snippet(&t)))),
                tok => return Ok(tok),
            }
        }
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset)
    }

    fn unexpected(&self, expected: &str, found: &Tok<'_>) -> Error {
        match found {
            Tok::Eof => self.err(ErrorKind::UnexpectedEof),
            _ => self.err(ErrorKind::UnexpectedTag {
                expected: expected.to_owned(),
                found: found.describe(&self.toks.unknown),
            }),
        }
    }

    /// Reads `<tag>` (whitespace before it allowed); returns whether it was self-closing.
    pub(crate) fn expect_open(&mut self, tag: Tag, expected: &str) -> Result<bool, Error> {
        match self.next_markup()? {
            Tok::Open { tag: t, empty, .. } if t == tag => Ok(empty),
            other => Err(self.unexpected(expected, &other)),
        }
    }

    /// Reads `</tag>` (whitespace before it allowed).
    pub(crate) fn expect_close(&mut self, tag: Tag, expected: &str) -> Result<(), Error> {
        match self.next_markup()? {
            Tok::Close { tag: t, .. } if t == tag => Ok(()),
            other => Err(self.unexpected(expected, &other)),
        }
    }

    /// Whitespace, comments and processing instructions up to the end of input.
    pub(crate) fn expect_eof(&mut self) -> Result<(), Error> {
        loop {
            match self.next()? {
                Tok::Eof => return Ok(()),
                Tok::Text(t) if is_xml_whitespace(&t) => {}
                _ => return Err(self.err(ErrorKind::TrailingContent)),
            }
        }
    }

    /// The text of `<tag>…</tag>` whose start tag was just read.
    fn element_text(
        &mut self,
        tag: Tag,
        empty: bool,
        expected: &str,
    ) -> Result<Cow<'a, str>, Error> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        match self.next()? {
            Tok::Text(t) => match self.next()? {
                Tok::Close { tag: c, .. } if c == tag => Ok(t),
                other => Err(self.unexpected(expected, &other)),
            },
            Tok::Close { tag: c, .. } if c == tag => Ok(Cow::Borrowed("")),
            other => Err(self.unexpected(expected, &other)),
        }
    }

    /// Reads what follows a `<value>` start tag (`empty` for `<value/>`).
    pub(crate) fn read_head(&mut self, empty: bool) -> Result<Head<'a>, Error> {
        if self.depth >= self.limits.max_depth {
            return Err(self.err(ErrorKind::TooDeep {
                limit: self.limits.max_depth,
            }));
        }
        if empty {
            return Ok(Head::Scalar(Scalar::Str(Cow::Borrowed(""))));
        }
        let first = self.next()?;
        let (tag, tag_empty) = match first {
            Tok::Close { tag: Tag::Value } => {
                return Ok(Head::Scalar(Scalar::Str(Cow::Borrowed(""))))
            }
            Tok::Open { tag, empty } => (tag, empty),
            Tok::Text(text) => {
                let text_at = self.offset;
                match self.next()? {
                    Tok::Close { tag: Tag::Value } => return Ok(Head::Scalar(Scalar::Str(text))),
                    Tok::Open { tag, empty } if is_xml_whitespace(&text) => (tag, empty),
                    Tok::Open { .. } => {
                        return Err(Error::new(
                            ErrorKind::UnexpectedText(snippet(&text)),
                            text_at,
                        ))
                    }
                    other => return Err(self.unexpected("</value>", &other)),
                }
            }
            other => return Err(self.unexpected(VALUE_TYPES, &other)),
        };
        let start = self.offset;
        let scalar = match tag {
            Tag::String => Scalar::Str(self.element_text(tag, tag_empty, "</string>")?),
            Tag::Int | Tag::I4 => {
                let end = if tag == Tag::Int { "</int>" } else { "</i4>" };
                let t = self.element_text(tag, tag_empty, end)?;
                let v = trim(&t)
                    .parse()
                    .map_err(|_| Error::new(ErrorKind::InvalidInt(snippet(&t)), start))?;
                Scalar::Int(v)
            }
            Tag::I8 => {
                let t = self.element_text(tag, tag_empty, "</i8>")?;
                let v = trim(&t)
                    .parse()
                    .map_err(|_| Error::new(ErrorKind::InvalidInt(snippet(&t)), start))?;
                Scalar::I8(v)
            }
            Tag::Boolean => {
                let t = self.element_text(tag, tag_empty, "</boolean>")?;
                Scalar::Bool(match trim(&t) {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(Error::new(ErrorKind::InvalidBool(snippet(&t)), start)),
                })
            }
            Tag::Double => {
                let t = self.element_text(tag, tag_empty, "</double>")?;
                let v = trim(&t)
                    .parse()
                    .map_err(|_| Error::new(ErrorKind::InvalidDouble(snippet(&t)), start))?;
                Scalar::Double(v)
            }
            Tag::DateTime => {
                let t = self.element_text(tag, tag_empty, "</dateTime.iso8601>")?;
                Scalar::DateTime(DateTime::parse(&t).map_err(|e| e.at_if_unlocated(start))?)
            }
            Tag::Base64 => {
                let t = self.element_text(tag, tag_empty, "</base64>")?;
                Scalar::Base64(decode_base64(&t).map_err(|k| Error::new(k, start))?)
            }
            Tag::Nil => {
                if !tag_empty {
                    self.expect_close(Tag::Nil, "</nil>")?;
                }
                Scalar::Nil
            }
            Tag::Struct => {
                self.depth += 1;
                return Ok(Head::Struct(Container::new(tag_empty)));
            }
            Tag::Array => {
                let empty = tag_empty || self.expect_open(Tag::Data, "<data>")?;
                self.depth += 1;
                return Ok(Head::Array(Container {
                    close_array: !tag_empty,
                    ..Container::new(empty)
                }));
            }
            _ => {
                return Err(self.err(ErrorKind::UnexpectedTag {
                    expected: VALUE_TYPES.to_owned(),
                    found: self.toks.unknown.clone(),
                }))
            }
        };
        self.expect_close(Tag::Value, "</value>")?;
        Ok(Head::Scalar(scalar))
    }

    /// The next member of a struct: its name and whether its `<value>` was self-closing
    /// (the `<value>` start tag is consumed); `None` after `</struct></value>`.
    pub(crate) fn next_member(
        &mut self,
        c: &mut Container,
    ) -> Result<Option<(Cow<'a, str>, bool)>, Error> {
        if c.done {
            return Ok(None);
        }
        if c.member_open {
            self.expect_close(Tag::Member, "</member>")?;
            c.member_open = false;
        }
        if !c.empty {
            match self.next_markup()? {
                Tok::Open {
                    tag: Tag::Member,
                    empty: false,
                    ..
                } => {
                    if c.count >= self.limits.max_members {
                        return Err(self.err(ErrorKind::TooManyMembers {
                            limit: self.limits.max_members,
                        }));
                    }
                    let name_empty = self.expect_open(Tag::Name, "<name>")?;
                    let name = self.element_text(Tag::Name, name_empty, "</name>")?;
                    let value_empty = self.expect_open(Tag::Value, "<value>")?;
                    c.count += 1;
                    c.member_open = true;
                    return Ok(Some((name, value_empty)));
                }
                Tok::Close {
                    tag: Tag::Struct, ..
                } => {}
                other => return Err(self.unexpected("<member> or </struct>", &other)),
            }
        }
        self.expect_close(Tag::Value, "</value>")?;
        c.done = true;
        self.depth -= 1;
        Ok(None)
    }

    /// The next item of an array: whether its `<value>` was self-closing (the start tag is
    /// consumed); `None` after `</data></array></value>`.
    pub(crate) fn next_item(&mut self, c: &mut Container) -> Result<Option<bool>, Error> {
        if c.done {
            return Ok(None);
        }
        if !c.empty {
            match self.next_markup()? {
                Tok::Open {
                    tag: Tag::Value,
                    empty,
                    ..
                } => {
                    if c.count >= self.limits.max_members {
                        return Err(self.err(ErrorKind::TooManyMembers {
                            limit: self.limits.max_members,
                        }));
                    }
                    c.count += 1;
                    return Ok(Some(empty));
                }
                Tok::Close { tag: Tag::Data, .. } => {}
                other => return Err(self.unexpected("<value> or </data>", &other)),
            }
        }
        if c.close_array {
            self.expect_close(Tag::Array, "</array>")?;
        }
        self.expect_close(Tag::Value, "</value>")?;
        c.done = true;
        self.depth -= 1;
        Ok(None)
    }

    /// Builds the value whose `<value>` start tag was just read.
    pub(crate) fn value(&mut self, empty: bool) -> Result<Value, Error> {
        match self.read_head(empty)? {
            Head::Scalar(s) => Ok(s.into_value()),
            Head::Struct(mut c) => {
                let base = self.members.len();
                while let Some((name, value_empty)) = self.next_member(&mut c)? {
                    let name = name.into_owned();
                    let v = self.value(value_empty)?;
                    self.members.push((name, v));
                }
                Ok(Value::Struct(Struct::from_members(
                    self.members.split_off(base),
                )))
            }
            Head::Array(mut c) => {
                let base = self.items.len();
                while let Some(value_empty) = self.next_item(&mut c)? {
                    let v = self.value(value_empty)?;
                    self.items.push(v);
                }
                Ok(Value::Array(self.items.split_off(base)))
            }
        }
    }

    /// Reads and discards the value whose `<value>` start tag was just read (still checked).
    pub(crate) fn skip_value(&mut self, empty: bool) -> Result<(), Error> {
        let head = self.read_head(empty)?;
        self.skip_head(head)
    }

    /// Discards the rest of a value whose head was read.
    pub(crate) fn skip_head(&mut self, head: Head<'a>) -> Result<(), Error> {
        match head {
            Head::Scalar(_) => Ok(()),
            Head::Struct(mut c) => self.skip_members(&mut c),
            Head::Array(mut c) => self.skip_items(&mut c),
        }
    }

    pub(crate) fn skip_members(&mut self, c: &mut Container) -> Result<(), Error> {
        while let Some((_, e)) = self.next_member(c)? {
            self.skip_value(e)?;
        }
        Ok(())
    }

    pub(crate) fn skip_items(&mut self, c: &mut Container) -> Result<(), Error> {
        while let Some(e) = self.next_item(c)? {
            self.skip_value(e)?;
        }
        Ok(())
    }
}

impl Container {
    fn new(empty: bool) -> Self {
        Container {
            empty,
            count: 0,
            member_open: false,
            done: false,
            close_array: false,
        }
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Base64 with any whitespace (Python wraps lines at 76 columns), padding optional.
fn decode_base64(t: &str) -> Result<Vec<u8>, ErrorKind> {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let r = if t.bytes().any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        let compact: Vec<u8> = t
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .collect();
        ENGINE.decode(compact)
    } else {
        ENGINE.decode(t)
    };
    r.map_err(|_| ErrorKind::InvalidBase64)
}
