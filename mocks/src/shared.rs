//! The state every host endpoint, timer and the control API share: the database behind one
//! lock, the per-host network switches and the change signal `event.from` waits on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::farm::FarmOptions;
use crate::state::{Db, HostId};

/// What a host's listener should do: accept or not, and which connection epoch is current
/// (connections of an older epoch are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetState {
    /// Accept connections.
    pub listening: bool,
    /// Current epoch.
    pub epoch: u64,
}

/// Shared farm state.
#[derive(Debug)]
pub struct Shared {
    db: Mutex<Db>,
    /// The options the farm was started with.
    pub opts: FarmOptions,
    /// One switch per host.
    pub nets: Vec<watch::Sender<NetState>>,
    /// The database generation, for `event.from` waiters.
    pub gen_tx: watch::Sender<u64>,
    /// Per host, its certificate's XAPI-style SHA-256 thumbprint (with TLS).
    pub thumbprints: Vec<Option<String>>,
    /// Per host, whether its listener socket is actually bound right now (the listener task
    /// follows the network switch a moment later).
    pub bound: Vec<AtomicBool>,
}

/// A lock on the database. Dropping it publishes the changes: listeners open or close, stale
/// connections drop, and `event.from` waiters wake. Every change that can affect them bumps the
/// generation or changes the fault list, so an unchanged pair skips the work.
pub struct DbGuard<'a> {
    guard: MutexGuard<'a, Db>,
    shared: &'a Shared,
    /// Generation and fault count when locked: unchanged means nothing to publish.
    seen: (u64, usize),
}

impl std::ops::Deref for DbGuard<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.guard
    }
}

impl std::ops::DerefMut for DbGuard<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.guard
    }
}

impl Drop for DbGuard<'_> {
    fn drop(&mut self) {
        if (self.guard.gen, self.guard.faults.len()) == self.seen {
            return;
        }
        for (h, tx) in self.shared.nets.iter().enumerate() {
            let want = NetState {
                listening: self.guard.online(h),
                epoch: self.guard.hosts[h].epoch,
            };
            tx.send_if_modified(|cur| {
                let changed = *cur != want;
                *cur = want;
                changed
            });
        }
        let gen = self.guard.gen;
        self.shared.gen_tx.send_if_modified(|cur| {
            let changed = *cur != gen;
            *cur = gen;
            changed
        });
    }
}

impl Shared {
    /// Wraps a seeded database.
    pub fn new(db: Db, opts: FarmOptions, thumbprints: Vec<Option<String>>) -> Shared {
        let nets: Vec<watch::Sender<NetState>> = db
            .hosts
            .iter()
            .map(|h| {
                watch::channel(NetState {
                    listening: h.xapi_up,
                    epoch: h.epoch,
                })
                .0
            })
            .collect();
        let gen_tx = watch::channel(db.gen).0;
        let bound: Vec<AtomicBool> = (0..nets.len()).map(|_| AtomicBool::new(true)).collect();
        Shared {
            db: Mutex::new(db),
            opts,
            nets,
            gen_tx,
            thumbprints,
            bound,
        }
    }

    /// Locks the database (a poisoned lock is recovered: the state is plain data).
    pub fn lock(&self) -> DbGuard<'_> {
        let guard = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let seen = (guard.gen, guard.faults.len());
        DbGuard {
            guard,
            shared: self,
            seen,
        }
    }

    /// A simulated duration scaled by `--time-scale`.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.opts.time_scale.max(0.0))
    }

    /// Sleeps for a simulated duration (still yields when it scales to zero, so the effect
    /// stays asynchronous).
    pub async fn sim_sleep(&self, d: Duration) {
        let d = self.scaled(d);
        if d.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(d).await;
        }
    }

    /// Whether host `h`'s listener is bound now.
    pub fn is_bound(&self, h: HostId) -> bool {
        self.bound.get(h).is_some_and(|b| b.load(Ordering::SeqCst))
    }

    /// Records whether host `h`'s listener is bound.
    pub fn set_bound(&self, h: HostId, bound: bool) {
        if let Some(b) = self.bound.get(h) {
            b.store(bound, Ordering::SeqCst);
        }
    }

    /// The farm's state as `GET /state` shows it.
    pub fn snapshot(&self) -> crate::snapshot::FarmState {
        let db = self.lock();
        let bound: Vec<bool> = (0..db.hosts.len()).map(|h| self.is_bound(h)).collect();
        crate::snapshot::take(&db, &bound)
    }

    /// A receiver for host `h`'s network switch.
    pub fn net(&self, h: HostId) -> watch::Receiver<NetState> {
        self.nets[h].subscribe()
    }
}
