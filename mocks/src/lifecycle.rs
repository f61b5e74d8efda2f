//! Host lifecycle: fresh installs, XAPI restarts, the post-join sync and the post-eject
//! reboot. Timed steps run on spawned tasks; a newer chain of steps for a host supersedes an
//! older one still sleeping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use xenpool_xapi_types::PowerState;

use crate::shared::Shared;
use crate::state::{new_ref, new_uuid, Db, Disks, HostId, Pool, Role, Sr, Vm, MIB};

/// Unscaled simulated durations; `--time-scale` multiplies them.
#[derive(Debug, Clone, PartialEq)]
pub struct Timings {
    /// Delay between a pool-changing call's reply and the XAPI restart it triggers (XAPI's fuse).
    pub fuse: Duration,
    /// How long XAPI is down while it restarts.
    pub xapi_restart: Duration,
    /// How long a restarted supporter syncs before it turns `enabled=true`.
    pub member_sync: Duration,
    /// How long an ejected host takes to reboot.
    pub reboot: Duration,
    /// Live-migration time per GiB of VM memory.
    pub migrate_per_gib: Duration,
    /// Time `designate_new_master` spends syncing the database before the commit.
    pub designate: Duration,
    /// Delay before `SESSION_AUTHENTICATION_FAILED` (XAPI: none for local users).
    pub login_failure_delay: Duration,
    /// Time a VM start or shutdown takes.
    pub vm_power_op: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            fuse: Duration::from_secs(10),
            xapi_restart: Duration::from_secs(5),
            member_sync: Duration::from_secs(5),
            reboot: Duration::from_secs(30),
            migrate_per_gib: Duration::from_secs(2),
            designate: Duration::from_secs(1),
            login_failure_delay: Duration::ZERO,
            vm_power_op: Duration::from_millis(500),
        }
    }
}

/// Installs a host as a fresh standalone master: new pool, control domain and empty local SR.
/// Used at farm start and after the reboot that follows an eject.
pub fn fresh_install(db: &mut Db, h: HostId) {
    let pool_ref = new_ref();
    let gen = db.bump();
    let knobs = db.hosts[h].knobs.clone();
    db.pools.insert(
        pool_ref.clone(),
        Pool {
            uuid: new_uuid(),
            name_label: String::new(),
            master: h,
            ha_enabled: knobs.ha_enabled,
            tls_verification: knobs.tls_verification,
            other_config: BTreeMap::new(),
            current_operations: BTreeMap::new(),
            gen,
            created_gen: gen,
        },
    );
    let sr = new_ref();
    db.srs.insert(sr.clone(), Sr { host: h });
    let dom0 = new_ref();
    let dom0_bytes = db.hosts[h].dom0_mib * MIB;
    db.vms.insert(
        dom0.clone(),
        Vm {
            uuid: new_uuid(),
            name: format!("Control domain on host: {}", db.hosts[h].name),
            pool: pool_ref.clone(),
            power_state: PowerState::Running,
            resident_on: Some(h),
            affinity: Some(h),
            static_min: dom0_bytes,
            static_max: dom0_bytes,
            dynamic_min: dom0_bytes,
            dynamic_max: dom0_bytes,
            vcpus: 4,
            disks: Disks::None,
            pci: None,
            is_control_domain: true,
            other_config: BTreeMap::new(),
            blocked_operations: BTreeMap::new(),
            current_operations: BTreeMap::new(),
            migrating_to: None,
            domid: 0,
            gen,
            created_gen: gen,
        },
    );
    let host = &mut db.hosts[h];
    host.name_label = host.name.clone();
    host.uuid = new_uuid();
    host.reference = new_ref();
    host.metrics = new_ref();
    host.pool = Some(pool_ref);
    host.role = Role::Master;
    host.enabled = true;
    host.disabled_persist = false;
    host.syncing = false;
    host.frozen_by = None;
    host.other_config = BTreeMap::new();
    host.local_sr = sr;
    host.dom0 = dom0;
    host.proposed_master = None;
    host.gen = gen;
    host.created_gen = gen;
}

/// XAPI stops: connections drop, in-memory sessions and proposals are gone.
pub fn xapi_down(db: &mut Db, h: HostId) {
    let host = &mut db.hosts[h];
    host.xapi_up = false;
    host.epoch += 1;
    host.proposed_master = None;
    let master_of = (host.role == Role::Master)
        .then(|| host.pool.clone())
        .flatten();
    if let Some(pool) = master_of {
        db.kill_pool_sessions(&pool);
    }
    db.kill_local_sessions(h);
    db.touch_host(h);
}

