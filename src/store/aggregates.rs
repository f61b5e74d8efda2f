//! Aggregates: membership, metadata and the availability-zone rule (a host is in at most one
//! zone), each change in one [`WriteTx`](super::WriteTx).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::snapshot::Snapshot;
use super::{
    AggRef, Aggregate, HostPoolState, NewEvent, PoolStatus, Result, Store, StoreError, AZ_KEY,
};

/// How availability-zone values in metadata are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneRules {
    /// Nova: a null or empty zone is refused ("does not support empty named availability zone").
    Nova,
    /// Native API: a null zone clears it (the hosts fall back to the default zone).
    Native,
}

impl Store {
    /// All aggregates in id order.
    pub async fn list_aggregates(&self) -> Result<Vec<Aggregate>> {
        let current = self.refresh_revision().await?;
        if let Some(s) = self.snapshots().at(current) {
            return Ok(s.aggregates.to_vec());
        }
        let mut tx = self.read().await?;
        let revision: i64 = sqlx::query_scalar(super::REVISION_SQL)
            .fetch_one(&mut *tx)
            .await?;
        let all = load(&mut tx, None).await?;
        tx.commit().await?;
        self.publish(revision);
        let snap = Arc::new(Snapshot {
            revision,
            aggregates: Arc::new(all),
        });
        self.snapshots().offer(snap.clone());
        Ok(snap.aggregates.to_vec())
    }

    /// One aggregate.
    pub async fn get_aggregate(&self, r: &AggRef) -> Result<Aggregate> {
        let current = self.refresh_revision().await?;
        if let Some(s) = self.snapshots().at(current) {
            return s
                .aggregates
                .iter()
                .find(|a| match r {
                    AggRef::Id(id) => a.id == *id,
                    AggRef::Uuid(u) => &a.uuid == u,
                    AggRef::Name(n) => &a.name == n,
                })
                .cloned()
                .ok_or_else(|| StoreError::AggregateNotFound(r.to_string()));
        }
        let mut tx = self.read().await?;
        let id = resolve(&mut tx, r).await?;
        let agg = load_one(&mut tx, id).await?;
        tx.commit().await?;
        Ok(agg)
    }

