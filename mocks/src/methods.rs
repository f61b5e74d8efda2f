//! The method table: every wire name the mock answers, its arity (session excluded), whether
//! it needs a session, whether it has an `Async.` variant, and its handler.

use std::future::Future;
use std::pin::Pin;

use xenpool_xmlrpc::Value;

use crate::call::{Call, SessionNeed};
use crate::shared::Shared;
use crate::state::{HostId, XResult};
use crate::{event, host, objects, pool, session, task, vm};

/// A handler's future.
pub type BoxFut = Pin<Box<dyn Future<Output = XResult<Value>> + Send>>;

/// A method body.
pub type Handler = fn(Call) -> BoxFut;

/// One API method.
#[derive(Debug)]
pub struct Method {
    /// Wire name.
    pub name: &'static str,
    /// Required parameters after the session.
    pub required: usize,
    /// Trailing optional parameters.
    optional: usize,
    /// Session requirement.
    pub need: SessionNeed,
    /// Has an `Async.` variant.
    pub asyncable: bool,
    /// The body.
    pub handler: Handler,
}

impl Method {
    /// Optional parameters this host accepts: `host.disable`'s `auto_enable` only on hosts
    /// whose XAPI has it (xapi ≥ 25.31; older ones answer `MESSAGE_PARAMETER_COUNT_MISMATCH`).
    pub fn optional(&self, shared: &Shared, h: HostId) -> usize {
        if self.name == "host.disable" && !shared.lock().hosts[h].knobs.supports_auto_enable {
            return 0;
        }
        self.optional
    }
}

macro_rules! m {
    ($name:literal, $req:expr, $opt:expr, $need:ident, $async:expr, $f:path) => {
        Method {
            name: $name,
            required: $req,
            optional: $opt,
            need: SessionNeed::$need,
            asyncable: $async,
            handler: |c| Box::pin($f(c)),
        }
    };
}

