//! The agent's side: its desired state in one snapshot, and its status reports.

use std::collections::BTreeMap;

use serde_json::json;

use super::aggregates::{apply_metadata, edit, load as load_aggregates};
use super::batch::{Arg, Draft};
use super::hosts::{load_named as load_hosts, load_one as load_host};
use super::operations::open_for_host;
use super::{
    AggRef, Desired, HostPoolState, NewEvent, PoolStatus, PoolView, Report, Result, Store,
    StoreError,
};

/// Metadata keys (besides member host names) an agent may report.
const STATUS_KEYS: [&str; 2] = ["operational_state", "master_compute"];
/// The metadata key that makes an aggregate a XenServer pool.
pub const POOL_KEY: &str = "hypervisor_pool";

impl Store {
    /// Everything `host`'s agent needs for one reconcile pass, read in one snapshot.
    #[tracing::instrument(skip_all, fields(host = %host))]
    pub async fn desired(&self, host: &str) -> Result<Desired> {
        let mut tx = self.read().await?;
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let me = load_host(&mut tx, host).await?;
        // The aggregates as of this read's revision: from the snapshot cache when it holds that
        // revision (the same committed state), else loaded.
        let all: Vec<std::sync::Arc<super::Aggregate>> = match self.snapshots().at(revision) {
            Some(snap) => snap.aggregates.values().cloned().collect(),
            None => load_aggregates(&mut tx)
                .await?
                .into_iter()
                .map(std::sync::Arc::new)
                .collect(),
        };
        let aggregates: Vec<super::Aggregate> = all
            .iter()
            .filter(|a| a.hosts.iter().any(|h| h == host))
            .map(|a| super::Aggregate::clone(a))
            .collect();
        // Only the pools' members, not every registered host.
        let mut members: Vec<&str> = aggregates
            .iter()
            .filter(|a| a.metadata.contains_key(POOL_KEY))
            .flat_map(|a| a.hosts.iter().map(String::as_str))
            .collect();
        members.sort_unstable();
        members.dedup();
        let all_hosts = load_hosts(&mut tx, &members).await?;
        let pools = aggregates
            .iter()
            .filter(|a| a.metadata.contains_key(POOL_KEY))
            .map(|a| PoolView {
                aggregate: a.clone(),
                members: a
                    .hosts
                    .iter()
                    .filter_map(|m| all_hosts.iter().find(|h| &h.name == m).cloned())
                    .collect(),
            })
            .collect();
        let operations = open_for_host(&mut tx, host).await?;
        tx.commit().await?;
        Ok(Desired {
            revision,
            host: me,
            aggregates,
            pools,
            operations,
        })
    }

    /// Records `host`'s report about aggregate `r`: pool state, status metadata, its own state
    /// and step, and the last error.
    #[tracing::instrument(skip_all, fields(host = %host, aggregate = %r, actor = %actor))]
    pub async fn report(&self, actor: &str, host: &str, r: &AggRef, report: &Report) -> Result<()> {
        if let Some(s) = &report.operational_state {
            if !super::OPERATIONAL_STATES.contains(&s.as_str()) {
                return Err(StoreError::invalid(
                    "operational_state",
                    format!(
                        "{s:?} is not a pool state; use created, changing, active, error or dismissed"
                    ),
                ));
            }
        }
        let (host, r, report) = (host.to_string(), r.clone(), report.clone());
        self.change(actor, move |d| {
            let agg = d.state.find_member(&r, &host)?.clone();
            let id = agg.id;
            let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
            for (k, v) in &report.metadata {
                let member = agg.hosts.contains(k);
                let allowed = STATUS_KEYS.contains(&k.as_str())
                    || member
                    || (v.is_none() && d.state.hosts.contains(k));
                if !allowed {
                    return Err(StoreError::invalid(
                        &format!("metadata.{k}"),
                        format!(
                            "an agent may only report operational_state, master_compute and member \
                             host keys of aggregate {}; {k:?} is none of them",
                            agg.name
                        ),
                    ));
                }
                changes.insert(k.clone(), v.clone());
            }
            if let Some(s) = &report.operational_state {
                changes.insert("operational_state".to_string(), Some(s.clone()));
            }
            if !changes.is_empty() {
                apply_metadata(d, id, &changes, super::ZoneRules::Native)?;
            }
            record_status(d, id, &host, &report);
            d.event(NewEvent {
                kind: "agent.report",
                aggregate: Some(&agg.name),
                host: Some(&host),
                message: format!(
                    "host {host} reported on aggregate {}{}",
                    agg.name,
                    report
                        .operational_state
                        .as_deref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
                details: json!({
                    "operational_state": report.operational_state,
                    "metadata": report.metadata,
                    "host_state": report.host_state.as_ref().map(|(s, st)| json!({"state": s, "step": st})),
                    "error": report.error,
                }),
            });
            Ok(())
        })
        .await
    }
}

/// Upserts the pool's status row (state kept when not reported, error replaced only when
/// reported) and `host`'s own state and step.
fn record_status(d: &mut Draft<'_>, id: i64, host: &str, report: &Report) {
    let now = d.now;
    let error_text = report
        .error
        .as_ref()
        .and_then(|e| e.as_ref().map(|v| v.to_string()));
    d.exec(
        "INSERT INTO pool_status (aggregate_id, operational_state, error, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (aggregate_id) DO UPDATE SET \
         operational_state = COALESCE(excluded.operational_state, pool_status.operational_state), \
         error = CASE WHEN $5 = 1 THEN excluded.error ELSE pool_status.error END, \
         updated_at = excluded.updated_at",
        vec![
            id.into(),
            report.operational_state.as_deref().into(),
            error_text.as_deref().into(),
            now.into(),
            Arg::Int(i64::from(report.error.is_some())),
        ],
    );
    if let Some((state, step)) = &report.host_state {
        d.exec(
            "INSERT INTO pool_host_status (aggregate_id, host, state, step, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (aggregate_id, host) DO UPDATE SET \
             state = excluded.state, step = excluded.step, updated_at = excluded.updated_at",
            vec![
                id.into(),
                host.into(),
                state.as_deref().into(),
                step.as_deref().into(),
                now.into(),
            ],
        );
    }
    d.state.pool_rows.insert(id);
    let status = edit(d.state, id).status.get_or_insert_with(|| PoolStatus {
        operational_state: None,
        error: None,
        hosts: BTreeMap::new(),
        updated_at: now,
    });
    if let Some(s) = &report.operational_state {
        status.operational_state = Some(s.clone());
    }
    if let Some(e) = &report.error {
        status.error = e.clone();
    }
    status.updated_at = now;
    if let Some((state, step)) = &report.host_state {
        status.hosts.insert(
            host.to_string(),
            HostPoolState {
                state: state.clone(),
                step: step.clone(),
                updated_at: now,
            },
        );
    }
}