/// XAPI is back. A master re-enables itself at once (unless disabled with `auto_enable=false`);
/// a supporter first syncs with its master (see [`finish_sync`]).
pub fn xapi_up(db: &mut Db, h: HostId) {
    let host = &mut db.hosts[h];
    host.xapi_up = true;
    match host.role {
        Role::Master => {
            host.syncing = false;
            host.enabled = !host.disabled_persist;
        }
        Role::Slave(_) => {
            host.syncing = true;
            host.enabled = false;
        }
    }
    db.touch_host(h);
}

/// A supporter finished syncing: it turns enabled (unless held half-joined or disabled with
/// `auto_enable=false`).
pub fn finish_sync(db: &mut Db, h: HostId) {
    let host = &mut db.hosts[h];
    if !host.xapi_up || !host.syncing || host.frozen_by.is_some() {
        return;
    }
    host.syncing = false;
    host.enabled = !host.disabled_persist;
    db.touch_host(h);
}

/// The fuse never burns faster than this, so a call's reply leaves before the restart it
/// triggers even at `--time-scale 0` (XAPI: the call returns, then the toolstack restarts).
pub const MIN_FUSE: Duration = Duration::from_millis(10);

async fn burn_fuse(shared: &Shared) {
    let fuse = shared.scaled(shared.opts.timings.fuse).max(MIN_FUSE);
    tokio::time::sleep(fuse).await;
}

/// Starts a new lifecycle chain for a host, superseding any still sleeping.
fn new_chain(shared: &Shared, h: HostId) -> u64 {
    let mut db = shared.lock();
    db.hosts[h].chain += 1;
    db.hosts[h].chain
}

fn chain_current(db: &Db, h: HostId, chain: u64) -> bool {
    db.hosts[h].chain == chain
}

/// After the fuse, restart the host's XAPI; a supporter then syncs and turns enabled.
pub fn spawn_restart(shared: &Arc<Shared>, h: HostId) {
    let shared = shared.clone();
    let chain = new_chain(&shared, h);
    tokio::spawn(async move {
        burn_fuse(&shared).await;
        restart_now(&shared, h, chain).await;
    });
}

/// XAPI crashes now: connections and sessions drop at once; it restarts after the restart
/// delay, and a supporter then syncs.
pub fn crash(shared: &Arc<Shared>, h: HostId) {
    let chain = {
        let mut db = shared.lock();
        db.hosts[h].chain += 1;
        xapi_down(&mut db, h);
        db.hosts[h].chain
    };
    let shared = shared.clone();
    tokio::spawn(async move { start_later(&shared, h, chain).await });
}

/// A host that was down (offline fault cleared) boots its XAPI again.
pub fn spawn_boot(shared: &Arc<Shared>, h: HostId) {
    let shared = shared.clone();
    let chain = new_chain(&shared, h);
    tokio::spawn(async move { start_later(&shared, h, chain).await });
}

async fn restart_now(shared: &Arc<Shared>, h: HostId, chain: u64) {
    {
        let mut db = shared.lock();
        if !chain_current(&db, h, chain) {
            return;
        }
        xapi_down(&mut db, h);
    }
    start_later(shared, h, chain).await;
}

async fn start_later(shared: &Arc<Shared>, h: HostId, chain: u64) {
    shared.sim_sleep(shared.opts.timings.xapi_restart).await;
    {
        let mut db = shared.lock();
        if !chain_current(&db, h, chain) {
            return;
        }
        if db.hosts[h].pool.is_none() {
            fresh_install(&mut db, h);
        }
        xapi_up(&mut db, h);
    }
    sync_later(shared, h, chain).await;
}

async fn sync_later(shared: &Arc<Shared>, h: HostId, chain: u64) {
    shared.sim_sleep(shared.opts.timings.member_sync).await;
    let mut db = shared.lock();
    if chain_current(&db, h, chain) {
        finish_sync(&mut db, h);
    }
}

/// A half-joined host was released: it finishes its sync (a restart still pending runs on).
pub fn spawn_sync(shared: &Arc<Shared>, h: HostId) {
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.sim_sleep(shared.opts.timings.member_sync).await;
        finish_sync(&mut shared.lock(), h);
    });
}

/// After an eject: the fuse, then the reboot, then a fresh standalone install.
pub fn spawn_eject_reboot(shared: &Arc<Shared>, h: HostId) {
    let shared = shared.clone();
    let chain = new_chain(&shared, h);
    tokio::spawn(async move {
        burn_fuse(&shared).await;
        {
            let mut db = shared.lock();
            if !chain_current(&db, h, chain) {
                return;
            }
            xapi_down(&mut db, h);
        }
        shared.sim_sleep(shared.opts.timings.reboot).await;
        let mut db = shared.lock();
        if !chain_current(&db, h, chain) {
            return;
        }
        fresh_install(&mut db, h);
        db.hosts[h].xapi_up = true;
        db.touch_host(h);
    });
}
