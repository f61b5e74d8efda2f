//! Fault injection: what the control API's `POST /faults` accepts, how faults are validated and
//! which call a fault hits.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::lifecycle;
use crate::shared::Shared;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer the call with `error` instead of running it.
    Fail,
    /// Sleep `latency_ms` (literal, not scaled) before the call.
    Latency,
    /// Close the connection without an answer.
    Drop,
    /// Close the host's listener (connection refused) until the fault is cleared.
    Offline,
    /// Crash the host's XAPI: this call's connection and every other open one drop, sessions
    /// die, and XAPI restarts after the restart delay.
    Crash,
    /// Leave the next `pool.join` half-done: the host is recorded on the master with
    /// `enabled=false` and answers `HOST_STILL_BOOTING` until the fault is cleared.
    FreezeJoin,
}

/// When a `fail`, `drop` or `crash` fault strikes relative to the call's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the call runs: it has no effect.
    #[default]
    Before,
    /// After the call ran: its effect stays, the answer is replaced (the reply-or-drop race).
    After,
}

/// A fault as posted to the control API (or passed to [`crate::Farm::inject`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What it does.
    pub kind: FaultKind,
    /// Host name; `None` = every host.
    #[serde(default)]
    pub host: Option<String>,
    /// Wire method name (`pool.join`; also matches `Async.pool.join`); `None` = every method.
    /// Ignored for `offline`.
    #[serde(default)]
    pub method: Option<String>,
    /// Calls affected; `None` = until cleared. Ignored for `offline`.
    #[serde(default)]
    pub count: Option<u32>,
    /// `[CODE, params…]` for `fail`.
    #[serde(default)]
    pub error: Option<Vec<String>>,
    /// Milliseconds for `latency`.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// For `fail` / `drop` / `crash`: before (default) or after the call's effect.
    #[serde(default)]
    pub phase: Phase,
}

impl Fault {
    /// A fault of this kind with every other field at its default.
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            host: None,
            method: None,
            count: None,
            error: None,
            latency_ms: None,
            phase: Phase::Before,
        }
    }

    /// Checks the fields this kind needs; `hosts` are the farm's host names.
    pub fn validate(&self, hosts: &[String]) -> Result<(), String> {
        if let Some(h) = &self.host {
            if !hosts.contains(h) {
                return Err(format!(
                    "unknown host {h:?}: the farm has {}",
                    hosts.join(", ")
                ));
            }
        }
        if self.count == Some(0) {
            return Err("count must be at least 1 (or null: until cleared)".into());
        }
        match self.kind {
            FaultKind::Fail => match &self.error {
                Some(e) if !e.is_empty() && !e[0].is_empty() => Ok(()),
                _ => Err("kind \"fail\" needs \"error\": [\"CODE\", \"param\", …]".into()),
            },
            FaultKind::Latency => match self.latency_ms {
                Some(_) => Ok(()),
                None => Err("kind \"latency\" needs \"latency_ms\"".into()),
            },
            _ => Ok(()),
        }
    }

    /// Whether this fault applies to a call of `method` on host `host`.
    pub fn matches(&self, host: &str, method: &str) -> bool {
        let host_ok = self.host.as_deref().is_none_or(|h| h == host);
        let bare = method.strip_prefix("Async.").unwrap_or(method);
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m == method || m == bare);
        host_ok && method_ok
    }
}

/// A fault in force, as `GET /state` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveFault {
    /// Its id (`f1`, `f2`, …).
    pub id: String,
    /// Calls still to affect; `None` = until cleared.
    pub remaining: Option<u32>,
    /// For `freeze_join`: the host it holds half-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holding: Option<String>,
    /// The fault as posted.
    #[serde(flatten)]
    pub fault: Fault,
}

impl ActiveFault {
    /// Whether this is an `offline` fault covering host `host`.
    pub fn is_offline_for(&self, host: &str) -> bool {
        self.fault.kind == FaultKind::Offline
            && self.fault.host.as_deref().is_none_or(|h| h == host)
    }

