//! `pool.*` membership calls: join / join_force (run on the joiner, which logs in to the master
//! itself), eject (run on the master; wipes the host), designate_new_master (a two-phase
//! commit), and the emergency calls.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpool_xapi_types::{ErrorCode, PowerState};
use xenpool_xmlrpc::Value;

use crate::call::Call;
use crate::faults::FaultKind;
use crate::lifecycle;
use crate::records;
use crate::rpc::{self, Outcome};
use crate::shared::Shared;
use crate::state::{new_ref, Db, Disks, HostId, Role, XResult, XapiError};

/// How long a host refuses a different proposed master after accepting one (XAPI: 10 min).
pub const PROPOSAL_HOLD: Duration = Duration::from_secs(600);

fn err<const N: usize>(code: ErrorCode, params: [&str; N]) -> XapiError {
    XapiError::new(code, params)
}

fn void() -> XResult<Value> {
    Ok(records::s(""))
}

/// `pool.join(master_address, master_username, master_password)`.
pub async fn join(c: Call) -> XResult<Value> {
    join_common(c, false).await
}

/// `pool.join_force(…)`: skips only the software-version and CPU-vendor checks.
pub async fn join_force(c: Call) -> XResult<Value> {
    join_common(c, true).await
}

async fn join_common(c: Call, force: bool) -> XResult<Value> {
    let (address, user, password) = (c.str(0)?, c.str(1)?, c.str(2)?);
    let j = c.host;
    if !c.shared.lock().hosts[j].knobs.pooling_licensed {
        return Err(XapiError::bare(ErrorCode::LICENCE_RESTRICTION));
    }
    let m = remote_login(&c.shared, &address, &user, &password).await?;
    let mut db = c.shared.lock();
    if db.hosts[j].pool.as_deref() != Some(c.pool.as_str()) || db.hosts[m].pool.is_none() {
        return Err(err(
            ErrorCode::INTERNAL_ERROR,
            ["the pool changed while joining"],
        ));
    }
    prechecks(&db, j, m, force)?;
    let freeze = take_freeze(&mut db, j);
    commit_join(&mut db, j, m);
    if let Some(id) = freeze {
        tracing::info!(host = %db.hosts[j].name, fault = %id, "join frozen half-way");
        db.hosts[j].frozen_by = Some(id);
    }
    tracing::info!(host = %db.hosts[j].name, master = %db.hosts[m].name, "pool.join committed");
    drop(db);
    lifecycle::spawn_restart(&c.shared, j);
    void()
}

/// The joiner's login to the master: through the master's endpoint logic (its faults, counts
/// and role), as XAPI opens a real connection. A dropped connection is
/// `JOINING_HOST_CONNECTION_FAILED`; nothing listening is an `INTERNAL_ERROR`.
async fn remote_login(
    shared: &Arc<Shared>,
    address: &str,
    user: &str,
    password: &str,
) -> XResult<HostId> {
    let refused = || {
        err(
            ErrorCode::INTERNAL_ERROR,
            ["Unix.Unix_error(Unix.ECONNREFUSED, \"connect\", \"\")"],
        )
    };
    let m = {
        let db = shared.lock();
        let m = db.host_by_address(address).ok_or_else(refused)?;
        if !db.online(m) {
            return Err(refused());
        }
        m
    };
    let params = vec![
        user.into(),
        password.into(),
        "1.1".into(),
        "xapi-pool-join".into(),
    ];
    match rpc::dispatch(
        shared.clone(),
        m,
        "session.login_with_password".into(),
        params,
    )
    .await
    {
        Outcome::Value(session) => {
            if let Some(s) = session.as_str() {
                shared.lock().sessions.remove(s);
            }
            Ok(m)
        }
        Outcome::Error(e) => Err(e),
        Outcome::Drop => Err(XapiError::bare(ErrorCode::JOINING_HOST_CONNECTION_FAILED)),
    }
}

