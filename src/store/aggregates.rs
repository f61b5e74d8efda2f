//! Aggregates: membership, metadata and the availability-zone rule (a host is in at most one
//! zone). Reads come from the in-memory [`Snapshot`]; every change is judged against it and
//! written by the batched writer ([`Store::change`]), each in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::batch::{Arg, Draft};
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
        Ok(self.aggregate_view().await?.aggregates().cloned().collect())
    }

    /// All aggregates with the revision they reflect, without copying them.
    pub async fn aggregate_view(&self) -> Result<super::AggregateView> {
        Ok(super::AggregateView(self.snapshot().await?))
    }

    /// One aggregate.
    pub async fn get_aggregate(&self, r: &AggRef) -> Result<Aggregate> {
        let snap = self.snapshot().await?;
        snap.find(r).map(|a| Aggregate::clone(a))
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
        let (name, az, metadata) = (name.to_string(), az.map(str::to_string), metadata.clone());
        self.change(actor, move |d| {
            if d.state.name_taken(&name, None) {
                return Err(StoreError::AggregateNameExists(name.clone()));
            }
            let id = d.state.next_aggregate_id;
            d.state.next_aggregate_id += 1;
            let uuid = uuid::Uuid::new_v4().to_string();
            d.exec(
                "INSERT INTO aggregates (id, uuid, name, availability_zone, created_at, updated_at, changed_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $5)",
                vec![
                    id.into(),
                    uuid.as_str().into(),
                    name.as_str().into(),
                    az.as_deref().into(),
                    d.now.into(),
                ],
            );
            d.event(NewEvent {
                kind: "aggregate.created",
                aggregate: Some(&name),
                host: None,
                message: format!("aggregate {name} created"),
                details: json!({"id": id, "uuid": uuid, "availability_zone": az, "metadata": metadata}),
            });
            let agg = Aggregate {
                id,
                uuid,
                name: name.clone(),
                availability_zone: az.clone(),
                hosts: Vec::new(),
                metadata: metadata.clone(),
                created_at: d.now,
                updated_at: None,
                changed_at: d.now,
                status: None,
            };
            d.state.aggregates.insert(id, Arc::new(agg.clone()));
            for (k, v) in &metadata {
                upsert_metadata(d, id, k, v);
            }
            Ok(agg)
        })
        .await
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
        let r = r.clone();
        let name = name.map(str::to_string);
        let az = az.map(|z| z.map(str::to_string));
        self.change(actor, move |d| {
            let id = d.state.find(&r)?.id;
            if let Some(name) = &name {
                let current = d.state.aggregates[&id].name.clone();
                if &current != name {
                    if d.state.name_taken(name, Some(id)) {
                        return Err(StoreError::AggregateNameExists(name.clone()));
                    }
                    d.exec(
                        "UPDATE aggregates SET name = $1, updated_at = $2, changed_at = $2 WHERE id = $3",
                        vec![name.as_str().into(), d.now.into(), id.into()],
                    );
                    d.event(NewEvent {
                        kind: "aggregate.updated",
                        aggregate: Some(name),
                        host: None,
                        message: format!("aggregate {current} renamed to {name}"),
                        details: json!({"id": id, "old_name": current, "name": name}),
                    });
                    let now = d.now;
                    let agg = edit(d.state, id);
                    agg.name = name.clone();
                    agg.updated_at = Some(now);
                    agg.changed_at = now;
                }
            }
            if let Some(az) = &az {
                let mut changes = BTreeMap::new();
                changes.insert(AZ_KEY.to_string(), az.clone());
                apply_metadata(d, id, &changes, rules)?;
            }
            Ok(Aggregate::clone(&d.state.aggregates[&id]))
        })
        .await
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
        let (r, changes) = (r.clone(), changes.clone());
        self.change(actor, move |d| {
            let id = d.state.find(&r)?.id;
            apply_metadata(d, id, &changes, rules)?;
            Ok(Aggregate::clone(&d.state.aggregates[&id]))
        })
        .await
    }

    /// Deletes an empty aggregate.
    #[tracing::instrument(skip_all, fields(aggregate = %r, actor = %actor))]
    pub async fn delete_aggregate(&self, actor: &str, r: &AggRef) -> Result<()> {
        let r = r.clone();
        self.change(actor, move |d| {
            let agg = d.state.find(&r)?.clone();
            let id = agg.id;
            if !agg.hosts.is_empty() {
                return Err(StoreError::AggregateNotEmpty {
                    aggregate_id: id,
                    hosts: agg.hosts.clone(),
                });
            }
            for sql in [
                "DELETE FROM aggregate_metadata WHERE aggregate_id = $1",
                "DELETE FROM pool_status WHERE aggregate_id = $1",
                "DELETE FROM pool_host_status WHERE aggregate_id = $1",
                "DELETE FROM aggregates WHERE id = $1",
            ] {
                d.exec(sql, vec![id.into()]);
            }
            d.event(NewEvent {
                kind: "aggregate.deleted",
                aggregate: Some(&agg.name),
                host: None,
                message: format!("aggregate {} deleted", agg.name),
                details: json!({"id": id, "uuid": agg.uuid}),
            });
            d.state.aggregates.remove(&id);
            d.state.pool_rows.remove(&id);
            Ok(())
        })
        .await
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
        let (r, host) = (r.clone(), host.to_string());
        self.change(actor, move |d| {
            require_host(d.state, &host)?;
            let agg = d.state.find(&r)?.clone();
            let id = agg.id;
            if let Some(az) = &agg.availability_zone {
                let zones = conflicting_zones(d.state, id, std::slice::from_ref(&host), az);
                if !zones.is_empty() {
                    return Err(StoreError::AzConflict {
                        aggregate_id: id,
                        hosts: vec![host.clone()],
                        zones,
                    });
                }
            }
            if agg.hosts.contains(&host) {
                if idempotent {
                    return Ok(Aggregate::clone(&agg));
                }
                return Err(StoreError::AggregateHostExists {
                    aggregate_id: id,
                    host: host.clone(),
                });
            }
            d.exec(
                "INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)",
                vec![id.into(), host.as_str().into()],
            );
            touch(d, id);
            d.event(NewEvent {
                kind: "aggregate.host_added",
                aggregate: Some(&agg.name),
                host: Some(&host),
                message: format!("host {host} added to aggregate {}", agg.name),
                details: json!({"id": id}),
            });
            // The new member row has the highest id, so a reload lists it last too.
            edit(d.state, id).hosts.push(host.clone());
            Ok(Aggregate::clone(&d.state.aggregates[&id]))
        })
        .await
    }

    /// Removes a member. Checks host, aggregate, then membership.
    #[tracing::instrument(skip_all, fields(aggregate = %r, host = %host, actor = %actor))]
    pub async fn remove_host(&self, actor: &str, r: &AggRef, host: &str) -> Result<Aggregate> {
        let (r, host) = (r.clone(), host.to_string());
        self.change(actor, move |d| {
            require_host(d.state, &host)?;
            let agg = d.state.find_member(&r, &host)?.clone();
            let id = agg.id;
            d.exec(
                "DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2",
                vec![id.into(), host.as_str().into()],
            );
            d.exec(
                "DELETE FROM pool_host_status WHERE aggregate_id = $1 AND host = $2",
                vec![id.into(), host.as_str().into()],
            );
            let keeps_status_row = d.state.pool_rows.contains(&id);
            let a = edit(d.state, id);
            a.hosts.retain(|h| h != &host);
            if let Some(status) = &mut a.status {
                status.hosts.remove(&host);
                if status.hosts.is_empty() && !keeps_status_row {
                    a.status = None;
                }
            }
            forget_member_status(d, id, &host);
            touch(d, id);
            d.event(NewEvent {
                kind: "aggregate.host_removed",
                aggregate: Some(&agg.name),
                host: Some(&host),
                message: format!("host {host} removed from aggregate {}", agg.name),
                details: json!({"id": id}),
            });
            Ok(Aggregate::clone(&d.state.aggregates[&id]))
        })
        .await
    }
}