    /// Creates an aggregate; `az` becomes its zone, `metadata` its other keys.
    #[tracing::instrument(skip_all, fields(aggregate = %name, actor = %actor))]
    pub async fn create_aggregate(
        &self,
        actor: &str,
        name: &str,
        az: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Aggregate> {
        let mut w = self.write(actor).await?;
        if name_taken(w.conn(), name, None).await? {
            return Err(StoreError::AggregateNameExists(name.to_string()));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO aggregates (uuid, name, availability_zone, created_at, updated_at, changed_at) \
             VALUES ($1, $2, $3, $4, NULL, $4) RETURNING id",
        )
        .bind(&uuid)
        .bind(name)
        .bind(az)
        .bind(w.now)
        .fetch_one(w.conn())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::AggregateNameExists(name.to_string())
            }
            e => e.into(),
        })?;
        for (k, v) in metadata {
            upsert_metadata(w.conn(), id, k, v).await?;
        }
        w.event(NewEvent {
            kind: "aggregate.created",
            aggregate: Some(name),
            host: None,
            message: format!("aggregate {name} created"),
            details: json!({"id": id, "uuid": uuid, "availability_zone": az, "metadata": metadata}),
        })
        .await?;
        // Exactly what a reload would read: the row and metadata just written, no members yet.
        let agg = Aggregate {
            id,
            uuid,
            name: name.to_string(),
            availability_zone: az.map(str::to_string),
            hosts: Vec::new(),
            metadata: metadata.clone(),
            created_at: w.now,
            updated_at: None,
            changed_at: w.now,
            status: None,
        };
        w.commit().await?;
        Ok(agg)
    }

    /// Renames and/or re-zones an aggregate in one transaction. `az`: `None` leaves the zone,
    /// `Some(None)` clears it (refused under [`ZoneRules::Nova`]), `Some(Some(z))` sets it.
    #[tracing::instrument(skip_all, fields(aggregate = %r, actor = %actor))]
    pub async fn update_aggregate(
        &self,
        actor: &str,
        r: &AggRef,
        name: Option<&str>,
        az: Option<Option<&str>>,
        rules: ZoneRules,
    ) -> Result<Aggregate> {
        let mut w = self.write(actor).await?;
        let id = resolve(w.conn(), r).await?;
        let mut changed = false;
        if let Some(name) = name {
            let current: String = sqlx::query_scalar("SELECT name FROM aggregates WHERE id = $1")
                .bind(id)
                .fetch_one(w.conn())
                .await?;
            if current != name {
                if name_taken(w.conn(), name, Some(id)).await? {
                    return Err(StoreError::AggregateNameExists(name.to_string()));
                }
                sqlx::query(
                    "UPDATE aggregates SET name = $1, updated_at = $2, changed_at = $2 WHERE id = $3",
                )
                .bind(name)
                .bind(w.now)
                .bind(id)
                .execute(w.conn())
                .await?;
                w.event(NewEvent {
                    kind: "aggregate.updated",
                    aggregate: Some(name),
                    host: None,
                    message: format!("aggregate {current} renamed to {name}"),
                    details: json!({"id": id, "old_name": current, "name": name}),
                })
                .await?;
                changed = true;
            }
        }
        if let Some(az) = az {
            let mut changes = BTreeMap::new();
            changes.insert(AZ_KEY.to_string(), az.map(str::to_string));
            apply_metadata(&mut w, id, &changes, rules).await?;
            changed = true;
        }
        let agg = load_one(w.conn(), id).await?;
        if changed {
            w.commit().await?;
        }
        Ok(agg)
    }

    /// Merges `changes` into the metadata: a `None` value deletes the key (a missing key is
    /// fine); the `availability_zone` key goes through the zone rules.
    #[tracing::instrument(skip_all, fields(aggregate = %r, actor = %actor))]
    pub async fn update_metadata(
        &self,
        actor: &str,
        r: &AggRef,
        changes: &BTreeMap<String, Option<String>>,
        rules: ZoneRules,
    ) -> Result<Aggregate> {
        let mut w = self.write(actor).await?;
        let id = resolve(w.conn(), r).await?;
        apply_metadata(&mut w, id, changes, rules).await?;
        let agg = load_one(w.conn(), id).await?;
        w.commit().await?;
        Ok(agg)
    }

    /// Deletes an empty aggregate.
    #[tracing::instrument(skip_all, fields(aggregate = %r, actor = %actor))]
    pub async fn delete_aggregate(&self, actor: &str, r: &AggRef) -> Result<()> {
        let mut w = self.write(actor).await?;
        let id = resolve(w.conn(), r).await?;
        let agg = load_one(w.conn(), id).await?;
        if !agg.hosts.is_empty() {
            return Err(StoreError::AggregateNotEmpty {
                aggregate_id: id,
                hosts: agg.hosts,
            });
        }
        for table in ["aggregate_metadata", "pool_status", "pool_host_status"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE aggregate_id = $1"))
                .bind(id)
                .execute(w.conn())
                .await?;
        }
        sqlx::query("DELETE FROM aggregates WHERE id = $1")
            .bind(id)
            .execute(w.conn())
            .await?;
        w.event(NewEvent {
            kind: "aggregate.deleted",
            aggregate: Some(&agg.name),
            host: None,
            message: format!("aggregate {} deleted", agg.name),
            details: json!({"id": id, "uuid": agg.uuid}),
        })
        .await?;
        w.commit().await
    }

    /// Adds a registered host. Checks in Nova's order: host, aggregate, zone conflict,
    /// membership (an existing member is an error unless `idempotent`).
    #[tracing::instrument(skip_all, fields(aggregate = %r, host = %host, actor = %actor))]
    pub async fn add_host(
        &self,
        actor: &str,
        r: &AggRef,
        host: &str,
        idempotent: bool,
    ) -> Result<Aggregate> {
        let mut w = self.write(actor).await?;
        require_host(w.conn(), host).await?;
        let id = resolve(w.conn(), r).await?;
        let mut agg = load_one(w.conn(), id).await?;
        if let Some(az) = &agg.availability_zone {
            let zones = conflicting_zones(w.conn(), id, Members::One(host), az).await?;
            if !zones.is_empty() {
                return Err(StoreError::AzConflict {
                    aggregate_id: id,
                    hosts: vec![host.to_string()],
                    zones,
                });
            }
        }
        if agg.hosts.iter().any(|h| h == host) {
            if idempotent {
                return Ok(agg);
            }
            return Err(StoreError::AggregateHostExists {
                aggregate_id: id,
                host: host.to_string(),
            });
        }
        sqlx::query("INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)")
            .bind(id)
            .bind(host)
            .execute(w.conn())
            .await?;
        touch(&mut w, id).await?;
        w.event(NewEvent {
            kind: "aggregate.host_added",
            aggregate: Some(&agg.name),
            host: Some(host),
            message: format!("host {host} added to aggregate {}", agg.name),
            details: json!({"id": id}),
        })
        .await?;
        // The new member row has the highest id, so a reload would list it last.
        agg.hosts.push(host.to_string());
        agg.changed_at = w.now;
        w.commit().await?;
        Ok(agg)
    }

    /// Removes a member. Checks host, aggregate, then membership.
    #[tracing::instrument(skip_all, fields(aggregate = %r, host = %host, actor = %actor))]
    pub async fn remove_host(&self, actor: &str, r: &AggRef, host: &str) -> Result<Aggregate> {
        let mut w = self.write(actor).await?;
        require_host(w.conn(), host).await?;
        let id = resolve(w.conn(), r).await?;
        let removed =
            sqlx::query("DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
                .bind(id)
                .bind(host)
                .execute(w.conn())
                .await?
                .rows_affected();
        if removed == 0 {
            return Err(StoreError::HostNotInAggregate {
                aggregate_id: id,
                host: host.to_string(),
            });
        }
        sqlx::query("DELETE FROM pool_host_status WHERE aggregate_id = $1 AND host = $2")
            .bind(id)
            .bind(host)
            .execute(w.conn())
            .await?;
        forget_member_status(&mut w, id, host).await?;
        touch(&mut w, id).await?;
        let agg = load_one(w.conn(), id).await?;
        w.event(NewEvent {
            kind: "aggregate.host_removed",
            aggregate: Some(&agg.name),
            host: Some(host),
            message: format!("host {host} removed from aggregate {}", agg.name),
            details: json!({"id": id}),
        })
        .await?;
        w.commit().await?;
        Ok(agg)
    }
}

