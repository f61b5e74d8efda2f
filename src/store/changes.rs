//! What each recent revision touched, kept in memory so a scoped watcher (one host's agent)
//! sleeps through changes that cannot alter its desired state. Conservative by construction:
//! a revision this replica did not commit itself (another replica's, or one older than the
//! log) counts as touching everything.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Revisions remembered; older ones count as touching everything.
const CAPACITY: usize = 4096;

/// One event of a committed revision: its kind and the aggregate and host it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The event kind (`aggregate.host_added`, `agent.report`, …).
    pub kind: String,
    /// The aggregate's name, if the event names one.
    pub aggregate: Option<String>,
    /// The host, if the event names one.
    pub host: Option<String>,
}

/// The hosts and aggregates one watcher's desired state is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// Host names (the agent's own host and every member of its aggregates).
    pub hosts: Vec<String>,
    /// Aggregate names the agent's host belongs to.
    pub aggregates: Vec<String>,
}

impl WatchScope {
    /// The scope of `host`'s agent: the host, every aggregate it belongs to, and their hosts.
    pub fn of_host(host: &str, aggregates: &[super::Aggregate]) -> WatchScope {
        let mut scope = WatchScope {
            hosts: vec![host.to_owned()],
            aggregates: Vec::new(),
        };
        for a in aggregates
            .iter()
            .filter(|a| a.hosts.iter().any(|h| h == host))
        {
            scope.aggregates.push(a.name.clone());
            scope
                .hosts
                .extend(a.hosts.iter().filter(|h| *h != host).cloned());
        }
        scope
    }

    /// Whether a change touching `t` can alter this scope's desired state. Leases are not part
    /// of anyone's desired state; a rename names the new name only, so it touches everyone, as
    /// does an event that names neither an aggregate nor a host.
    fn touched_by(&self, t: &Touch) -> bool {
        if t.kind.starts_with("lease.") {
            return false;
        }
        if t.kind == "aggregate.updated" {
            return true;
        }
        let host = t.host.as_ref().is_some_and(|h| self.hosts.contains(h));
        let aggregate = t
            .aggregate
            .as_ref()
            .is_some_and(|a| self.aggregates.contains(a));
        host || aggregate || (t.host.is_none() && t.aggregate.is_none())
    }
}

/// The log of recent revisions and what they touched.
#[derive(Debug, Default)]
pub struct ChangeLog {
    entries: Mutex<VecDeque<(i64, Vec<Touch>)>>,
}

impl ChangeLog {
    /// Records the committed `revision` (a write without events touches everything).
    pub fn record(&self, revision: i64, touched: Vec<Touch>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let touched = if touched.is_empty() {
            vec![Touch {
                kind: "unknown".into(),
                aggregate: None,
                host: None,
            }]
        } else {
            touched
        };
        entries.push_back((revision, touched));
        while entries.len() > CAPACITY {
            entries.pop_front();
        }
    }

    /// Whether any revision in `(since, upto]` can alter `scope`'s desired state. A revision
    /// missing from the log (another replica's commit, or one too old) counts as a change.
    pub fn touches(&self, since: i64, upto: i64, scope: &WatchScope) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut expected = since + 1;
        for (revision, touched) in entries.iter().filter(|(r, _)| *r > since && *r <= upto) {
            if *revision != expected || touched.iter().any(|t| scope.touched_by(t)) {
                return true;
            }
            expected += 1;
        }
        expected <= upto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(kind: &str, aggregate: Option<&str>, host: Option<&str>) -> Touch {
        Touch {
            kind: kind.into(),
            aggregate: aggregate.map(Into::into),
            host: host.map(Into::into),
        }
    }

    fn scope() -> WatchScope {
        WatchScope {
            hosts: vec!["xs1".into(), "xs2".into()],
            aggregates: vec!["pool1".into()],
        }
    }

    #[test]
    fn changes_elsewhere_do_not_touch_the_scope() {
        let log = ChangeLog::default();
        log.record(
            1,
            vec![touch("aggregate.host_added", Some("pool2"), Some("xs9"))],
        );
        log.record(2, vec![touch("lease.acquired", None, None)]);
        log.record(3, vec![touch("agent.report", Some("pool2"), Some("xs9"))]);
        assert!(!log.touches(0, 3, &scope()));
    }

    #[test]
    fn a_change_to_a_member_or_an_own_aggregate_touches_it() {
        let log = ChangeLog::default();
        log.record(1, vec![touch("host.updated", None, Some("xs2"))]);
        log.record(2, vec![touch("agent.report", Some("pool1"), Some("xs7"))]);
        assert!(log.touches(0, 1, &scope()));
        assert!(log.touches(1, 2, &scope()));
        assert!(!log.touches(2, 2, &scope()));
    }

    #[test]
    fn unscoped_renamed_and_eventless_changes_touch_everyone() {
        let log = ChangeLog::default();
        log.record(1, vec![touch("token.created", None, None)]);
        log.record(2, vec![touch("aggregate.updated", Some("renamed"), None)]);
        log.record(3, vec![]);
        for r in 1..=3 {
            assert!(log.touches(r - 1, r, &scope()), "revision {r}");
        }
    }

    #[test]
    fn revisions_missing_from_the_log_count_as_changes() {
        let log = ChangeLog::default();
        log.record(5, vec![touch("agent.report", Some("pool2"), None)]);
        // 3 and 4 were committed by another replica.
        assert!(log.touches(2, 5, &scope()));
        assert!(!log.touches(4, 5, &scope()));
        // 6 is known (polled) but not logged.
        assert!(log.touches(5, 6, &scope()));
    }

    #[test]
    fn the_log_is_bounded() {
        let log = ChangeLog::default();
        for r in 1..=(CAPACITY as i64 + 10) {
            log.record(r, vec![touch("agent.report", Some("pool2"), None)]);
        }
        assert!(log.touches(0, 20, &scope()), "forgotten revisions count");
        assert!(!log.touches(100, CAPACITY as i64 + 10, &scope()));
    }
}
