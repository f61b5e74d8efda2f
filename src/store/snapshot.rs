//! The aggregate list as of one revision, kept between commits so list and show need one
//! one-row query instead of a full load.
//!
//! Why it cannot serve stale data: every committed change bumps `meta.revision` (see the
//! [`WriteTx`](super::WriteTx) rule; log-only writes touch no aggregate data), and a snapshot is
//! read in one transaction together with the revision it reflects. A request first reads the
//! database's current revision and uses the snapshot only when the two are equal, so it sees
//! exactly what a fresh read would, on SQLite and on PostgreSQL with any number of replicas.

use std::sync::{Arc, Mutex};

use super::Aggregate;

/// All aggregates in id order, as committed at `revision`.
pub(crate) struct Snapshot {
    /// The revision the aggregates reflect.
    pub(crate) revision: i64,
    /// The aggregates, shared by the requests that use them.
    pub(crate) aggregates: Arc<Vec<Aggregate>>,
}

/// The latest snapshot this process has loaded.
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
            aggregates: Arc::new(Vec::new()),
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