/// Drops the pool-status metadata a removed member leaves behind, as Nova's XenAPI driver did:
/// the `<host>` = XAPI uuid key; and when it was the last member, `master_compute` too, with
/// `operational_state` back to `created` for a hypervisor pool.
async fn forget_member_status(w: &mut super::WriteTx<'_>, id: i64, host: &str) -> Result<()> {
    sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
        .bind(id)
        .bind(host)
        .execute(w.conn())
        .await?;
    let remaining: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM aggregate_hosts WHERE aggregate_id = $1")
            .bind(id)
            .fetch_one(w.conn())
            .await?;
    if remaining > 0 {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = 'master_compute'",
    )
    .bind(id)
    .execute(w.conn())
    .await?;
    sqlx::query(
        "UPDATE aggregate_metadata SET value = 'created' WHERE aggregate_id = $1 AND key = 'operational_state' \
         AND EXISTS (SELECT 1 FROM aggregate_metadata WHERE aggregate_id = $1 AND key = 'hypervisor_pool')",
    )
    .bind(id)
    .execute(w.conn())
    .await?;
    Ok(())
}

/// Applies a metadata merge inside `w` (zone rules included).
pub(crate) async fn apply_metadata(
    w: &mut super::WriteTx<'_>,
    id: i64,
    changes: &BTreeMap<String, Option<String>>,
    rules: ZoneRules,
) -> Result<()> {
    if let Some(az) = changes.get(AZ_KEY) {
        let zone = match (az.as_deref(), rules) {
            (None | Some(""), ZoneRules::Nova) => {
                let name: String = sqlx::query_scalar("SELECT name FROM aggregates WHERE id = $1")
                    .bind(id)
                    .fetch_one(w.conn())
                    .await?;
                return Err(StoreError::EmptyAz {
                    aggregate_id: id,
                    name,
                });
            }
            (Some(""), ZoneRules::Native) => {
                return Err(StoreError::invalid(
                    AZ_KEY,
                    "an availability zone name cannot be empty; send null to clear the zone",
                ))
            }
            (zone, _) => zone,
        };
        if let Some(zone) = zone {
            let zones = conflicting_zones(w.conn(), id, Members::OfAggregate, zone).await?;
            if !zones.is_empty() {
                let hosts = member_names(w.conn(), id).await?;
                return Err(StoreError::AzConflict {
                    aggregate_id: id,
                    hosts,
                    zones,
                });
            }
        }
        sqlx::query("UPDATE aggregates SET availability_zone = $1 WHERE id = $2")
            .bind(zone)
            .bind(id)
            .execute(w.conn())
            .await?;
    }
    for (k, v) in changes.iter().filter(|(k, _)| k.as_str() != AZ_KEY) {
        match v {
            Some(v) => upsert_metadata(w.conn(), id, k, v).await?,
            None => {
                sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
                    .bind(id)
                    .bind(k)
                    .execute(w.conn())
                    .await?;
            }
        }
    }
    let name: String =
        sqlx::query_scalar("UPDATE aggregates SET changed_at = $1 WHERE id = $2 RETURNING name")
            .bind(w.now)
            .bind(id)
            .fetch_one(w.conn())
            .await?;
    w.event(NewEvent {
        kind: "aggregate.metadata_set",
        aggregate: Some(&name),
        host: None,
        message: format!("metadata of aggregate {name} updated"),
        details: json!({"id": id, "changes": changes}),
    })
    .await
}

