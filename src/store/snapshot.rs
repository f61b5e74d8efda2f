//! The committed aggregate state as of one revision, kept in memory between commits: list and
//! show read it without touching the database, and the batched writer
//! ([`batch`](super::batch)) judges every change against it.
//!
//! Why it cannot serve stale data: every committed change bumps `meta.revision` (see the
//! [`WriteTx`](super::WriteTx) rule; log-only writes touch no aggregate data), and a snapshot is
//! either read in one transaction together with the revision it reflects, or is the one the
//! batched writer derived from the previous snapshot while holding the writer's turn. It is
//! used only when its revision equals the current one: on SQLite the revision this process
//! published (it is the database's only writer), on PostgreSQL the one read from the database
//! first, so any number of replicas see exactly what a fresh read would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use sqlx::AnyConnection;

use super::{AggRef, Aggregate, Backend, Result, StoreError};

/// Aggregates, registered host names and the next aggregate id, as committed at `revision`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The revision the state reflects.
    pub(crate) revision: i64,
    /// Aggregates by id (so in id order).
    pub(crate) aggregates: BTreeMap<i64, Arc<Aggregate>>,
    /// Aggregates that have a `pool_status` row (their status survives losing every host row).
    pub(crate) pool_rows: BTreeSet<i64>,
    /// Registered host names.
    pub(crate) hosts: Arc<BTreeSet<String>>,
    /// The id the next created aggregate gets (ids are never reused).
    pub(crate) next_aggregate_id: i64,
}

impl Snapshot {
    /// The aggregate `r` names.
    pub(crate) fn find(&self, r: &AggRef) -> Result<&Arc<Aggregate>> {
        let found = match r {
            AggRef::Id(id) => self.aggregates.get(id),
            AggRef::Uuid(u) => self.aggregates.values().find(|a| &a.uuid == u),
            AggRef::Name(n) => self.aggregates.values().find(|a| &a.name == n),
        };
        found.ok_or_else(|| StoreError::AggregateNotFound(r.to_string()))
    }

    /// The aggregate `r` names, if `host` is one of its members.
    pub(crate) fn find_member(&self, r: &AggRef, host: &str) -> Result<&Arc<Aggregate>> {
        let agg = self.find(r)?;
        if !agg.hosts.iter().any(|h| h == host) {
            return Err(StoreError::HostNotInAggregate {
                aggregate_id: agg.id,
                host: host.to_owned(),
            });
        }
        Ok(agg)
    }

    /// Whether another aggregate than `except` is called `name`.
    pub(crate) fn name_taken(&self, name: &str, except: Option<i64>) -> bool {
        self.aggregates
            .values()
            .any(|a| a.name == name && Some(a.id) != except)
    }

    /// Loads the state inside `conn`'s transaction, stamped with `revision`.
    pub(crate) async fn load(
        conn: &mut AnyConnection,
        backend: Backend,
        revision: i64,
    ) -> Result<Snapshot> {
        let all = super::aggregates::load(conn).await?;
        let pool_rows: Vec<i64> = sqlx::query_scalar("SELECT aggregate_id FROM pool_status")
            .fetch_all(&mut *conn)
            .await?;
        let hosts: Vec<String> = sqlx::query_scalar("SELECT name FROM hosts")
            .fetch_all(&mut *conn)
            .await?;
        let last_id_sql = match backend {
            Backend::Sqlite => {
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'aggregates'), 0)"
            }
            Backend::Postgres => {
                "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('aggregates', 'id')::regclass), 0)"
            }
        };
        let last_id: i64 = sqlx::query_scalar(last_id_sql)
            .fetch_one(&mut *conn)
            .await?;
        let max_id = all.last().map_or(0, |a| a.id);
        Ok(Snapshot {
            revision,
            aggregates: all.into_iter().map(|a| (a.id, Arc::new(a))).collect(),
            pool_rows: pool_rows.into_iter().collect(),
            hosts: Arc::new(hosts.into_iter().collect()),
            next_aggregate_id: last_id.max(max_id) + 1,
        })
    }
}

/// Every aggregate as committed at one revision, shared with the store's cache (no copy).
#[derive(Clone)]
pub struct AggregateView(pub(crate) Arc<Snapshot>);

impl AggregateView {
    /// The revision the aggregates reflect.
    pub fn revision(&self) -> i64 {
        self.0.revision
    }

    /// The aggregates in id order.
    pub fn aggregates(&self) -> impl Iterator<Item = &Aggregate> {
        self.0.aggregates.values().map(|a| &**a)
    }
}

/// The latest snapshot this process holds.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    slot: Mutex<Option<Arc<Snapshot>>>,
}

impl SnapshotCache {
    /// The snapshot taken at exactly `revision`, if that is the one held.
    pub(crate) fn at(&self, revision: i64) -> Option<Arc<Snapshot>> {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|s| s.revision == revision).cloned()
    }

    /// Keeps `snap` unless a snapshot of a later revision is already held.
    pub(crate) fn offer(&self, snap: Arc<Snapshot>) {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|s| s.revision < snap.revision) {
            *slot = Some(snap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(revision: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            revision,
            ..Snapshot::default()
        })
    }

    #[test]
    fn serves_only_the_exact_revision() {
        let c = SnapshotCache::default();
        assert!(c.at(0).is_none());
        c.offer(snap(3));
        assert_eq!(c.at(3).map(|s| s.revision), Some(3));
        assert!(c.at(4).is_none());
        assert!(c.at(2).is_none());
    }

    #[test]
    fn never_replaces_a_later_snapshot_with_an_earlier_one() {
        let c = SnapshotCache::default();
        c.offer(snap(5));
        c.offer(snap(4));
        assert!(c.at(4).is_none());
        assert!(c.at(5).is_some());
        c.offer(snap(6));
        assert!(c.at(6).is_some());
    }
}
