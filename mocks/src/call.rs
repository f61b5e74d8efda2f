//! An authorised API call: which host it reached, whose session it carries, which pool's
//! database it sees, and typed access to its parameters.

use std::collections::BTreeMap;
use std::sync::Arc;

use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc::Value;

use crate::methods::Method;
use crate::shared::Shared;
use crate::state::{Db, HostId, Role, XResult, XapiError};

/// What a method needs before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionNeed {
    /// Login calls: no session parameter.
    Login,
    /// `slave_local_login_with_password`: no session parameter, allowed in emergency mode.
    LocalLogin,
    /// A normal call: a session valid on this host, and this host must be the master.
    Session,
    /// An emergency call: allowed in emergency mode, and with a slave-local session on a member.
    Emergency,
}

impl SessionNeed {
    /// Whether parameter 0 is a session ref.
    pub fn takes_session(self) -> bool {
        matches!(self, SessionNeed::Session | SessionNeed::Emergency)
    }

    /// Whether the call is on XAPI's emergency list.
    pub fn emergency_ok(self) -> bool {
        matches!(self, SessionNeed::LocalLogin | SessionNeed::Emergency)
    }
}

/// A call that passed the session and role checks.
#[derive(Debug, Clone)]
pub struct Call {
    /// The farm.
    pub shared: Arc<Shared>,
    /// The host whose endpoint received the call.
    pub host: HostId,
    /// The method's wire name without `Async.`.
    pub name: String,
    /// The session ref, when the method takes one.
    pub session: Option<String>,
    /// The pool whose database the call sees (the endpoint host's pool).
    pub pool: String,
    /// Parameters after the session.
    pub args: Vec<Value>,
    /// The task this call runs under, for `Async.` calls.
    pub task: Option<String>,
}

fn type_error(what: &str) -> XapiError {
    XapiError::new(ErrorCode::FIELD_TYPE_ERROR, [what])
}

impl Call {
    /// Runs the checks XAPI makes before a handler: half-joined hosts and emergency mode answer
    /// their stashed error, supporters answer `HOST_IS_SLAVE` to normal sessions, unknown or
    /// foreign sessions get `SESSION_INVALID`.
    pub fn authorize(
        shared: Arc<Shared>,
        h: HostId,
        name: &str,
        method: &Method,
        session: Option<Value>,
        args: Vec<Value>,
    ) -> XResult<Call> {
        let db = shared.lock();
        let host = &db.hosts[h];
        if host.frozen_by.is_some() {
            return Err(XapiError::bare(ErrorCode::HOST_STILL_BOOTING));
        }
        if !method.need.emergency_ok() {
            if let Some(e) = db.emergency_error(h) {
                return Err(e);
            }
        }
        let pool = host.pool.clone().unwrap_or_default();
        let session = match (method.need.takes_session(), session) {
            (false, _) => None,
            (true, None) => return Err(type_error("session_id")),
            (true, Some(v)) => {
                let reference = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{v:?}"));
                let found = db.sessions.get(&reference);
                let local_here = found.is_some_and(|s| s.local && s.host == h);
                if !local_here {
                    if let Role::Slave(master) = host.role {
                        return Err(XapiError::new(
                            ErrorCode::HOST_IS_SLAVE,
                            [master.to_string()],
                        ));
                    }
                    if !found.is_some_and(|s| !s.local && s.pool == pool) {
                        return Err(XapiError::new(ErrorCode::SESSION_INVALID, [reference]));
                    }
                }
                Some(reference)
            }
        };
        drop(db);
        Ok(Call {
            shared,
            host: h,
            name: name.to_owned(),
            session,
            pool,
            args,
            task: None,
        })
    }

    fn arg(&self, i: usize) -> &Value {
        &self.args[i]
    }

    /// Parameter `i` as a string.
    pub fn str(&self, i: usize) -> XResult<String> {
        match self.arg(i) {
            Value::String(s) => Ok(s.clone()),
            other => Err(type_error(&format!(
                "parameter {} must be a string, got {}",
                i + 1,
                other.type_name()
            ))),
        }
    }

    /// Parameter `i` as a boolean.
    pub fn bool(&self, i: usize) -> XResult<bool> {
        self.arg(i)
            .as_bool()
            .ok_or_else(|| type_error(&format!("parameter {} must be a boolean", i + 1)))
    }

    /// Parameter `i` as a float (XAPI also accepts ints and decimal strings).
    pub fn float(&self, i: usize) -> XResult<f64> {
        let v = self.arg(i);
        v.as_f64()
            .or_else(|| v.as_i64().map(|n| n as f64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| type_error(&format!("parameter {} must be a float", i + 1)))
    }

    /// Parameter `i` as an int64 (a decimal string or an XML-RPC int).
    pub fn int(&self, i: usize) -> XResult<i64> {
        self.arg(i)
            .as_i64()
            .ok_or_else(|| type_error(&format!("parameter {} must be an int", i + 1)))
    }

    /// Parameter `i` as a `(string → string) map`.
    pub fn string_map(&self, i: usize) -> XResult<BTreeMap<String, String>> {
        let err = || {
            type_error(&format!(
                "parameter {} must be a (string → string) map",
                i + 1
            ))
        };
        let st = self.arg(i).as_struct().ok_or_else(err)?;
        st.iter()
            .map(|(k, v)| Ok((k.to_owned(), v.as_str().ok_or_else(err)?.to_owned())))
            .collect()
    }

    /// Parameter `i` as a `string set`.
    pub fn string_set(&self, i: usize) -> XResult<Vec<String>> {
        let err = || type_error(&format!("parameter {} must be a string set", i + 1));
        let arr = self.arg(i).as_array().ok_or_else(err)?;
        arr.iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(err))
            .collect()
    }

    /// Parameter `i` as a host of this pool.
    pub fn host_arg(&self, db: &Db, i: usize) -> XResult<HostId> {
        let r = self.str(i)?;
        db.host_in_pool(&self.pool, &r)
            .ok_or_else(|| XapiError::new(ErrorCode::HANDLE_INVALID, ["host".to_owned(), r]))
    }

    /// Parameter `i` as a VM of this pool.
    pub fn vm_arg(&self, db: &Db, i: usize) -> XResult<String> {
        let r = self.str(i)?;
        match db.vms.get(&r) {
            Some(v) if v.pool == self.pool => Ok(r),
            _ => Err(XapiError::new(
                ErrorCode::HANDLE_INVALID,
                ["VM".to_owned(), r],
            )),
        }
    }

    /// Parameter `i` as a task of this pool.
    pub fn task_arg(&self, db: &Db, i: usize) -> XResult<String> {
        let r = self.str(i)?;
        match db.tasks.get(&r) {
            Some(t) if t.pool == self.pool => Ok(r),
            _ => Err(XapiError::new(
                ErrorCode::HANDLE_INVALID,
                ["task".to_owned(), r],
            )),
        }
    }

    /// Sets the running task's progress (no-op for synchronous calls).
    pub fn progress(&self, fraction: f64) {
        if let Some(t) = &self.task {
            let mut db = self.shared.lock();
            let g = db.bump();
            if let Some(task) = db.tasks.get_mut(t) {
                task.progress = fraction.clamp(0.0, 1.0);
                task.gen = g;
            }
        }
    }
}