/// The aggregate `id` of the draft's state, to edit in place.
pub(crate) fn edit(state: &mut Snapshot, id: i64) -> &mut Aggregate {
    let agg = state
        .aggregates
        .get_mut(&id)
        .expect("edited aggregates were found first");
    Arc::make_mut(agg)
}

/// Drops the pool-status metadata a removed member leaves behind, as Nova's XenAPI driver did:
/// the `<host>` = XAPI uuid key; and when it was the last member, `master_compute` too, with
/// `operational_state` back to `created` for a hypervisor pool.
fn forget_member_status(d: &mut Draft<'_>, id: i64, host: &str) {
    d.exec(
        "DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2",
        vec![id.into(), host.into()],
    );
    let a = edit(d.state, id);
    a.metadata.remove(host);
    if !a.hosts.is_empty() {
        return;
    }
    a.metadata.remove("master_compute");
    let reset =
        a.metadata.contains_key(super::POOL_KEY) && a.metadata.contains_key("operational_state");
    if reset {
        a.metadata
            .insert("operational_state".to_string(), "created".to_string());
    }
    d.exec(
        "DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = 'master_compute'",
        vec![id.into()],
    );
    if reset {
        d.exec(
            "UPDATE aggregate_metadata SET value = 'created' WHERE aggregate_id = $1 AND key = 'operational_state'",
            vec![id.into()],
        );
    }
}

