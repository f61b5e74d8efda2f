//! Calls, responses, faults and the decode limits.

use crate::value::Value;

/// A decoded `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// `<methodName>` text.
    pub name: String,
    /// The `<param>` values in order.
    pub params: Vec<Value>,
}

/// An XML-RPC <fault> (XAPI never sends these for API errors; other servers do).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// `faultCode`.
    pub code: i32,
    /// `faultString`.
    pub string: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XML-RPC fault {}: {}", self.code, self.string)
    }
}

/// A decoded `<methodResponse>`: one value or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// `<params><param><value>…`.
    Success(Value),
    /// `<fault>…`.
    Fault(Fault),
}

/// Hard limits applied while decoding. Defaults are safe for XAPI responses of 10 000 VMs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted input (default 256 MiB).
    pub max_document_bytes: usize,
    /// Deepest value nesting; a top-level scalar is depth 1 (default 64). Decoding recurses
    /// once per level, so this also bounds stack use: keep it in the hundreds, not millions.
    pub max_depth: usize,
    /// Longest text node after unescaping (default 16 MiB).
    pub max_string_bytes: usize,
    /// Most members of one struct / items of one array (default 1 000 000).
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 256 << 20,
            max_depth: 64,
            max_string_bytes: 16 << 20,
            max_members: 1_000_000,
        }
    }
}
