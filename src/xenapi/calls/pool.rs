//! `pool.*` calls: the pool record, naming, join/eject, master handover and emergency calls.

use std::collections::BTreeMap;

use xenpool_xapi_types::Ref;

use super::{r, s};
use crate::xenapi::credentials::Credentials;
use crate::xenapi::error::{Result, XenApiError};
use crate::xenapi::records::PoolRecord;
use crate::xenapi::session::Session;

impl Session {
    /// `pool.get_all`: always exactly one pool.
    pub async fn pool_get_all(&self) -> Result<Vec<Ref>> {
        self.call_as("pool.get_all", vec![]).await
    }

    /// `pool.get_all_records`: pool ref → record (one entry).
    pub async fn pool_get_all_records(&self) -> Result<BTreeMap<Ref, PoolRecord>> {
        self.call_as("pool.get_all_records", vec![]).await
    }

    /// The one pool this host belongs to, from `pool.get_all_records` (a protocol error if the
    /// server lists none or several, which XAPI never does).
    pub async fn pool_current(&self) -> Result<(Ref, PoolRecord)> {
        let pools = self.pool_get_all_records().await?;
        let count = pools.len();
        let mut pools = pools.into_iter();
        match (pools.next(), count) {
            (Some(pool), 1) => Ok(pool),
            _ => Err(XenApiError::Protocol {
                method: "pool.get_all_records".into(),
                host_url: self.url().to_string(),
                message: format!("expected exactly one pool, the server listed {count}"),
            }),
        }
    }

    /// `pool.get_record`.
    pub async fn pool_get_record(&self, pool: &Ref) -> Result<PoolRecord> {
        self.call_as("pool.get_record", vec![r(pool)]).await
    }

    /// `pool.get_master`: the master host.
    pub async fn pool_get_master(&self, pool: &Ref) -> Result<Ref> {
        self.call_as("pool.get_master", vec![r(pool)]).await
    }

    /// `pool.set_name_label`.
    pub async fn pool_set_name_label(&self, pool: &Ref, name: &str) -> Result<()> {
        self.call_void("pool.set_name_label", vec![r(pool), s(name)])
            .await
    }

    /// `pool.join(master_address, user, password)`, called on the joining (standalone) host.
    pub async fn pool_join(&self, master_address: &str, master: &Credentials) -> Result<()> {
        self.join("pool.join", master_address, master).await
    }

    /// `pool.join_force`: as `pool.join`, skipping only the software-version and CPU-vendor checks.
    pub async fn pool_join_force(&self, master_address: &str, master: &Credentials) -> Result<()> {
        self.join("pool.join_force", master_address, master).await
    }

    async fn join(&self, method: &str, master_address: &str, master: &Credentials) -> Result<()> {
        let password = master.password.expose();
        self.call_void(
            method,
            vec![s(master_address), s(&master.username), s(password)],
        )
        .await
        .map_err(|e| e.redact(password))
    }

    /// `pool.eject(host)`, called on the master. The ejected host is wiped and reboots.
    pub async fn pool_eject(&self, host: &Ref) -> Result<()> {
        self.call_void("pool.eject", vec![r(host)]).await
    }

    /// `pool.designate_new_master(host)`, called on the current master. The reply may be lost
    /// (the old master restarts) and every session dies afterwards.
    pub async fn pool_designate_new_master(&self, host: &Ref) -> Result<()> {
        self.call_void("pool.designate_new_master", vec![r(host)])
            .await
    }

    /// `pool.emergency_transition_to_master`, on a member whose master is dead (use a
    /// slave-local session).
    pub async fn pool_emergency_transition_to_master(&self) -> Result<()> {
        self.call_void("pool.emergency_transition_to_master", vec![])
            .await
    }

    /// `pool.recover_slaves`, on the new master: the hosts that accepted it (others are skipped
    /// silently by XAPI).
    pub async fn pool_recover_slaves(&self) -> Result<Vec<Ref>> {
        self.call_as("pool.recover_slaves", vec![]).await
    }

    /// `pool.emergency_reset_master(master_address)`: re-points a member at a new master.
    pub async fn pool_emergency_reset_master(&self, master_address: &str) -> Result<()> {
        self.call_void("pool.emergency_reset_master", vec![s(master_address)])
            .await
    }
}