/// Applies a metadata merge to aggregate `id` in the draft (zone rules included).
pub(crate) fn apply_metadata(
    d: &mut Draft<'_>,
    id: i64,
    changes: &BTreeMap<String, Option<String>>,
    rules: ZoneRules,
) -> Result<()> {
    if let Some(az) = changes.get(AZ_KEY) {
        let zone = match (az.as_deref(), rules) {
            (None | Some(""), ZoneRules::Nova) => {
                return Err(StoreError::EmptyAz {
                    aggregate_id: id,
                    name: d.state.aggregates[&id].name.clone(),
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
            let hosts = d.state.aggregates[&id].hosts.clone();
            let zones = conflicting_zones(d.state, id, &hosts, zone);
            if !zones.is_empty() {
                return Err(StoreError::AzConflict {
                    aggregate_id: id,
                    hosts,
                    zones,
                });
            }
        }
        d.exec(
            "UPDATE aggregates SET availability_zone = $1 WHERE id = $2",
            vec![zone.into(), id.into()],
        );
        edit(d.state, id).availability_zone = zone.map(str::to_string);
    }
    for (k, v) in changes.iter().filter(|(k, _)| k.as_str() != AZ_KEY) {
        match v {
            Some(v) => upsert_metadata(d, id, k, v),
            None => {
                d.exec(
                    "DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2",
                    vec![id.into(), k.as_str().into()],
                );
                edit(d.state, id).metadata.remove(k);
            }
        }
    }
    touch(d, id);
    let name = d.state.aggregates[&id].name.clone();
    d.event(NewEvent {
        kind: "aggregate.metadata_set",
        aggregate: Some(&name),
        host: None,
        message: format!("metadata of aggregate {name} updated"),
        details: json!({"id": id, "changes": changes}),
    });
    Ok(())
}

fn upsert_metadata(d: &mut Draft<'_>, id: i64, k: &str, v: &str) {
    d.exec(
        "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value",
        vec![id.into(), k.into(), v.into()],
    );
    edit(d.state, id)
        .metadata
        .insert(k.to_string(), v.to_string());
}

/// Marks aggregate `id` changed now.
fn touch(d: &mut Draft<'_>, id: i64) {
    let now = d.now;
    d.exec(
        "UPDATE aggregates SET changed_at = $1 WHERE id = $2",
        vec![Arg::Int(now), id.into()],
    );
    edit(d.state, id).changed_at = now;
}

/// Zones of the *other* aggregates sharing a host with `hosts` whose zone is not `zone`
/// (Nova's `is_safe_to_update_az`), one entry per aggregate, in id order.
fn conflicting_zones(state: &Snapshot, id: i64, hosts: &[String], zone: &str) -> Vec<String> {
    state
        .aggregates
        .values()
        .filter(|a| a.id != id)
        .filter_map(|a| {
            let z = a.availability_zone.as_deref()?;
            (z != zone && a.hosts.iter().any(|h| hosts.contains(h))).then(|| z.to_string())
        })
        .collect()
}

fn require_host(state: &Snapshot, host: &str) -> Result<()> {
    if !state.hosts.contains(host) {
        return Err(StoreError::HostNotFound(host.to_string()));
    }
    Ok(())
}

/// Fails unless `host` is registered (for writers outside the batch).
pub(crate) async fn require_registered(conn: &mut AnyConnection, host: &str) -> Result<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE name = $1")
        .bind(host)
        .fetch_one(conn)
        .await?;
    if n == 0 {
        return Err(StoreError::HostNotFound(host.to_string()));
    }
    Ok(())
}

/// Loads all aggregates with members, metadata and status, in three statements: aggregates
/// with their pool status, members with metadata, member states.
pub(crate) async fn load(conn: &mut AnyConnection) -> Result<Vec<Aggregate>> {
    macro_rules! fetch {
        ($sql:expr) => {
            sqlx::query($sql).fetch_all(&mut *conn).await?
        };
    }
    let rows = fetch!(
        "SELECT a.id, a.uuid, a.name, a.availability_zone, a.created_at, a.updated_at, a.changed_at, \
         ps.operational_state, ps.error, ps.updated_at \
         FROM aggregates a LEFT JOIN pool_status ps ON ps.aggregate_id = a.id ORDER BY a.id"
    );
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
    for r in fetch!(
        "SELECT aggregate_id, 0 AS part, id AS ord, host AS k, NULL AS v FROM aggregate_hosts \
         UNION ALL SELECT aggregate_id, 1, 0, key, value FROM aggregate_metadata \
         ORDER BY part, ord"
    ) {
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
    for r in fetch!("SELECT aggregate_id, host, state, step, updated_at FROM pool_host_status") {
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
