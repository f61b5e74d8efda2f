//! Operations: maintenance requests recorded as intent, carried out and reported by agents.

use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::{
    flag, op_state_is_terminal, NewEvent, Operation, OperationFilter, OperationPatch, Result,
    Store, StoreError, OP_STATES,
};

impl Store {
    /// Records a maintenance request for `host`: sets the intent, supersedes the host's pending
    /// or running maintenance operation and creates a new one. `dry_run` creates a `plan`
    /// operation instead and changes nothing else.
    #[tracing::instrument(skip_all, fields(host = %host, enabled = enabled, dry_run = dry_run, actor = %actor))]
    pub async fn request_maintenance(
        &self,
        actor: &str,
        host: &str,
        enabled: bool,
        dry_run: bool,
    ) -> Result<Operation> {
        let mut w = self.write(actor).await?;
        super::aggregates::require_registered(w.conn(), host).await?;
        let kind = match (dry_run, enabled) {
            (true, _) => "plan",
            (false, true) => "maintenance_enable",
            (false, false) => "maintenance_disable",
        };
        let now = w.now;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operations (kind, host, state, progress, dry_run, requested_by, created_at, updated_at) \
             VALUES ($1, $2, 'pending', 0, $3, $4, $5, $5) RETURNING id",
        )
        .bind(kind)
        .bind(host)
        .bind(i64::from(dry_run))
        .bind(w.actor)
        .bind(now)
        .fetch_one(w.conn())
        .await?;
        if !dry_run {
            sqlx::query("UPDATE hosts SET maintenance = $1, updated_at = $2 WHERE name = $3")
                .bind(i64::from(enabled))
                .bind(now)
                .bind(host)
                .execute(w.conn())
                .await?;
            let superseded: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM operations WHERE host = $1 AND id <> $2 AND kind <> 'plan' \
                 AND state IN ('pending', 'running') ORDER BY id",
            )
            .bind(host)
            .bind(id)
            .fetch_all(w.conn())
            .await?;
            for old in &superseded {
                sqlx::query(
                    "UPDATE operations SET state = 'superseded', superseded_by = $1, updated_at = $2, \
                     finished_at = $2 WHERE id = $3",
                )
                .bind(id)
                .bind(now)
                .bind(*old)
                .execute(w.conn())
                .await?;
                w.event(NewEvent {
                    kind: "operation.superseded",
                    aggregate: None,
                    host: Some(host),
                    message: format!("operation {old} on host {host} superseded by operation {id}"),
                    details: json!({"operation": old, "superseded_by": id}),
                })
                .await?;
            }
            w.event(NewEvent {
                kind: "host.maintenance_requested",
                aggregate: None,
                host: Some(host),
                message: format!(
                    "maintenance {} requested for host {host}",
                    if enabled { "enable" } else { "disable" }
                ),
                details: json!({"enabled": enabled, "operation": id}),
            })
            .await?;
        }
        w.event(NewEvent {
            kind: "operation.created",
            aggregate: None,
            host: Some(host),
            message: format!("operation {id} ({kind}) created for host {host}"),
            details: json!({"operation": id, "kind": kind, "dry_run": dry_run}),
        })
        .await?;
        let op = load_one(w.conn(), id).await?;
        w.commit().await?;
        Ok(op)
    }

    /// Operations matching `f`, newest first.
    pub async fn list_operations(&self, f: &OperationFilter) -> Result<Vec<Operation>> {
        let mut conn = self.pool().acquire().await?;
        let sql = format!(
            "SELECT {COLS} FROM operations WHERE ($1 = '' OR host = $1) AND ($2 = '' OR state = $2) \
             AND ($3 = '' OR kind = $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(f.host.clone().unwrap_or_default())
            .bind(f.state.clone().unwrap_or_default())
            .bind(f.kind.clone().unwrap_or_default())
            .bind(f.limit)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(row_to_op).collect()
    }

    /// One operation.
    pub async fn get_operation(&self, id: i64) -> Result<Operation> {
        let mut conn = self.pool().acquire().await?;
        load_one(&mut conn, id).await
    }

    /// Applies an agent's or admin's progress report (who may is the API layer's call).
    #[tracing::instrument(skip_all, fields(operation = id, actor = %actor))]
    pub async fn update_operation(
        &self,
        actor: &str,
        id: i64,
        patch: &OperationPatch,
    ) -> Result<Operation> {
        if let Some(s) = &patch.state {
            if !OP_STATES.contains(&s.as_str()) || s == "superseded" {
                return Err(StoreError::invalid(
                    "state",
                    format!(
                        "unknown or reserved state {s:?}; use one of pending, running, succeeded, \
                         failed, completed_with_warnings"
                    ),
                ));
            }
        }
        if let Some(p) = patch.progress {
            if !(0.0..=1.0).contains(&p) || p.is_nan() {
                return Err(StoreError::invalid(
                    "progress",
                    format!("progress must be between 0 and 1, got {p}"),
                ));
            }
        }
        let mut w = self.write(actor).await?;
        let op = load_one(w.conn(), id).await?;
        if op_state_is_terminal(&op.state) {
            return Err(StoreError::OperationFinished {
                id,
                state: op.state,
            });
        }
        let state = patch.state.clone().unwrap_or(op.state.clone());
        let progress = patch.progress.unwrap_or(op.progress);
        let plan = patch.plan.clone().or(op.plan.clone());
        let vms = match &patch.vms {
            Some(reported) => merge_vm_results(&op.vms, reported),
            None => op.vms.clone(),
        };
        let error = match &patch.error {
            Some(e) => e.clone(),
            None => op.error.clone(),
        };
        let warnings = patch.warnings.clone().unwrap_or(op.warnings.clone());
        let now = w.now;
        let finished = op_state_is_terminal(&state).then_some(now);
        sqlx::query(
            "UPDATE operations SET state = $1, progress = $2, plan = $3, vms = $4, error = $5, \
             warnings = $6, updated_at = $7, finished_at = $8 WHERE id = $9",
        )
        .bind(&state)
        .bind(progress)
        .bind(plan.as_ref().map(Value::to_string))
        .bind(vms.to_string())
        .bind(error.as_ref().map(Value::to_string))
        .bind(serde_json::to_string(&warnings).map_err(StoreError::json)?)
        .bind(now)
        .bind(finished)
        .bind(id)
        .execute(w.conn())
        .await?;
        w.event(NewEvent {
            kind: "operation.updated",
            aggregate: None,
            host: Some(&op.host),
            message: format!(
                "operation {id} ({}) on host {} is {state} ({:.0}%)",
                op.kind,
                op.host,
                progress * 100.0
            ),
            details: json!({"operation": id, "state": state, "progress": progress, "error": error}),
        })
        .await?;
        let op = load_one(w.conn(), id).await?;
        w.commit().await?;
        Ok(op)
    }
}