async fn upsert_metadata(conn: &mut AnyConnection, id: i64, k: &str, v: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(k)
    .bind(v)
    .execute(conn)
    .await?;
    Ok(())
}

async fn touch(w: &mut super::WriteTx<'_>, id: i64) -> Result<()> {
    let now = w.now;
    sqlx::query("UPDATE aggregates SET changed_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(w.conn())
        .await?;
    Ok(())
}

enum Members<'a> {
    One(&'a str),
    OfAggregate,
}

/// Zones of the *other* aggregates sharing a host with `members` whose zone is not `zone`
/// (Nova's `is_safe_to_update_az`), one entry per aggregate, in id order.
async fn conflicting_zones(
    conn: &mut AnyConnection,
    id: i64,
    members: Members<'_>,
    zone: &str,
) -> Result<Vec<String>> {
    let hosts_clause = match members {
        Members::One(_) => "ah.host = $3",
        Members::OfAggregate => {
            "ah.host IN (SELECT host FROM aggregate_hosts WHERE aggregate_id = $1)"
        }
    };
    let sql = format!(
        "SELECT a.id, a.availability_zone FROM aggregates a \
         WHERE a.id <> $1 AND a.availability_zone IS NOT NULL AND a.availability_zone <> $2 \
         AND EXISTS (SELECT 1 FROM aggregate_hosts ah WHERE ah.aggregate_id = a.id AND {hosts_clause}) \
         ORDER BY a.id"
    );
    let mut q = sqlx::query(&sql).bind(id).bind(zone);
    if let Members::One(h) = members {
        q = q.bind(h);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(1).map_err(Into::into))
        .collect()
}

async fn member_names(conn: &mut AnyConnection, id: i64) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT host FROM aggregate_hosts WHERE aggregate_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(conn)
            .await?,
    )
}

async fn name_taken(conn: &mut AnyConnection, name: &str, except: Option<i64>) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aggregates WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(except.unwrap_or(-1))
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn require_host(conn: &mut AnyConnection, host: &str) -> Result<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE name = $1")
        .bind(host)
        .fetch_one(conn)
        .await?;
    if n == 0 {
        return Err(StoreError::HostNotFound(host.to_string()));
    }
    Ok(())
}

/// The id of the aggregate `r` names.
pub(crate) async fn resolve(conn: &mut AnyConnection, r: &AggRef) -> Result<i64> {
    let q = match r {
        AggRef::Id(id) => sqlx::query_scalar("SELECT id FROM aggregates WHERE id = $1").bind(*id),
        AggRef::Uuid(u) => {
            sqlx::query_scalar("SELECT id FROM aggregates WHERE uuid = $1").bind(u.clone())
        }
        AggRef::Name(n) => {
            sqlx::query_scalar("SELECT id FROM aggregates WHERE name = $1").bind(n.clone())
        }
    };
    q.fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::AggregateNotFound(r.to_string()))
}

