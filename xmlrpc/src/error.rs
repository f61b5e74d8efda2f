//! The one error type of the crate: what went wrong and the byte offset where it was found.

use std::fmt;

/// Every decode (and serde bridge) failure: what went wrong and the byte offset in the input
/// where it was found. Display: `<kind> at byte <offset>` (errors raised outside any input,
/// e.g. by [`crate::from_value`], print the kind alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<Inner>);

/// Boxed so that every `Result` on the decoder's hot path stays small.
#[derive(Debug, Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    offset: usize,
    located: bool,
}

/// What went wrong while decoding or converting.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not well-formed XML (the message comes from the tokenizer).
    Syntax(String),
    /// A tag other than the one the XML-RPC grammar allows here.
    UnexpectedTag {
        /// What the grammar allows at this point.
        expected: String,
        /// What the input has.
        found: String,
    },
    /// `<int>`, `<i4>` or `<i8>` text that is not a decimal in range.
    InvalidInt(String),
    /// `<boolean>` text other than `0`, `1`, `true` or `false`.
    InvalidBool(String),
    /// `<double>` text that is not a number.
    InvalidDouble(String),
    /// `<dateTime.iso8601>` text in none of the accepted forms.
    InvalidDateTime(String),
    /// `<base64>` text that is not base64.
    InvalidBase64,
    /// The document has a `<!DOCTYPE …>` (and with it possibly entity declarations).
    DoctypeRejected,
    /// A reference to an entity other than the five predefined ones or a character reference.
    EntityRejected,
    /// The document is larger than `Limits::max_document_bytes`.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Values nest deeper than `Limits::max_depth`.
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// One text node is longer than `Limits::max_string_bytes` after unescaping.
    StringTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A struct or array has more than `Limits::max_members` entries.
    TooManyMembers {
        /// The limit in entries.
        limit: usize,
    },
    /// The input ends before the document does.
    UnexpectedEof,
    /// Something other than whitespace, comments or processing instructions after the root.
    TrailingContent,
    /// Text where the grammar allows only elements, or mixed with a typed value.
    UnexpectedText(String),
    /// A required element is missing (e.g. a `<fault>` without `faultCode`).
    Missing(String),
    /// A serde conversion failed (wrong type for a field, missing field, …).
    Serde(String),
}

impl Error {
    /// An error of `kind` found at byte `offset` of the input.
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        Error(Box::new(Inner {
            kind,
            offset,
            located: true,
        }))
    }

    /// An error not tied to a place in an input (serde conversions of in-memory values).
    pub(crate) fn unlocated(kind: ErrorKind) -> Self {
        Error(Box::new(Inner {
            kind,
            offset: 0,
            located: false,
        }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The byte offset in the input where the problem was found (0 when not tied to an input).
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// Gives an error raised without a place (by a serde visitor) the offset `offset`.
    pub(crate) fn at_if_unlocated(mut self, offset: usize) -> Self {
        if !self.0.located {
            self.0.offset = offset;
            self.0.located = true;
        }
        self
    }
}

/// The start of `text` for an error message (at most 64 characters, `…` marking a cut), so a
/// 16 MiB bad value never ends up in a log line whole.
pub(crate) fn snippet(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax(m) => write!(f, "malformed XML: {m}"),
            ErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "unexpected <{found}>, expected {expected}")
            }
            ErrorKind::InvalidInt(s) => write!(f, "invalid integer {s:?}"),
            ErrorKind::InvalidBool(s) => write!(f, "invalid boolean {s:?} (expected 0 or 1)"),
            ErrorKind::InvalidDouble(s) => write!(f, "invalid double {s:?}"),
            ErrorKind::InvalidDateTime(s) => write!(
                f,
                "invalid dateTime.iso8601 {s:?} (expected YYYYMMDDTHH:MM:SS, optionally with Z, or YYYY-MM-DDTHH:MM:SS)"
            ),
            ErrorKind::InvalidBase64 => write!(f, "invalid base64 data"),
            ErrorKind::DoctypeRejected => {
                write!(f, "DOCTYPE declarations are not allowed in XML-RPC")
            }
            ErrorKind::EntityRejected => write!(
                f,
                "entity reference rejected (only &amp; &lt; &gt; &quot; &apos; and character references are allowed)"
            ),
            ErrorKind::TooLarge { limit } => {
                write!(f, "document larger than the limit of {limit} bytes (Limits::max_document_bytes)")
            }
            ErrorKind::TooDeep { limit } => {
                write!(f, "values nested deeper than the limit of {limit} (Limits::max_depth)")
            }
            ErrorKind::StringTooLong { limit } => {
                write!(f, "text longer than the limit of {limit} bytes (Limits::max_string_bytes)")
            }
            ErrorKind::TooManyMembers { limit } => write!(
                f,
                "struct or array with more than the limit of {limit} entries (Limits::max_members)"
            ),
            ErrorKind::UnexpectedEof => write!(f, "unexpected end of input"),
            ErrorKind::TrailingContent => write!(f, "content after the end of the document"),
            ErrorKind::UnexpectedText(s) => write!(f, "unexpected text {s:?}"),
            ErrorKind::Missing(what) => write!(f, "missing {what}"),
            ErrorKind::Serde(m) => write!(f, "{m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.located {
            write!(f, "{} at byte {}", self.0.kind, self.0.offset)
        } else {
            write!(f, "{}", self.0.kind)
        }
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::unlocated(ErrorKind::Serde(msg.to_string()))
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::unlocated(ErrorKind::Serde(msg.to_string()))
    }
}
