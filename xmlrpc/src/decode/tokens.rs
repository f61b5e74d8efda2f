//! XML-RPC tokens on top of quick-xml events: known tag names, text with every entity and
//! character reference resolved and adjacent pieces merged, DOCTYPE and unknown entities
//! rejected, comments and processing instructions skipped. Every token carries its byte offset.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use crate::error::{snippet, Error, ErrorKind};

/// The element names of the XML-RPC grammar (namespace prefixes stripped, as Python does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Value,
    String,
    Int,
    I4,
    I8,
    Boolean,
    Double,
    DateTime,
    Base64,
    Struct,
    Member,
    Name,
    Array,
    Data,
    Nil,
    MethodCall,
    MethodName,
    Params,
    Param,
    MethodResponse,
    Fault,
    Other,
}

impl Tag {
    fn of(local_name: &str) -> Tag {
        match local_name {
            "value" => Tag::Value,
            "member" => Tag::Member,
            "name" => Tag::Name,
            "string" => Tag::String,
            "struct" => Tag::Struct,
            "array" => Tag::Array,
            "data" => Tag::Data,
            "int" => Tag::Int,
            "i4" => Tag::I4,
            "i8" => Tag::I8,
            "boolean" => Tag::Boolean,
            "double" => Tag::Double,
            "dateTime.iso8601" => Tag::DateTime,
            "base64" => Tag::Base64,
            "nil" => Tag::Nil,
            "methodCall" => Tag::MethodCall,
            "methodName" => Tag::MethodName,
            "params" => Tag::Params,
            "param" => Tag::Param,
            "methodResponse" => Tag::MethodResponse,
            "fault" => Tag::Fault,
            _ => Tag::Other,
        }
    }
}

/// One token of the input.
#[derive(Debug)]
pub(crate) enum Tok<'a> {
    /// A start tag (`empty`: it was self-closing, `<nil/>`).
    Open { tag: Tag, empty: bool },
    /// An end tag.
    Close { tag: Tag },
    /// Character data, entities resolved, adjacent text / references / CDATA merged.
    Text(Cow<'a, str>),
    /// End of input.
    Eof,
}

impl Tag {
    /// The element name (`unknown` is the name of the last `Tag::Other` read).
    fn name<'n>(&self, unknown: &'n str) -> &'n str {
        match self {
            Tag::Value => "value",
            Tag::String => "string",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Nil => "nil",
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::MethodResponse => "methodResponse",
            Tag::Fault => "fault",
            Tag::Other => unknown,
        }
    }
}

impl Tok<'_> {
    /// How the token reads in an error message (`unknown`: see [`Tokens::unknown`]).
    pub(crate) fn describe(&self, unknown: &str) -> String {
        match self {
            Tok::Open { tag, .. } => tag.name(unknown).to_owned(),
            Tok::Close { tag } => format!("/{}", tag.name(unknown)),
            Tok::Text(t) => format!("text {:?}", snippet(t)),
            Tok::Eof => "end of input".to_owned(),
        }
    }
}

