//! `VM.*` calls: records, intra-pool migration, power operations, other_config.

use std::collections::BTreeMap;

use xenpool_xapi_types::Ref;
use xenpool_xmlrpc::Value;

use super::{map, r, s};
use crate::xenapi::error::Result;
use crate::xenapi::records::VmRecord;
use crate::xenapi::session::Session;
use crate::xenapi::task::Task;

impl Session {
    /// `VM.get_all_records`: templates, snapshots and control domains included (see
    /// [`VmRecord::is_guest`]).
    pub async fn vm_get_all_records(&self) -> Result<BTreeMap<Ref, VmRecord>> {
        self.call_as("VM.get_all_records", vec![]).await
    }

    /// `VM.get_record`.
    pub async fn vm_get_record(&self, vm: &Ref) -> Result<VmRecord> {
        self.call_as("VM.get_record", vec![r(vm)]).await
    }

    /// `VM.get_by_uuid` (`UUID_INVALID` if none).
    pub async fn vm_get_by_uuid(&self, uuid: &str) -> Result<Ref> {
        self.call_as("VM.get_by_uuid", vec![s(uuid)]).await
    }

    /// `VM.pool_migrate(vm, host, options)`: live migration inside the pool. Options are
    /// XAPI's string map (`live`, `force`, `compress`, `network`).
    pub async fn vm_pool_migrate(
        &self,
        vm: &Ref,
        host: &Ref,
        options: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.call_void("VM.pool_migrate", vec![r(vm), r(host), map(options)])
            .await
    }

    /// `Async.VM.pool_migrate`: the task to wait for with [`Session::wait_task`].
    pub async fn vm_pool_migrate_async(
        &self,
        vm: &Ref,
        host: &Ref,
        options: &BTreeMap<String, String>,
    ) -> Result<Task> {
        self.call_async("VM.pool_migrate", vec![r(vm), r(host), map(options)])
            .await
    }

    /// `VM.assert_can_boot_here(vm, host)`: the target-side checks `pool_migrate` runs (SRs,
    /// networks, memory, host enabled and live), without moving anything. XAPI's
    /// `VM.assert_can_migrate` is for cross-pool `migrate_send` and does not apply inside a pool.
    pub async fn vm_assert_can_boot_here(&self, vm: &Ref, host: &Ref) -> Result<()> {
        self.call_void("VM.assert_can_boot_here", vec![r(vm), r(host)])
            .await
    }

    /// `VM.add_to_other_config(vm, key, value)` (`MAP_DUPLICATE_KEY` if the key exists).
    pub async fn vm_add_to_other_config(&self, vm: &Ref, key: &str, value: &str) -> Result<()> {
        self.call_void("VM.add_to_other_config", vec![r(vm), s(key), s(value)])
            .await
    }

    /// `VM.remove_from_other_config(vm, key)` (no error if absent).
    pub async fn vm_remove_from_other_config(&self, vm: &Ref, key: &str) -> Result<()> {
        self.call_void("VM.remove_from_other_config", vec![r(vm), s(key)])
            .await
    }

    /// `VM.start(vm, start_paused, force)`.
    pub async fn vm_start(&self, vm: &Ref, start_paused: bool, force: bool) -> Result<()> {
        self.call_void(
            "VM.start",
            vec![r(vm), Value::from(start_paused), Value::from(force)],
        )
        .await
    }

    /// `VM.clean_shutdown`: asks the guest to shut down.
    pub async fn vm_clean_shutdown(&self, vm: &Ref) -> Result<()> {
        self.call_void("VM.clean_shutdown", vec![r(vm)]).await
    }

    /// `VM.hard_shutdown`: powers the VM off.
    pub async fn vm_hard_shutdown(&self, vm: &Ref) -> Result<()> {
        self.call_void("VM.hard_shutdown", vec![r(vm)]).await
    }
}
