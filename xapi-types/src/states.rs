//! Enums whose spellings the wire fixes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariant {
    /// The enum's XenAPI name, e.g. `vm_power_state`.
    pub enum_name: &'static str,
    /// The string received.
    pub value: String,
}

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.enum_name, self.value)
    }
}

impl std::error::Error for UnknownVariant {}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $xapi_name:literal, { $( $(#[$vdoc:meta])* $variant:ident = $wire:literal ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $wire)] $variant, )*
        }

        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )*];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $wire, )* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $wire => Ok($name::$variant), )*
                    other => Err(UnknownVariant { enum_name: $xapi_name, value: other.to_owned() }),
                }
            }
        }
    };
}

wire_enum!(
    /// `vm_power_state`. Errors such as `VM_BAD_POWER_STATE` carry these in lower case.
    PowerState, "vm_power_state", {
        /// Not running, no memory held.
        Halted = "Halted",
        /// Paused in memory.
        Paused = "Paused",
        /// Running.
        Running = "Running",
        /// Suspended to disk.
        Suspended = "Suspended",
    }
);

wire_enum!(
    /// `task_status_type`.
    TaskStatus, "task_status_type", {
        /// Still running.
        Pending = "pending",
        /// Finished; `result` holds the value.
        Success = "success",
        /// Finished; `error_info` holds the error.
        Failure = "failure",
        /// Being cancelled.
        Cancelling = "cancelling",
        /// Cancelled.
        Cancelled = "cancelled",
    }
);

wire_enum!(
    /// `event_operation`: what happened to the object an `event.from` record names.
    EventOperation, "event_operation", {
        /// The object was created (or already existed, for token `""`).
        Add = "add",
        /// The object was modified.
        Mod = "mod",
        /// The object was destroyed; the record has no snapshot.
        Del = "del",
    }
);

impl PowerState {
    /// The lower-case spelling used in error parameters (`VM_BAD_POWER_STATE [vm, "halted", "running"]`).
    pub fn as_error_param(self) -> &'static str {
        match self {
            PowerState::Halted => "halted",
            PowerState::Paused => "paused",
            PowerState::Running => "running",
            PowerState::Suspended => "suspended",
        }
    }
}

impl TaskStatus {
    /// Whether the task has finished (successfully or not).
    pub fn is_finished(self) -> bool {
        !matches!(self, TaskStatus::Pending | TaskStatus::Cancelling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_states_parse_from_their_wire_spelling_only() {
        for state in PowerState::ALL {
            assert_eq!(state.as_str().parse::<PowerState>(), Ok(*state));
        }
        let err = "running".parse::<PowerState>().unwrap_err();
        assert_eq!(err.to_string(), "unknown vm_power_state \"running\"");
        assert_eq!(PowerState::Running.as_error_param(), "running");
    }

    #[test]
    fn task_status_knows_when_it_is_finished() {
        assert!(!TaskStatus::Pending.is_finished());
        assert!(TaskStatus::Success.is_finished());
        assert!(TaskStatus::Cancelled.is_finished());
        assert_eq!("failure".parse::<TaskStatus>(), Ok(TaskStatus::Failure));
        assert_eq!("del".parse::<EventOperation>(), Ok(EventOperation::Del));
    }
}
