//! XenAPI wire vocabulary shared by xenpool's XenAPI client and the mock XenServer.
//!
//! Only names that the wire fixes: error codes exactly as XAPI sends them
//! (`ocaml/xapi-consts/api_errors.ml`), object references, and the enums whose spellings are
//! part of the protocol. No behaviour lives here: the client decides what an error means, the
//! mock decides when to raise it, so neither can hide the other's mistakes.

mod error_code;
mod refs;
mod states;

pub use error_code::ErrorCode;
pub use refs::{Ref, NULL_REF, REF_PREFIX};
pub use states::{EventOperation, PowerState, TaskStatus, UnknownVariant};

/// The XenAPI version xenpool speaks and the mock reports (`host.API_version_major/minor`).
pub const API_VERSION: (u32, u32) = (2, 21);