/// Whether `s` is only XML whitespace.
pub(crate) fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The token stream of one input document.
pub(crate) struct Tokens<'a> {
    reader: Reader<&'a [u8]>,
    /// Bytes before the reader's position 0: quick-xml skips a UTF-8 byte order mark without
    /// counting it, offsets here count every input byte.
    base: usize,
    /// An event read ahead while merging text, with its start offset.
    pending: Option<(Event<'a>, usize)>,
    max_string_bytes: usize,
    /// The name of the last element not in the XML-RPC grammar (for error messages).
    pub(crate) unknown: String,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(input: &'a [u8], max_string_bytes: usize) -> Self {
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.trim_text(false);
        // The grammar checks every end tag itself.
        config.check_end_names = false;
        config.expand_empty_elements = false;
        Tokens {
            base: if input.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            },
            reader,
            pending: None,
            max_string_bytes,
            unknown: String::new(),
        }
    }

    fn raw(&mut self) -> Result<(Event<'a>, usize), Error> {
        if let Some(p) = self.pending.take() {
            return Ok(p);
        }
        let start = self.base + self.reader.buffer_position() as usize;
        match self.reader.read_event() {
            Ok(e) => Ok((e, start)),
            // quick-xml reports some errors (UTF-8) at an offset before the event.
            Err(e) => Err(Error::new(
                ErrorKind::Syntax(e.to_string()),
                (self.base + self.reader.error_position() as usize).max(start),
            )),
        }
    }

    /// The next token and the byte offset where it starts.
    pub(crate) fn next(&mut self) -> Result<(Tok<'a>, usize), Error> {
        loop {
            let (event, start) = self.raw()?;
            let tok = match event {
                Event::Start(e) => Tok::Open {
                    tag: self.tag(e.name().into_inner()),
                    empty: false,
                },
                Event::Empty(e) => Tok::Open {
                    tag: self.tag(e.name().into_inner()),
                    empty: true,
                },
                Event::End(e) => Tok::Close {
                    tag: self.tag(e.name().into_inner()),
                },
                Event::Text(t) => self.merge_text(t.into_inner(), start)?,
                Event::CData(c) => self.merge_text(c.into_inner(), start)?,
                Event::GeneralRef(r) => {
                    let mut s = String::new();
                    push_ref(&mut s, &r, start)?;
                    self.merge_text(Cow::Owned(s), start)?
                }
                Event::DocType(_) => return Err(Error::new(ErrorKind::DoctypeRejected, start)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => continue,
                Event::Eof => Tok::Eof,
            };
            return Ok((tok, start));
        }
    }

    /// The tag for an element name; a namespace prefix (`ex:nil`) is looked at only when the
    /// full name is not in the grammar, which keeps the common path free of a `:` search.
    fn tag(&mut self, name: &str) -> Tag {
        let mut tag = Tag::of(name);
        if tag == Tag::Other {
            let local = name.rsplit_once(':').map_or(name, |(_, local)| local);
            tag = Tag::of(local);
            if tag == Tag::Other {
                self.unknown.clear();
                self.unknown.push_str(local);
            }
        }
        tag
    }

    /// Appends every following piece of character data to `first`.
    fn merge_text(&mut self, first: Cow<'a, str>, start: usize) -> Result<Tok<'a>, Error> {
        let mut text = first;
        loop {
            self.check_len(&text, start)?;
            let (event, at) = self.raw()?;
            match event {
                Event::Text(t) => text.to_mut().push_str(&t),
                Event::CData(c) => text.to_mut().push_str(&c),
                Event::GeneralRef(r) => push_ref(text.to_mut(), &r, at)?,
                Event::Comment(_) | Event::PI(_) => {}
                other => {
                    self.pending = Some((other, at));
                    check_chars(&text, start)?;
                    return Ok(Tok::Text(text));
                }
            }
        }
    }

    fn check_len(&self, text: &str, start: usize) -> Result<(), Error> {
        if text.len() > self.max_string_bytes {
            return Err(Error::new(
                ErrorKind::StringTooLong {
                    limit: self.max_string_bytes,
                },
                start,
            ));
        }
        Ok(())
    }
}

/// XML 1.0 allows no control characters but tab, LF and CR, not even as character references.
fn check_chars(text: &str, start: usize) -> Result<(), Error> {
    match text
        .bytes()
        .position(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        None => Ok(()),
        Some(i) => Err(Error::new(
            ErrorKind::Syntax(format!(
                "control character U+{:04X} is not allowed in XML",
                text.as_bytes()[i]
            )),
            start + i,
        )),
    }
}

/// Resolves a predefined entity or a character reference; anything else is rejected.
fn push_ref(out: &mut String, r: &BytesRef<'_>, at: usize) -> Result<(), Error> {
    if r.is_char_ref() {
        match r.resolve_char_ref() {
            Ok(Some(c)) => out.push(c),
            Ok(None) | Err(_) => {
                return Err(Error::new(
                    ErrorKind::Syntax(format!("invalid character reference &{};", snippet(r))),
                    at,
                ))
            }
        }
        return Ok(());
    }
    let c = match &**r {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return Err(Error::new(ErrorKind::EntityRejected, at)),
    };
    out.push(c);
    Ok(())
}