/// `pre_join_checks` in XAPI's order (§2.3 checks 1–4, 6–25, 28 and 31; the others have no
/// state in the model).
fn prechecks(db: &Db, j: HostId, m: HostId, force: bool) -> XResult<()> {
    let (jh, mh) = (&db.hosts[j], &db.hosts[m]);
    let (jk, mk) = (&jh.knobs, &mh.knobs);
    let jpool = jh.pool.clone().unwrap_or_default();
    let mpool = mh.pool.clone().unwrap_or_default();
    let joiner_hosts = db.members(&jpool).len();
    if jk.pool_size_restricted && db.members(&mpool).len() >= 3 {
        return Err(err(ErrorCode::LICENCE_RESTRICTION, ["Pool_size"]));
    }
    if !jk.management_ip {
        return Err(XapiError::bare(ErrorCode::HOST_STILL_BOOTING));
    }
    if db.pools[&jpool].ha_enabled {
        return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
    }
    if let Some(cluster_host) = &jk.cluster_host {
        return Err(XapiError::new(
            ErrorCode::CLUSTERING_ENABLED,
            [cluster_host.as_str()],
        ));
    }
    if db.pools[&mpool].ha_enabled {
        return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
    }
    if jpool == mpool {
        let why = if joiner_hosts > 1 {
            "Host is already part of a pool"
        } else {
            "Host cannot become slave of itself"
        };
        return Err(err(ErrorCode::OPERATION_NOT_ALLOWED, [why]));
    }
    if joiner_hosts > 1 {
        return Err(XapiError::bare(
            ErrorCode::JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS,
        ));
    }
    let joiner_vms = || {
        db.vms
            .values()
            .filter(|v| v.pool == jpool && !v.is_control_domain)
    };
    if joiner_vms().any(|v| v.power_state == PowerState::Running) {
        return Err(XapiError::bare(
            ErrorCode::JOINING_HOST_CANNOT_HAVE_RUNNING_VMS,
        ));
    }
    if joiner_vms().any(|v| !v.current_operations.is_empty()) {
        return Err(XapiError::bare(
            ErrorCode::JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS,
        ));
    }
    for (k, h) in [(jk, jh), (mk, mh)] {
        if k.pending_guidance {
            return Err(XapiError::new(
                ErrorCode::HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY,
                [h.reference.as_str()],
            ));
        }
    }
    if jk.platform_version != mk.platform_version || jk.product_brand != mk.product_brand {
        return Err(XapiError::bare(ErrorCode::HOSTS_NOT_COMPATIBLE));
    }
    if !force && jk.software_version != mk.software_version {
        return Err(err(
            ErrorCode::HOSTS_NOT_HOMOGENEOUS,
            ["Software version differs"],
        ));
    }
    if !force && jk.cpu_vendor != mk.cpu_vendor {
        return Err(err(ErrorCode::HOSTS_NOT_HOMOGENEOUS, ["CPUs differ"]));
    }
    let flags = [
        (
            jk.shared_sr,
            ErrorCode::JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS,
        ),
        (jk.bonds, ErrorCode::POOL_JOINING_HOST_HAS_BONDS),
        (jk.tunnels, ErrorCode::POOL_JOINING_HOST_HAS_TUNNELS),
        (jk.sriovs, ErrorCode::POOL_JOINING_HOST_HAS_NETWORK_SRIOVS),
        (
            jk.non_management_vlans,
            ErrorCode::POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS,
        ),
    ];
    if let Some((_, code)) = flags.into_iter().find(|(set, _)| *set) {
        return Err(XapiError::bare(code));
    }
    if jk.management_vlan != mk.management_vlan {
        return Err(XapiError::new(
            ErrorCode::POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH,
            [
                jk.management_vlan.to_string(),
                mk.management_vlan.to_string(),
            ],
        ));
    }
    if !jk.external_auth.eq_ignore_ascii_case(&mk.external_auth) {
        return Err(XapiError::bare(
            ErrorCode::POOL_JOINING_EXTERNAL_AUTH_MISMATCH,
        ));
    }
    if jk.edition != mk.edition {
        return Err(XapiError::new(
            ErrorCode::LICENSE_HOST_POOL_MISMATCH,
            [
                format!("host edition = \"{}\"", jk.edition),
                format!("pool edition = \"{}\"", mk.edition),
            ],
        ));
    }
    if jk.network_backend != mk.network_backend {
        return Err(err(
            ErrorCode::OPERATION_NOT_ALLOWED,
            ["Network backends differ"],
        ));
    }
    if jk.api_version != mk.api_version {
        let v = |k: (u32, u32)| format!("{}.{}", k.0, k.1);
        return Err(XapiError::new(
            ErrorCode::POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION,
            [v(jk.api_version), v(mk.api_version)],
        ));
    }
    if jk.db_schema != mk.db_schema {
        return Err(XapiError::new(
            ErrorCode::POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA,
            [jk.db_schema.clone(), mk.db_schema.clone()],
        ));
    }
    if jk.updates != mk.updates {
        return Err(XapiError::new(
            ErrorCode::HOSTS_NOT_HOMOGENEOUS,
            [format!(
                "Updates on local host {} and pool host {} differ",
                jh.uuid, mh.uuid
            )],
        ));
    }
    if db.pools[&jpool].tls_verification != db.pools[&mpool].tls_verification {
        return Err(XapiError::bare(
            ErrorCode::POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH,
        ));
    }
    if jk.upgrading || mk.upgrading {
        return Err(XapiError::bare(ErrorCode::NOT_SUPPORTED_DURING_UPGRADE));
    }
    Ok(())
}

