//! Running a list of migrations under concurrency bounds, as a pure state machine.
//!
//! The agent asks [`Schedule::start_next`] for work whenever a slot may be free, runs the move,
//! and reports it with [`Schedule::finish`]. Bounds apply per host (a migration occupies a slot
//! on its source and on its destination) and per pool (all migrations in flight).

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One live migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The VM's name.
    pub vm: String,
    /// The VM's uuid.
    pub vm_uuid: String,
    /// The host it leaves.
    pub from: String,
    /// The host it goes to.
    pub to: String,
    /// Bytes it occupies on the destination.
    pub memory: u64,
}

/// Concurrency bounds for migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concurrency {
    /// Migrations in flight touching any one host (as source or destination).
    pub per_host: usize,
    /// Migrations in flight in the whole pool.
    pub per_pool: usize,
}

impl Default for Concurrency {
    /// Three per host, as Xen Orchestra settled on after XAPI's default of ten caused long
    /// pauses; six per pool.
    fn default() -> Self {
        Concurrency {
            per_host: 3,
            per_pool: 6,
        }
    }
}

impl Concurrency {
    /// Bounds of at least one each, so a schedule always makes progress.
    pub fn normalized(self) -> Concurrency {
        Concurrency {
            per_host: self.per_host.max(1),
            per_pool: self.per_pool.max(1),
        }
    }
}

/// Moves waiting and in flight.
#[derive(Debug, Clone)]
pub struct Schedule {
    pending: VecDeque<Move>,
    in_flight: Vec<Move>,
    slots: HashMap<String, usize>,
    limits: Concurrency,
}

impl Schedule {
    /// A schedule that starts `moves` in the given order as bounds allow.
    pub fn new(moves: Vec<Move>, limits: Concurrency) -> Schedule {
        Schedule {
            pending: moves.into(),
            in_flight: Vec::new(),
            slots: HashMap::new(),
            limits: limits.normalized(),
        }
    }

    /// Takes the first pending move whose source and destination both have a free slot, if
    /// the pool has one; marks it in flight.
    pub fn start_next(&mut self) -> Option<Move> {
        if self.in_flight.len() >= self.limits.per_pool {
            return None;
        }
        let busy = |host: &str| self.slots.get(host).copied().unwrap_or(0);
        let index = self.pending.iter().position(|m| {
            busy(&m.from) < self.limits.per_host && busy(&m.to) < self.limits.per_host
        })?;
        let next = self.pending.remove(index)?;
        *self.slots.entry(next.from.clone()).or_default() += 1;
        *self.slots.entry(next.to.clone()).or_default() += 1;
        self.in_flight.push(next.clone());
        Some(next)
    }

    /// Marks the in-flight move of VM `vm_uuid` finished (whatever its outcome), freeing its
    /// slots. Returns the move, or `None` if that VM was not in flight.
    pub fn finish(&mut self, vm_uuid: &str) -> Option<Move> {
        let index = self.in_flight.iter().position(|m| m.vm_uuid == vm_uuid)?;
        let done = self.in_flight.swap_remove(index);
        for host in [&done.from, &done.to] {
            if let Some(n) = self.slots.get_mut(host) {
                *n = n.saturating_sub(1);
            }
        }
        Some(done)
    }

    /// Puts a move back at the end of the queue (a retry after a transient failure).
    pub fn requeue(&mut self, again: Move) {
        self.pending.push_back(again);
    }

    /// Moves not yet started.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Moves started and not finished.
    pub fn in_flight(&self) -> &[Move] {
        &self.in_flight
    }

    /// Whether nothing is pending or in flight.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(vm: &str, from: &str, to: &str) -> Move {
        Move {
            vm: vm.into(),
            vm_uuid: format!("uuid-{vm}"),
            from: from.into(),
            to: to.into(),
            memory: 1 << 30,
        }
    }

    #[test]
    fn respects_the_per_host_bound_on_source_and_destination() {
        let moves = vec![
            mv("a", "h1", "h2"),
            mv("b", "h1", "h2"),
            mv("c", "h3", "h2"),
            mv("d", "h1", "h3"),
        ];
        let mut s = Schedule::new(
            moves,
            Concurrency {
                per_host: 2,
                per_pool: 10,
            },
        );
        assert_eq!(s.start_next().unwrap().vm, "a");
        assert_eq!(s.start_next().unwrap().vm, "b");
        // h1 and h2 are both full: c (into h2) and d (out of h1) must wait.
        assert_eq!(s.start_next(), None);
        s.finish("uuid-a");
        // c fills h2 again; d (h1 → h3) now fits beside b on h1.
        assert_eq!(s.start_next().unwrap().vm, "c");
        assert_eq!(s.start_next().unwrap().vm, "d");
        assert_eq!(s.in_flight().len(), 3);
        s.finish("uuid-c");
        s.finish("uuid-b");
        s.finish("uuid-d");
        assert!(s.is_done());
    }

    #[test]
    fn respects_the_pool_bound_and_requeues() {
        let moves = vec![mv("a", "h1", "h2"), mv("b", "h3", "h4")];
        let mut s = Schedule::new(
            moves,
            Concurrency {
                per_host: 5,
                per_pool: 1,
            },
        );
        let a = s.start_next().unwrap();
        assert_eq!(s.start_next(), None);
        s.finish(&a.vm_uuid);
        s.requeue(a);
        assert_eq!(s.start_next().unwrap().vm, "b");
        assert_eq!(s.pending(), 1);
        assert_eq!(s.finish("uuid-nope"), None);
    }

    #[test]
    fn zero_bounds_still_make_progress() {
        let mut s = Schedule::new(
            vec![mv("a", "h1", "h2")],
            Concurrency {
                per_host: 0,
                per_pool: 0,
            },
        );
        assert!(s.start_next().is_some());
    }
}
