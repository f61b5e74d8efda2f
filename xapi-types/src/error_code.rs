//! XAPI error codes: the first string of a `Failure`'s `ErrorDescription`.

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// An XAPI error code as sent on the wire. Codes xenpool does not know are kept verbatim
        /// in [`ErrorCode::Other`], so nothing the server says is lost.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// Any code not listed above, verbatim.
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, in declaration order.
            pub const KNOWN: &'static [ErrorCode] = &[$( ErrorCode::$variant, )*];

            /// The wire string of this code.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorCode::$variant => $wire, )*
                    ErrorCode::Other(code) => code,
                }
            }

            /// Maps a wire string to its code; unknown strings become [`ErrorCode::Other`].
            pub fn from_wire(code: &str) -> ErrorCode {
                match code {
                    $( $wire => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// `[uname, msg]`: wrong user name or password.
    SESSION_AUTHENTICATION_FAILED = "SESSION_AUTHENTICATION_FAILED",
    /// `[session_ref]`: the session is unknown (expired, or the master restarted / moved).
    SESSION_INVALID = "SESSION_INVALID",
    /// `[master_address]`: this host is a pool member; talk to the master at that bare address.
    HOST_IS_SLAVE = "HOST_IS_SLAVE",
    /// `[class, ref]`: the reference names no object of that class.
    HANDLE_INVALID = "HANDLE_INVALID",
    /// `[class, uuid]`: `get_by_uuid` found nothing.
    UUID_INVALID = "UUID_INVALID",
    /// `[method, expected, received]` (counts exclude the session).
    MESSAGE_PARAMETER_COUNT_MISMATCH = "MESSAGE_PARAMETER_COUNT_MISMATCH",
    /// `[method]`
    MESSAGE_METHOD_UNKNOWN = "MESSAGE_METHOD_UNKNOWN",
    /// `[msg]`, e.g. `Xapi_pool.Cannot_eject_master`.
    INTERNAL_ERROR = "INTERNAL_ERROR",
    /// `[reason]`
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED",
    /// `[class, ref(, op, task)]`
    OTHER_OPERATION_IN_PROGRESS = "OTHER_OPERATION_IN_PROGRESS",
    /// `[permission, message]`
    RBAC_PERMISSION_DENIED = "RBAC_PERMISSION_DENIED",
    /// `[]`
    HA_IS_ENABLED = "HA_IS_ENABLED",
    /// `[reason]`: HA refused the new master (a recent different proposal).
    HA_ABORT_NEW_MASTER = "HA_ABORT_NEW_MASTER",
    /// `[]` or `["Pool_size"]`
    LICENCE_RESTRICTION = "LICENCE_RESTRICTION",
    /// `[msgs…]`
    LICENSE_HOST_POOL_MISMATCH = "LICENSE_HOST_POOL_MISMATCH",
    /// `[]`
    HOST_STILL_BOOTING = "HOST_STILL_BOOTING",
    /// `[cluster_host_ref]`
    CLUSTERING_ENABLED = "CLUSTERING_ENABLED",
    /// `[]`
    JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS = "JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS",
    /// `[]`
    JOINING_HOST_CANNOT_HAVE_RUNNING_VMS = "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS",
    /// `[]` (older XAPI releases)
    JOINING_HOST_CANNOT_HAVE_RUNNING_OR_SUSPENDED_VMS = "JOINING_HOST_CANNOT_HAVE_RUNNING_OR_SUSPENDED_VMS",
    /// `[]`
    JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS = "JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS",
    /// `[]`
    JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS = "JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS",
    /// `[]`: the master reset the connection during the join.
    JOINING_HOST_CONNECTION_FAILED = "JOINING_HOST_CONNECTION_FAILED",
    /// `[]`: the master's HTTP service rejected the join.
    JOINING_HOST_SERVICE_FAILED = "JOINING_HOST_SERVICE_FAILED",
    /// `[host_ref]`
    HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY = "HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY",
    /// `[]`
    HOSTS_NOT_COMPATIBLE = "HOSTS_NOT_COMPATIBLE",
    /// `[reason]`: "Software version differs", "CPUs differ", "Updates on … differ".
    HOSTS_NOT_HOMOGENEOUS = "HOSTS_NOT_HOMOGENEOUS",
    /// `[]`
    POOL_JOINING_HOST_HAS_BONDS = "POOL_JOINING_HOST_HAS_BONDS",
    /// `[]`
    POOL_JOINING_HOST_HAS_TUNNELS = "POOL_JOINING_HOST_HAS_TUNNELS",
    /// `[]`
    POOL_JOINING_HOST_HAS_NETWORK_SRIOVS = "POOL_JOINING_HOST_HAS_NETWORK_SRIOVS",
    /// `[]`
    POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS = "POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS",
    /// `[local_tag, remote_tag]`
    POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH = "POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH",
    /// `[]`
    POOL_JOINING_EXTERNAL_AUTH_MISMATCH = "POOL_JOINING_EXTERNAL_AUTH_MISMATCH",
    /// `[joiner, master]`
    POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION = "POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION",
    /// `[joiner, master]`
    POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA = "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA",
    /// `[]`
    POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH = "POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH",
    /// `[master_uuid]`
    POOL_JOINING_MASTER_CERTIFICATE_NOT_IN_POOL_BUNDLE = "POOL_JOINING_MASTER_CERTIFICATE_NOT_IN_POOL_BUNDLE",
    /// `[pool_sm_ref, candidate_sm_ref]`
    POOL_JOINING_SM_FEATURES_INCOMPATIBLE = "POOL_JOINING_SM_FEATURES_INCOMPATIBLE",
    /// `[]`
    NOT_SUPPORTED_DURING_UPGRADE = "NOT_SUPPORTED_DURING_UPGRADE",
    /// `[]`
    DESIGNATE_NEW_MASTER_IN_PROGRESS = "DESIGNATE_NEW_MASTER_IN_PROGRESS",
    /// `[host_ref]`: a forwarded operation's host is not live.
    HOST_OFFLINE = "HOST_OFFLINE",
    /// `[host_ref]`: forwarding to the host failed.
    CANNOT_CONTACT_HOST = "CANNOT_CONTACT_HOST",
    /// `[host_ref]`
    HOST_DISABLED = "HOST_DISABLED",
    /// `[]`
    HOST_NOT_LIVE = "HOST_NOT_LIVE",
    /// `[needed, available]` (migrate) or `[vm]` (evacuate)
    HOST_NOT_ENOUGH_FREE_MEMORY = "HOST_NOT_ENOUGH_FREE_MEMORY",
    /// `[]`
    HOST_NOT_ENOUGH_PCPUS = "HOST_NOT_ENOUGH_PCPUS",
    /// `[]`: disabling or evacuating the host would break the HA failover plan.
    HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN = "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN",
    /// `[]`: `host.reboot` / `host.shutdown` need the host disabled first.
    HOST_NOT_DISABLED = "HOST_NOT_DISABLED",
    /// `[host_ref]`: the host stays disabled until it reboots.
    HOST_DISABLED_UNTIL_REBOOT = "HOST_DISABLED_UNTIL_REBOOT",
    /// `[vm, timeout]`: `VM.clean_shutdown` timed out.
    VM_SHUTDOWN_TIMEOUT = "VM_SHUTDOWN_TIMEOUT",
    /// `[]`: a pool-secret rotation is pending; pool operations are refused.
    POOL_SECRET_ROTATION_PENDING = "POOL_SECRET_ROTATION_PENDING",
    /// `["Class,param|Class,param"]`
    CANNOT_EVACUATE_HOST = "CANNOT_EVACUATE_HOST",
    /// `[vm]`
    NO_HOSTS_AVAILABLE = "NO_HOSTS_AVAILABLE",
    /// `[vm]`
    HOST_EVACUATE_VM_NOT_HA_PROTECTED = "HOST_EVACUATE_VM_NOT_HA_PROTECTED",
    /// `[vm, expected, actual]` (power states in lower case)
    VM_BAD_POWER_STATE = "VM_BAD_POWER_STATE",
    /// `[vm, sr]`
    VM_REQUIRES_SR = "VM_REQUIRES_SR",
    /// `[vm, network]`
    VM_REQUIRES_NETWORK = "VM_REQUIRES_NETWORK",
    /// `[vm]`
    VM_HAS_PCI_ATTACHED = "VM_HAS_PCI_ATTACHED",
    /// `[vm]`
    VM_HAS_VGPU = "VM_HAS_VGPU",
    /// `[vm]`
    VM_HAS_SRIOV_VIF = "VM_HAS_SRIOV_VIF",
    /// `[vm]`
    VM_LACKS_FEATURE = "VM_LACKS_FEATURE",
    /// `[vm]`
    VM_IS_IMMOBILE = "VM_IS_IMMOBILE",
    /// `[vm, host, reason]`
    VM_INCOMPATIBLE_WITH_THIS_HOST = "VM_INCOMPATIBLE_WITH_THIS_HOST",
    /// `[vm, reason]`
    OPERATION_BLOCKED = "OPERATION_BLOCKED",
    /// `[vm, source, dest, msg]` (`migrate_send` only)
    VM_MIGRATE_FAILED = "VM_MIGRATE_FAILED",
    /// `[token]`
    EVENT_FROM_TOKEN_PARSE_FAILURE = "EVENT_FROM_TOKEN_PARSE_FAILURE",
    /// `[session]`
    SESSION_NOT_REGISTERED = "SESSION_NOT_REGISTERED",
    /// `[]`
    EVENTS_LOST = "EVENTS_LOST",
    /// `[]`: the host cannot become master (emergency calls).
    HOST_CANNOT_BECOME_MASTER = "HOST_CANNOT_BECOME_MASTER",
    /// `[]`
    HOST_BROKEN = "HOST_BROKEN",
    /// `[]`
    HOST_HAS_NO_MANAGEMENT_IP = "HOST_HAS_NO_MANAGEMENT_IP",
    /// `[]`
    HOST_ITS_OWN_SLAVE = "HOST_ITS_OWN_SLAVE",
    /// `[ip]`
    HOST_MASTER_CANNOT_TALK_BACK = "HOST_MASTER_CANNOT_TALK_BACK",
    /// `[host_uuid]`
    HOST_UNKNOWN_TO_MASTER = "HOST_UNKNOWN_TO_MASTER",
    /// `[version]`
    HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR = "HOST_XAPI_VERSION_HIGHER_THAN_COORDINATOR",
    /// `[]`: the pool has no master (emergency).
    HOST_IS_LIVE = "HOST_IS_LIVE",
    /// `[task_ref]`: the task was cancelled.
    TASK_CANCELLED = "TASK_CANCELLED",
    /// `[reason]`: memory limits violate `static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max`.
    MEMORY_CONSTRAINT_VIOLATION = "MEMORY_CONSTRAINT_VIOLATION",
    /// `[param]`: a parameter had the wrong XML-RPC type.
    FIELD_TYPE_ERROR = "FIELD_TYPE_ERROR",
    /// `[class, field, ref, key]`: `add_to_<map>` with a key already present.
    MAP_DUPLICATE_KEY = "MAP_DUPLICATE_KEY",
    /// `[vm, operation]`
    VM_IS_TEMPLATE = "VM_IS_TEMPLATE",
    /// `[uname, msg]`: authenticated, but the (external) user has no role.
    SESSION_AUTHORIZATION_FAILED = "SESSION_AUTHORIZATION_FAILED",
}

impl ErrorCode {
    /// Whether this code is one of `pool.join`'s precondition failures: the joining host (or
    /// the target pool) is in a state that must be changed before the join can succeed.
    pub fn is_join_precheck(&self) -> bool {
        let code = self.as_str();
        code.starts_with("JOINING_HOST_")
            || code.starts_with("POOL_JOINING_")
            || matches!(
                self,
                ErrorCode::HOSTS_NOT_HOMOGENEOUS
                    | ErrorCode::HOSTS_NOT_COMPATIBLE
                    | ErrorCode::LICENCE_RESTRICTION
                    | ErrorCode::LICENSE_HOST_POOL_MISMATCH
                    | ErrorCode::HA_IS_ENABLED
                    | ErrorCode::CLUSTERING_ENABLED
                    | ErrorCode::HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY
            )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        ErrorCode::from_wire(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_through_its_wire_string() {
        for code in ErrorCode::KNOWN {
            assert_eq!(&ErrorCode::from_wire(code.as_str()), code);
        }
    }

    #[test]
    fn unknown_codes_are_kept_verbatim() {
        let code = ErrorCode::from_wire("SR_BACKEND_FAILURE_46");
        assert_eq!(code, ErrorCode::Other("SR_BACKEND_FAILURE_46".into()));
        assert_eq!(code.as_str(), "SR_BACKEND_FAILURE_46");
    }

    #[test]
    fn wire_strings_use_xapis_spellings() {
        assert_eq!(
            ErrorCode::LICENCE_RESTRICTION.as_str(),
            "LICENCE_RESTRICTION"
        );
        assert_eq!(
            ErrorCode::VM_REQUIRES_NETWORK.as_str(),
            "VM_REQUIRES_NETWORK"
        );
        assert!(ErrorCode::JOINING_HOST_CANNOT_HAVE_RUNNING_VMS.is_join_precheck());
        assert!(ErrorCode::HOSTS_NOT_HOMOGENEOUS.is_join_precheck());
        assert!(!ErrorCode::SESSION_INVALID.is_join_precheck());
    }
}