/// Uses up a `freeze_join` fault aimed at the joiner, if any; returns its id.
fn take_freeze(db: &mut Db, j: HostId) -> Option<String> {
    let name = db.hosts[j].name.clone();
    let f = db.faults.iter_mut().find(|f| {
        f.fault.kind == FaultKind::FreezeJoin
            && f.holding.is_none()
            && f.fault.host.as_deref().is_none_or(|h| h == name)
            && f.fault
                .method
                .as_deref()
                .is_none_or(|m| m == "pool.join" || m == "pool.join_force")
            && f.remaining != Some(0)
    })?;
    f.consume();
    f.holding = Some(name);
    Some(f.id.clone())
}

/// The point of no return: the joiner's records move into the master's database (host record
/// `enabled=false`, its non-running VMs and local SR), its old one-host pool is gone.
pub(crate) fn commit_join(db: &mut Db, j: HostId, m: HostId) {
    let old = db.hosts[j].pool.clone().unwrap_or_default();
    let new = db.hosts[m].pool.clone().unwrap_or_default();
    let master_addr = db.hosts[m].address;
    let moved: Vec<String> = db
        .vms
        .iter()
        .filter(|(_, v)| v.pool == old)
        .map(|(r, _)| r.clone())
        .collect();
    for r in moved {
        let g = db.bump();
        let v = db.vms.get_mut(&r).expect("listed above");
        v.pool = new.clone();
        v.gen = g;
        v.created_gen = g;
    }
    db.tasks.retain(|_, t| t.pool != old);
    db.kill_pool_sessions(&old);
    db.pools.remove(&old);
    db.tombstone("pool", &old, &old);
    let g = db.bump();
    let host = &mut db.hosts[j];
    host.reference = new_ref();
    host.pool = Some(new);
    host.role = Role::Slave(master_addr);
    host.enabled = false;
    host.syncing = true;
    host.gen = g;
    host.created_gen = g;
}