/// Every explicit method.
static METHODS: &[Method] = &[
    m!(
        "session.login_with_password",
        2,
        2,
        Login,
        false,
        session::login_with_password
    ),
    m!(
        "session.slave_local_login_with_password",
        2,
        0,
        LocalLogin,
        false,
        session::slave_local_login
    ),
    m!("session.logout", 0, 0, Session, false, session::logout),
    m!(
        "session.local_logout",
        0,
        0,
        Emergency,
        false,
        session::logout
    ),
    m!(
        "session.get_this_host",
        1,
        0,
        Emergency,
        false,
        session::get_this_host
    ),
    m!("pool.get_all", 0, 0, Session, false, objects::get_all),
    m!(
        "pool.get_all_records",
        0,
        0,
        Session,
        false,
        objects::get_all_records
    ),
    m!("pool.get_record", 1, 0, Session, false, objects::get_record),
    m!(
        "pool.get_by_uuid",
        1,
        0,
        Session,
        false,
        objects::get_by_uuid
    ),
    m!(
        "pool.set_name_label",
        2,
        0,
        Session,
        false,
        objects::set_name_label
    ),
    m!(
        "pool.set_other_config",
        2,
        0,
        Session,
        false,
        objects::set_other_config
    ),
    m!(
        "pool.add_to_other_config",
        3,
        0,
        Session,
        false,
        objects::add_to_other_config
    ),
    m!(
        "pool.remove_from_other_config",
        2,
        0,
        Session,
        false,
        objects::remove_from_other_config
    ),
    m!("pool.join", 3, 0, Session, true, pool::join),
    m!("pool.join_force", 3, 0, Session, true, pool::join_force),
    m!("pool.eject", 1, 0, Session, true, pool::eject),
    m!(
        "pool.designate_new_master",
        1,
        0,
        Session,
        true,
        pool::designate_new_master
    ),
    m!(
        "pool.emergency_transition_to_master",
        0,
        0,
        Emergency,
        false,
        pool::emergency_transition_to_master
    ),
    m!(
        "pool.recover_slaves",
        0,
        0,
        Session,
        true,
        pool::recover_slaves
    ),
    m!(
        "pool.emergency_reset_master",
        1,
        0,
        Emergency,
        false,
        pool::emergency_reset_master
    ),
    m!("host.get_all", 0, 0, Session, false, objects::get_all),
    m!(
        "host.get_all_records",
        0,
        0,
        Session,
        false,
        objects::get_all_records
    ),
    m!("host.get_record", 1, 0, Session, false, objects::get_record),
    m!(
        "host.get_by_uuid",
        1,
        0,
        Session,
        false,
        objects::get_by_uuid
    ),
    m!(
        "host.get_by_name_label",
        1,
        0,
        Session,
        false,
        objects::get_by_name_label
    ),
    m!(
        "host.set_name_label",
        2,
        0,
        Session,
        false,
        objects::set_name_label
    ),
    m!(
        "host.set_other_config",
        2,
        0,
        Session,
        false,
        objects::set_other_config
    ),
    m!(
        "host.add_to_other_config",
        3,
        0,
        Session,
        false,
        objects::add_to_other_config
    ),
    m!(
        "host.remove_from_other_config",
        2,
        0,
        Session,
        false,
        objects::remove_from_other_config
    ),
    m!(
        "host.compute_free_memory",
        1,
        0,
        Session,
        true,
        host::compute_free_memory
    ),
    m!("host.disable", 1, 1, Session, true, host::disable),
    m!("host.enable", 1, 0, Session, true, host::enable),
    m!("host.evacuate", 1, 2, Session, true, host::evacuate),
    m!(
        "host.get_vms_which_prevent_evacuation",
        1,
        0,
        Session,
        true,
        host::get_vms_which_prevent_evacuation
    ),
    m!(
        "host.assert_can_evacuate",
        1,
        0,
        Session,
        true,
        host::assert_can_evacuate
    ),
    m!(
        "host.is_in_emergency_mode",
        0,
        0,
        Emergency,
        false,
        host::is_in_emergency_mode
    ),
    m!(
        "host_metrics.get_all",
        0,
        0,
        Session,
        false,
        objects::get_all
    ),
    m!(
        "host_metrics.get_record",
        1,
        0,
        Session,
        false,
        objects::get_record
    ),
    m!("SR.get_all", 0, 0, Session, false, objects::get_all),
    m!(
        "SR.get_all_records",
        0,
        0,
        Session,
        false,
        objects::get_all_records
    ),
    m!("SR.get_record", 1, 0, Session, false, objects::get_record),
    m!("VM.get_all", 0, 0, Session, false, objects::get_all),
    m!(
        "VM.get_all_records",
        0,
        0,
        Session,
        false,
        objects::get_all_records
    ),
    m!("VM.get_record", 1, 0, Session, false, objects::get_record),
    m!("VM.get_by_uuid", 1, 0, Session, false, objects::get_by_uuid),
    m!(
        "VM.get_by_name_label",
        1,
        0,
        Session,
        false,
        objects::get_by_name_label
    ),
    m!(
        "VM.set_name_label",
        2,
        0,
        Session,
        false,
        objects::set_name_label
    ),
    m!(
        "VM.set_other_config",
        2,
        0,
        Session,
        false,
        objects::set_other_config
    ),
    m!(
        "VM.add_to_other_config",
        3,
        0,
        Session,
        false,
        objects::add_to_other_config
    ),
    m!(
        "VM.remove_from_other_config",
        2,
        0,
        Session,
        false,
        objects::remove_from_other_config
    ),
    m!("VM.pool_migrate", 3, 0, Session, true, vm::pool_migrate),
    m!(
        "VM.assert_can_boot_here",
        2,
        0,
        Session,
        true,
        vm::assert_can_boot_here
    ),
    m!(
        "VM.assert_can_migrate",
        6,
        1,
        Session,
        true,
        vm::assert_can_migrate
    ),
    m!("VM.start", 3, 0, Session, true, vm::start),
    m!("VM.start_on", 4, 0, Session, true, vm::start_on),
    m!("VM.clean_shutdown", 1, 0, Session, true, vm::clean_shutdown),
    m!("VM.hard_shutdown", 1, 0, Session, true, vm::hard_shutdown),
    m!(
        "VM.set_memory_limits",
        5,
        0,
        Session,
        true,
        vm::set_memory_limits
    ),
    m!("task.get_all", 0, 0, Session, false, objects::get_all),
    m!(
        "task.get_all_records",
        0,
        0,
        Session,
        false,
        objects::get_all_records
    ),
    m!("task.get_record", 1, 0, Session, false, objects::get_record),
    m!(
        "task.get_by_uuid",
        1,
        0,
        Session,
        false,
        objects::get_by_uuid
    ),
    m!("task.destroy", 1, 0, Session, false, task::destroy),
    m!("event.from", 3, 0, Session, false, event::from),
];

/// Field getters (`VM.get_power_state`, `host.get_address`, …) share this entry.
static GETTER: Method = m!(
    "<class>.get_<field>",
    1,
    0,
    Session,
    false,
    objects::get_field
);

/// Finds a wire name's method; the bool says whether it is the `Async.` variant.
pub fn lookup(shared: &Shared, name: &str) -> Option<(&'static Method, bool)> {
    let (bare, is_async) = match name.strip_prefix("Async.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let method = METHODS.iter().find(|m| m.name == bare);
    match method {
        Some(m) if !is_async || m.asyncable => Some((m, is_async)),
        Some(_) => None,
        None if !is_async && objects::is_field_getter(shared, bare) => Some((&GETTER, false)),
        None => None,
    }
}
