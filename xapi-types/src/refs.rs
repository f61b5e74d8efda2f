//! Object references: opaque strings issued by the server, `OpaqueRef:<uuid>` in practice.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The prefix XAPI puts on every reference.
pub const REF_PREFIX: &str = "OpaqueRef:";

/// The null reference (an unset `t ref` field).
pub const NULL_REF: &str = "OpaqueRef:NULL";

/// A XenAPI object reference. Opaque: only meaningful to the server that issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ref(pub String);

impl Ref {
    /// The null reference.
    pub fn null() -> Ref {
        Ref(NULL_REF.to_owned())
    }

    /// Whether this is `OpaqueRef:NULL` (or empty, which some fields use for "unset").
    pub fn is_null(&self) -> bool {
        self.0 == NULL_REF || self.0.is_empty()
    }

    /// The reference as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The default reference is the null reference, so records missing a `t ref` field read as unset.
impl Default for Ref {
    fn default() -> Self {
        Ref::null()
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Ref {
    fn from(s: &str) -> Self {
        Ref(s.to_owned())
    }
}

impl From<String> for Ref {
    fn from(s: String) -> Self {
        Ref(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_refs_are_recognised() {
        assert!(Ref::null().is_null());
        assert!(Ref::from("").is_null());
        assert!(!Ref::from("OpaqueRef:6a0c2f4e-0000-0000-0000-000000000000").is_null());
        assert!(Ref::default().is_null());
    }
}