/// Waits while a blocking pool operation runs (XAPI retries waiting ops with backoff).
async fn wait_for_pool_operations(c: &Call) {
    let deadline = Instant::now() + Duration::from_secs(7200);
    while Instant::now() < deadline {
        let busy = c
            .shared
            .lock()
            .pools
            .get(&c.pool)
            .is_some_and(|p| !p.current_operations.is_empty());
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `pool.eject(host)`, on the master.
pub async fn eject(c: Call) -> XResult<Value> {
    {
        let db = c.shared.lock();
        let t = c.host_arg(&db, 0)?;
        if t == db.pools[&c.pool].master {
            return Err(err(
                ErrorCode::INTERNAL_ERROR,
                ["Xapi_pool.Cannot_eject_master"],
            ));
        }
    }
    wait_for_pool_operations(&c).await;
    let mut db = c.shared.lock();
    let t = c.host_arg(&db, 0)?;
    if !db.live(t) {
        return Err(XapiError::new(
            ErrorCode::HOST_OFFLINE,
            [db.hosts[t].reference.clone()],
        ));
    }
    if db.pools[&c.pool].ha_enabled {
        return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
    }
    if db.hosts[t].knobs.upgrading {
        return Err(XapiError::bare(ErrorCode::NOT_SUPPORTED_DURING_UPGRADE));
    }
    if db.vms.values().any(|v| {
        v.resident_on == Some(t) && !v.is_control_domain && v.power_state != PowerState::Halted
    }) {
        return Err(err(
            ErrorCode::OPERATION_NOT_ALLOWED,
            ["VM resident on host"],
        ));
    }
    wipe(&mut db, t, &c.pool);
    tracing::info!(host = %db.hosts[t].name, "pool.eject committed: host reboots into a fresh pool");
    drop(db);
    lifecycle::spawn_eject_reboot(&c.shared, t);
    void()
}

/// Removes an ejected host from the pool's database: its record, control domain and local SR
/// go; VM records stay (those with disks on its SR lose them).
fn wipe(db: &mut Db, t: HostId, pool: &str) {
    let sr = db.hosts[t].local_sr.clone();
    db.srs.remove(&sr);
    let dom0 = db.hosts[t].dom0.clone();
    db.vms.remove(&dom0);
    db.tombstone("vm", &dom0, pool);
    let lost: Vec<String> = db
        .vms
        .iter()
        .filter(|(_, v)| matches!(&v.disks, Disks::Local { sr: s, .. } if *s == sr))
        .map(|(r, _)| r.clone())
        .collect();
    for r in lost {
        db.touch_vm(&r);
    }
    let host_ref = db.hosts[t].reference.clone();
    db.tombstone("host", &host_ref, pool);
    db.hosts[t].pool = None;
    db.hosts[t].enabled = false;
}

/// `pool.designate_new_master(host)`, on the current master.
pub async fn designate_new_master(c: Call) -> XResult<Value> {
    let op = c.task.clone().unwrap_or_else(new_ref);
    {
        let mut db = c.shared.lock();
        let t = c.host_arg(&db, 0)?;
        let p = &db.pools[&c.pool];
        if p.current_operations
            .values()
            .any(|o| o == "designate_new_master")
        {
            return Err(XapiError::bare(ErrorCode::DESIGNATE_NEW_MASTER_IN_PROGRESS));
        }
        if !db.live(t) {
            return Err(XapiError::new(
                ErrorCode::HOST_OFFLINE,
                [db.hosts[t].reference.clone()],
            ));
        }
        if t == p.master && db.hosts[t].role == Role::Master {
            return void();
        }
        if p.ha_enabled {
            return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
        }
        let pool = db.pools.get_mut(&c.pool).expect("checked");
        pool.current_operations
            .insert(op.clone(), "designate_new_master".into());
        db.touch_pool(&c.pool);
    }
    c.shared.sim_sleep(c.shared.opts.timings.designate).await;
    let members = {
        let mut db = c.shared.lock();
        if let Some(p) = db.pools.get_mut(&c.pool) {
            p.current_operations.remove(&op);
        }
        db.touch_pool(&c.pool);
        let t = c.host_arg(&db, 0)?;
        two_phase_commit(&mut db, &c.pool, t)?
    };
    for m in members {
        lifecycle::spawn_restart(&c.shared, m);
    }
    void()
}

/// Proposes `t` to every member (any unreachable one or a recent different proposal aborts),
/// then commits: `t` becomes master, everyone else its supporter, all sessions die.
fn two_phase_commit(db: &mut Db, pool: &str, t: HostId) -> XResult<Vec<HostId>> {
    let members = db.members(pool);
    if let Some(&down) = members.iter().find(|&&m| !db.live(m)) {
        return Err(XapiError::new(
            ErrorCode::CANNOT_CONTACT_HOST,
            [db.hosts[down].reference.clone()],
        ));
    }
    let addr = db.hosts[t].address;
    for &m in &members {
        if let Some((other, when)) = db.hosts[m].proposed_master {
            let age = when.elapsed();
            if other != addr && age < PROPOSAL_HOLD {
                return Err(XapiError::new(
                    ErrorCode::HA_ABORT_NEW_MASTER,
                    [format!(
                        "Already agreed to commit host address '{other}' ('{:.6}' secs ago)",
                        age.as_secs_f64()
                    )],
                ));
            }
        }
    }
    let now = Instant::now();
    for &m in &members {
        let host = &mut db.hosts[m];
        host.proposed_master = Some((addr, now));
        host.role = if m == t {
            Role::Master
        } else {
            Role::Slave(addr)
        };
        db.touch_host(m);
    }
    db.pools.get_mut(pool).expect("member's pool").master = t;
    db.touch_pool(pool);
    db.kill_pool_sessions(pool);
    tracing::info!(new_master = %db.hosts[t].name, "designate_new_master committed");
    Ok(members)
}

/// `pool.emergency_transition_to_master()`: this supporter takes the master role.
pub async fn emergency_transition_to_master(c: Call) -> XResult<Value> {
    let h = c.host;
    {
        let mut db = c.shared.lock();
        if db.hosts[h].role == Role::Master {
            return void();
        }
        if db.pools.get(&c.pool).is_some_and(|p| p.ha_enabled) {
            return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
        }
        db.hosts[h].role = Role::Master;
        if let Some(p) = db.pools.get_mut(&c.pool) {
            p.master = h;
        }
        db.touch_pool(&c.pool);
        db.touch_host(h);
        db.kill_pool_sessions(&c.pool);
    }
    lifecycle::spawn_restart(&c.shared, h);
    void()
}

/// `pool.recover_slaves()`: re-points every reachable member at this master; unreachable ones
/// are skipped silently. Returns the hosts that accepted.
pub async fn recover_slaves(c: Call) -> XResult<Value> {
    let mut accepted = Vec::new();
    {
        let mut db = c.shared.lock();
        let addr = db.hosts[c.host].address;
        for m in db.members(&c.pool) {
            if m == c.host || !db.online(m) {
                continue;
            }
            db.hosts[m].role = Role::Slave(addr);
            db.touch_host(m);
            accepted.push(m);
        }
    }
    let refs: Vec<String> = {
        let db = c.shared.lock();
        accepted
            .iter()
            .map(|&m| db.hosts[m].reference.clone())
            .collect()
    };
    for m in accepted {
        lifecycle::spawn_restart(&c.shared, m);
    }
    Ok(records::list(refs))
}

/// `pool.emergency_reset_master(master_address)`: this host becomes a supporter of that master.
pub async fn emergency_reset_master(c: Call) -> XResult<Value> {
    let address = c.str(0)?;
    let addr: Ipv4Addr = address.parse().map_err(|_| {
        XapiError::new(
            ErrorCode::INTERNAL_ERROR,
            [format!("gethostbyname: cannot resolve {address:?}")],
        )
    })?;
    {
        let mut db = c.shared.lock();
        if db.pools.get(&c.pool).is_some_and(|p| p.ha_enabled) {
            return Err(XapiError::bare(ErrorCode::HA_IS_ENABLED));
        }
        db.hosts[c.host].role = Role::Slave(addr);
        db.touch_host(c.host);
    }
    lifecycle::spawn_restart(&c.shared, c.host);
    void()
}