/// Loads one aggregate by id.
pub(crate) async fn load_one(conn: &mut AnyConnection, id: i64) -> Result<Aggregate> {
    load(conn, Some(id))
        .await?
        .pop()
        .ok_or_else(|| StoreError::AggregateNotFound(id.to_string()))
}

/// Loads all aggregates (or the one with `id`) with members, metadata and status, in three
/// statements: aggregates with their pool status, members with metadata, member states.
pub(crate) async fn load(conn: &mut AnyConnection, id: Option<i64>) -> Result<Vec<Aggregate>> {
    let (w_agg, w_rel) = match id {
        Some(_) => ("WHERE a.id = $1", "WHERE aggregate_id = $1"),
        None => ("", ""),
    };
    macro_rules! fetch {
        ($sql:expr) => {{
            let sql = $sql;
            let q = sqlx::query(&sql);
            let q = match id {
                Some(id) => q.bind(id),
                None => q,
            };
            q.fetch_all(&mut *conn).await?
        }};
    }
    let rows = fetch!(format!(
        "SELECT a.id, a.uuid, a.name, a.availability_zone, a.created_at, a.updated_at, a.changed_at, \
         ps.operational_state, ps.error, ps.updated_at \
         FROM aggregates a LEFT JOIN pool_status ps ON ps.aggregate_id = a.id {w_agg} ORDER BY a.id"
    ));
    let mut out: Vec<Aggregate> = Vec::with_capacity(rows.len());
    let mut index = BTreeMap::new();
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        index.insert(id, out.len());
        // pool_status.updated_at is NOT NULL, so NULL here means the aggregate has no row.
        let status_at: Option<i64> = r.try_get(9)?;
        let status = match status_at {
            Some(updated_at) => {
                let error: Option<String> = r.try_get(8)?;
                Some(PoolStatus {
                    operational_state: r.try_get(7)?,
                    error: error
                        .map(|e| serde_json::from_str(&e))
                        .transpose()
                        .map_err(StoreError::json)?,
                    hosts: BTreeMap::new(),
                    updated_at,
                })
            }
            None => None,
        };
        out.push(Aggregate {
            id,
            uuid: r.try_get(1)?,
            name: r.try_get(2)?,
            availability_zone: r.try_get(3)?,
            hosts: Vec::new(),
            metadata: BTreeMap::new(),
            created_at: r.try_get(4)?,
            updated_at: r.try_get(5)?,
            changed_at: r.try_get(6)?,
            status,
        });
    }
    let slot = |agg_id: i64| index.get(&agg_id).copied();
    // Members (value NULL, in the order they were added) and metadata (value NOT NULL) together.
    for r in fetch!(format!(
        "SELECT aggregate_id, 0 AS part, id AS ord, host AS k, NULL AS v FROM aggregate_hosts {w_rel} \
         UNION ALL SELECT aggregate_id, 1, 0, key, value FROM aggregate_metadata {w_rel} \
         ORDER BY part, ord"
    )) {
        if let Some(i) = slot(r.try_get(0)?) {
            let key: String = r.try_get(3)?;
            match r.try_get::<Option<String>, _>(4)? {
                Some(value) => {
                    out[i].metadata.insert(key, value);
                }
                None => out[i].hosts.push(key),
            }
        }
    }
    for r in fetch!(format!(
        "SELECT aggregate_id, host, state, step, updated_at FROM pool_host_status {w_rel}"
    )) {
        if let Some(i) = slot(r.try_get(0)?) {
            let hs = HostPoolState {
                state: r.try_get(2)?,
                step: r.try_get(3)?,
                updated_at: r.try_get(4)?,
            };
            let status = out[i].status.get_or_insert_with(|| PoolStatus {
                operational_state: None,
                error: None,
                hosts: BTreeMap::new(),
                updated_at: hs.updated_at,
            });
            status.hosts.insert(r.try_get(1)?, hs);
        }
    }
    Ok(out)
}
