//! `host.*` and `host_metrics.*` calls: records, enable/disable, evacuation, other_config.

use std::collections::BTreeMap;

use tracing::warn;
use xenpool_xapi_types::{ErrorCode, Ref};
use xenpool_xmlrpc::Value;

use super::{r, s};
use crate::xenapi::error::Result;
use crate::xenapi::records::{HostMetricsRecord, HostRecord};
use crate::xenapi::session::Session;
use crate::xenapi::task::Task;

impl Session {
    /// `host.get_all`: every pool member, disabled and offline ones included.
    pub async fn host_get_all(&self) -> Result<Vec<Ref>> {
        self.call_as("host.get_all", vec![]).await
    }

    /// `host.get_all_records`: host ref → record.
    pub async fn host_get_all_records(&self) -> Result<BTreeMap<Ref, HostRecord>> {
        self.call_as("host.get_all_records", vec![]).await
    }

    /// `host.get_record`.
    pub async fn host_get_record(&self, host: &Ref) -> Result<HostRecord> {
        self.call_as("host.get_record", vec![r(host)]).await
    }

    /// `host.get_by_uuid` (`UUID_INVALID` if none).
    pub async fn host_get_by_uuid(&self, uuid: &str) -> Result<Ref> {
        self.call_as("host.get_by_uuid", vec![s(uuid)]).await
    }

    /// `host_metrics.get_record` (for a host's `metrics` ref).
    pub async fn host_metrics_get_record(&self, metrics: &Ref) -> Result<HostMetricsRecord> {
        self.call_as("host_metrics.get_record", vec![r(metrics)])
            .await
    }

    /// `host.compute_free_memory`: bytes free if resident VMs balloon down (what the migration
    /// memory check uses).
    pub async fn host_compute_free_memory(&self, host: &Ref) -> Result<i64> {
        self.call_as("host.compute_free_memory", vec![r(host)])
            .await
    }

    /// `host.disable(host[, auto_enable])`. `Some(false)` keeps it disabled across reboots
    /// (XAPI ≥ 25.31; older servers answer `MESSAGE_PARAMETER_COUNT_MISMATCH`); `None` sends
    /// the one-parameter form every version accepts.
    pub async fn host_disable(&self, host: &Ref, auto_enable: Option<bool>) -> Result<()> {
        let mut params = vec![r(host)];
        params.extend(auto_enable.map(Value::from));
        self.call_void("host.disable", params).await
    }

    /// Disables `host` so that it stays disabled across reboots where the server supports it:
    /// `host.disable(host, false)`, falling back to the one-parameter form on servers older
    /// than XAPI 25.31 (`MESSAGE_PARAMETER_COUNT_MISMATCH`). Returns whether the persistent
    /// form was accepted. XAPI persists nothing when the host is already disabled, so call
    /// this while it is enabled.
    pub async fn host_disable_persistent(&self, host: &Ref) -> Result<bool> {
        match self.host_disable(host, Some(false)).await {
            Ok(()) => Ok(true),
            Err(e) if e.is(&ErrorCode::MESSAGE_PARAMETER_COUNT_MISMATCH) => {
                warn!(host = %host, "host.disable without auto_enable: this XAPI cannot keep the host disabled across reboots");
                self.host_disable(host, None).await.map(|()| false)
            }
            Err(e) => Err(e),
        }
    }

    /// `host.enable`.
    pub async fn host_enable(&self, host: &Ref) -> Result<()> {
        self.call_void("host.enable", vec![r(host)]).await
    }

    /// `host.evacuate`: migrates every resident VM away (does not disable the host).
    pub async fn host_evacuate(&self, host: &Ref) -> Result<()> {
        self.call_void("host.evacuate", vec![r(host)]).await
    }

    /// `Async.host.evacuate`: the task to wait for with [`Session::wait_task`].
    pub async fn host_evacuate_async(&self, host: &Ref) -> Result<Task> {
        self.call_async("host.evacuate", vec![r(host)]).await
    }

    /// `host.get_vms_which_prevent_evacuation`: VM ref → `[CODE, params…]`; empty = evacuable.
    pub async fn host_get_vms_which_prevent_evacuation(
        &self,
        host: &Ref,
    ) -> Result<BTreeMap<Ref, Vec<String>>> {
        self.call_as("host.get_vms_which_prevent_evacuation", vec![r(host)])
            .await
    }

    /// `host.add_to_other_config(host, key, value)` (`MAP_DUPLICATE_KEY` if the key exists).
    pub async fn host_add_to_other_config(&self, host: &Ref, key: &str, value: &str) -> Result<()> {
        self.call_void("host.add_to_other_config", vec![r(host), s(key), s(value)])
            .await
    }

    /// `host.remove_from_other_config(host, key)` (no error if absent).
    pub async fn host_remove_from_other_config(&self, host: &Ref, key: &str) -> Result<()> {
        self.call_void("host.remove_from_other_config", vec![r(host), s(key)])
            .await
    }
}
