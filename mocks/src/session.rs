//! `session.*`: logins (normal on a master, slave-local on any host), logout, and the
//! 500-sessions-per-originator / per-user limit.

use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc::Value;

use crate::call::Call;
use crate::records;
use crate::shared::Shared;
use crate::state::{new_ref, Db, HostId, Role, Session, XResult, XapiError};

/// XAPI keeps at most this many sessions per originator and per user name.
pub const MAX_SESSIONS: usize = 500;

/// Checks a user name and password against the farm's credentials.
pub async fn check_credentials(shared: &Shared, user: &str, password: &str) -> XResult<()> {
    if user == shared.opts.username && password == shared.opts.password {
        return Ok(());
    }
    shared
        .sim_sleep(shared.opts.timings.login_failure_delay)
        .await;
    Err(XapiError::new(
        ErrorCode::SESSION_AUTHENTICATION_FAILED,
        [user, "Authentication failure"],
    ))
}

/// The `HOST_IS_SLAVE` a supporter answers a TCP login with.
pub fn refuse_on_slave(db: &Db, h: HostId) -> XResult<()> {
    match db.hosts[h].role {
        Role::Slave(master) => Err(XapiError::new(
            ErrorCode::HOST_IS_SLAVE,
            [master.to_string()],
        )),
        Role::Master => Ok(()),
    }
}

fn create(db: &mut Db, h: HostId, local: bool, user: &str, originator: &str) -> String {
    db.session_seq += 1;
    let reference = new_ref();
    let session = Session {
        pool: db.hosts[h].pool.clone().unwrap_or_default(),
        host: h,
        local,
        user: user.to_owned(),
        originator: originator.to_owned(),
        seq: db.session_seq,
    };
    db.sessions.insert(reference.clone(), session);
    for by_user in [false, true] {
        let key = |s: &Session| {
            if by_user {
                s.user.clone()
            } else {
                s.originator.clone()
            }
        };
        let wanted = if by_user { user } else { originator };
        let mut same: Vec<(u64, String)> = db
            .sessions
            .iter()
            .filter(|(_, s)| key(s) == wanted)
            .map(|(r, s)| (s.seq, r.clone()))
            .collect();
        if same.len() > MAX_SESSIONS {
            same.sort();
            for (_, old) in &same[..same.len() - MAX_SESSIONS] {
                db.sessions.remove(old);
            }
        }
    }
    reference
}

/// `session.login_with_password(uname, pwd [, version [, originator]])`.
pub async fn login_with_password(c: Call) -> XResult<Value> {
    let (user, password) = (c.str(0)?, c.str(1)?);
    let originator = if c.args.len() > 3 {
        c.str(3)?
    } else {
        String::new()
    };
    refuse_on_slave(&c.shared.lock(), c.host)?;
    check_credentials(&c.shared, &user, &password).await?;
    let mut db = c.shared.lock();
    refuse_on_slave(&db, c.host)?;
    Ok(Value::String(create(
        &mut db,
        c.host,
        false,
        &user,
        &originator,
    )))
}

/// `session.slave_local_login_with_password(uname, pwd)`: a session valid on this host only.
pub async fn slave_local_login(c: Call) -> XResult<Value> {
    let (user, password) = (c.str(0)?, c.str(1)?);
    check_credentials(&c.shared, &user, &password).await?;
    let mut db = c.shared.lock();
    Ok(Value::String(create(&mut db, c.host, true, &user, "")))
}

/// `session.logout` / `session.local_logout`.
pub async fn logout(c: Call) -> XResult<Value> {
    if let Some(s) = &c.session {
        c.shared.lock().sessions.remove(s);
    }
    Ok(records::s(""))
}

/// `session.get_this_host(self)`: the host that issued the session.
pub async fn get_this_host(c: Call) -> XResult<Value> {
    let r = c.str(0)?;
    let db = c.shared.lock();
    let s = db
        .sessions
        .get(&r)
        .ok_or_else(|| XapiError::new(ErrorCode::SESSION_INVALID, [r.clone()]))?;
    Ok(Value::String(db.hosts[s.host].reference.clone()))
}