const COLS: &str = "id, kind, host, state, progress, dry_run, plan, vms, error, warnings, \
                    superseded_by, requested_by, created_at, updated_at, finished_at";

pub(crate) async fn load_one(conn: &mut AnyConnection, id: i64) -> Result<Operation> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM operations WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::OperationNotFound(id))?;
    row_to_op(&row)
}

/// The pending and running operations of `host`, oldest first.
pub(crate) async fn open_for_host(conn: &mut AnyConnection, host: &str) -> Result<Vec<Operation>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM operations WHERE host = $1 AND state IN ('pending', 'running') ORDER BY id"
    ))
    .bind(host)
    .fetch_all(conn)
    .await?;
    rows.iter().map(row_to_op).collect()
}

/// Per-VM results merged by VM name: a reported VM replaces its earlier entry in place, new
/// VMs are appended in the order reported. A report never drops VMs reported before (an agent
/// restarted mid-operation reports only what it did since).
fn merge_vm_results(stored: &Value, reported: &Value) -> Value {
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    let mut merged: Vec<Value> = stored.as_array().cloned().unwrap_or_default();
    for vm in reported.as_array().into_iter().flatten() {
        match merged
            .iter_mut()
            .find(|old| name(old).is_some() && name(old) == name(vm))
        {
            Some(old) => *old = vm.clone(),
            None => merged.push(vm.clone()),
        }
    }
    Value::Array(merged)
}

fn parse_json(s: Option<String>) -> Result<Option<Value>> {
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(StoreError::json)
}

fn row_to_op(r: &sqlx::any::AnyRow) -> Result<Operation> {
    Ok(Operation {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        host: r.try_get(2)?,
        state: r.try_get(3)?,
        progress: r.try_get(4)?,
        dry_run: flag(r.try_get(5)?),
        plan: parse_json(r.try_get(6)?)?,
        vms: parse_json(r.try_get(7)?)?.unwrap_or(Value::Array(Vec::new())),
        error: parse_json(r.try_get(8)?)?,
        warnings: serde_json::from_str(&r.try_get::<String, _>(9)?).map_err(StoreError::json)?,
        superseded_by: r.try_get(10)?,
        requested_by: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
        finished_at: r.try_get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use super::merge_vm_results;
    use serde_json::json;

    #[test]
    fn vm_results_merge_by_name_keeping_earlier_reports() {
        let stored = json!([
            {"name": "a", "result": "migrated"},
            {"name": "b", "result": "failed", "error": "HOST_OFFLINE"}
        ]);
        let reported =
            json!([{"name": "b", "result": "migrated"}, {"name": "c", "result": "migrated"}]);
        assert_eq!(
            merge_vm_results(&stored, &reported),
            json!([
                {"name": "a", "result": "migrated"},
                {"name": "b", "result": "migrated"},
                {"name": "c", "result": "migrated"}
            ])
        );
        assert_eq!(merge_vm_results(&stored, &json!([])), stored);
    }
}