    /// Uses up one call; returns false if the fault had none left.
    pub fn consume(&mut self) -> bool {
        match &mut self.remaining {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }

    /// Whether the fault is spent and can be dropped from the list.
    pub fn spent(&self) -> bool {
        self.remaining == Some(0) && self.holding.is_none()
    }
}

/// Puts a fault in force; returns its id. An `offline` fault closes the host's listener at
/// once (its XAPI is gone: sessions it held die).
pub fn inject(shared: &Arc<Shared>, fault: Fault) -> Result<String, String> {
    let mut db = shared.lock();
    let names: Vec<String> = db.hosts.iter().map(|h| h.name.clone()).collect();
    fault.validate(&names)?;
    db.next_fault += 1;
    let id = format!("f{}", db.next_fault);
    let remaining = if fault.kind == FaultKind::Offline {
        None
    } else {
        fault.count
    };
    let offline = fault.kind == FaultKind::Offline;
    db.faults.push(ActiveFault {
        id: id.clone(),
        remaining,
        holding: None,
        fault,
    });
    if offline {
        for h in 0..db.hosts.len() {
            if db.offline_fault(h) && db.hosts[h].xapi_up {
                db.hosts[h].chain += 1;
                lifecycle::xapi_down(&mut db, h);
            }
        }
    }
    tracing::info!(fault = %id, "fault injected");
    Ok(id)
}

/// Clears one fault (`Some(id)`) or all; returns whether anything was cleared. Hosts no longer
/// offline boot again; hosts held half-joined finish their sync.
pub fn clear(shared: &Arc<Shared>, id: Option<&str>) -> bool {
    let (boot, release) = {
        let mut db = shared.lock();
        let was_offline: Vec<bool> = (0..db.hosts.len()).map(|h| db.offline_fault(h)).collect();
        let before = db.faults.len();
        let (gone, kept): (Vec<ActiveFault>, Vec<ActiveFault>) = db
            .faults
            .drain(..)
            .partition(|f| id.is_none_or(|id| f.id == id));
        db.faults = kept;
        let mut release = Vec::new();
        for f in &gone {
            if let Some(h) = f.holding.as_deref().and_then(|n| db.host_by_name(n)) {
                if db.hosts[h].frozen_by.as_deref() == Some(f.id.as_str()) {
                    db.hosts[h].frozen_by = None;
                    db.touch_host(h);
                    release.push(h);
                }
            }
        }
        let boot: Vec<usize> = (0..db.hosts.len())
            .filter(|&h| was_offline[h] && !db.offline_fault(h))
            .collect();
        if db.faults.len() == before {
            return false;
        }
        (boot, release)
    };
    for h in boot {
        lifecycle::spawn_boot(shared, h);
    }
    for h in release {
        lifecycle::spawn_sync(shared, h);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_kinds_are_named() {
        let e = serde_json::from_str::<Fault>(r#"{"kind":"fail","bogus":1}"#).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = serde_json::from_str::<Fault>(r#"{"kind":"explode"}"#).unwrap_err();
        assert!(e.to_string().contains("explode"), "{e}");
    }

    #[test]
    fn method_matches_its_async_variant() {
        let mut f = Fault::new(FaultKind::Fail);
        f.method = Some("pool.join".into());
        f.host = Some("xs2".into());
        assert!(f.matches("xs2", "pool.join"));
        assert!(f.matches("xs2", "Async.pool.join"));
        assert!(!f.matches("xs1", "pool.join"));
        assert!(!f.matches("xs2", "pool.eject"));
    }

    #[test]
    fn validation_names_the_missing_field() {
        let f = Fault::new(FaultKind::Fail);
        assert!(f.validate(&[]).unwrap_err().contains("error"));
        let f = Fault::new(FaultKind::Latency);
        assert!(f.validate(&[]).unwrap_err().contains("latency_ms"));
        let mut f = Fault::new(FaultKind::Drop);
        f.host = Some("xs9".into());
        assert!(f.validate(&["xs1".into()]).unwrap_err().contains("xs9"));
    }
}
