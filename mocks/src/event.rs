//! `event.from(classes, token, timeout)`: changes since a token, coalesced per object (the
//! current record as snapshot), `del` for deleted objects; waits up to `timeout` seconds
//! (literal, not scaled) when nothing changed.

use std::time::{Duration, Instant};

use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc::{Struct, Value};

use crate::call::Call;
use crate::objects;
use crate::records::s;
use crate::state::{Db, XResult, XapiError};

/// The classes events are generated for: (lower-case event class, XenAPI class).
const CLASSES: [(&str, &str); 4] = [
    ("host", "host"),
    ("pool", "pool"),
    ("vm", "VM"),
    ("task", "task"),
];

/// A subscription: `*`, `<class>` or `<class>/<ref>`, lower-cased.
struct Sub {
    class: String,
    reference: Option<String>,
}

impl Sub {
    fn parse(spec: &str) -> Sub {
        let spec = spec.to_lowercase();
        match spec.split_once('/') {
            Some((class, reference)) => Sub {
                class: class.to_owned(),
                reference: Some(reference.to_owned()),
            },
            None => Sub {
                class: spec,
                reference: None,
            },
        }
    }

    fn matches(&self, class: &str, reference: &str) -> bool {
        (self.class == "*" || self.class == class)
            && self
                .reference
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(reference))
    }
}

/// Parses a token: `""` = from the beginning, else `%020d,%020d` (generation, messages).
fn parse_token(token: &str) -> XResult<Option<u64>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || XapiError::new(ErrorCode::EVENT_FROM_TOKEN_PARSE_FAILURE, [token]);
    let (gen, messages) = token.split_once(',').ok_or_else(bad)?;
    messages.parse::<u64>().map_err(|_| bad())?;
    gen.parse::<u64>().map(Some).map_err(|_| bad())
}

fn event(id: u64, class: &str, op: &str, reference: &str, snapshot: Option<Value>) -> Value {
    let mut e = Struct::new();
    e.insert("id", id.to_string());
    e.insert("timestamp", "0.0");
    e.insert("class", class);
    e.insert("operation", op);
    e.insert("ref", reference);
    if let Some(snap) = snapshot {
        e.insert("snapshot", snap);
    }
    Value::Struct(e)
}

fn gens(db: &Db, class: &str, pool: &str, reference: &str) -> (u64, u64) {
    match class {
        "host" => db
            .host_in_pool(pool, reference)
            .map_or((0, 0), |h| (db.hosts[h].gen, db.hosts[h].created_gen)),
        "pool" => db
            .pools
            .get(reference)
            .map_or((0, 0), |p| (p.gen, p.created_gen)),
        "vm" => db
            .vms
            .get(reference)
            .map_or((0, 0), |v| (v.gen, v.created_gen)),
        _ => db
            .tasks
            .get(reference)
            .map_or((0, 0), |t| (t.gen, t.created_gen)),
    }
}

/// Events of the pool newer than `since`, oldest first.
fn collect(db: &Db, pool: &str, since: Option<u64>, subs: &[Sub]) -> Vec<Value> {
    let after = since.unwrap_or(0);
    let mut found: Vec<(u64, Value)> = Vec::new();
    for (class, api_class) in CLASSES {
        for r in objects::refs(db, api_class, pool) {
            if !subs.iter().any(|s| s.matches(class, &r)) {
                continue;
            }
            let (gen, created) = gens(db, class, pool, &r);
            if since.is_some() && gen <= after {
                continue;
            }
            let op = if since.is_none() || created > after {
                "add"
            } else {
                "mod"
            };
            let snapshot = objects::record(db, api_class, pool, &r);
            found.push((gen, event(gen, class, op, &r, snapshot)));
        }
    }
    if since.is_some() {
        for t in db
            .tombstones
            .iter()
            .filter(|t| t.pool == pool && t.gen > after)
        {
            if subs.iter().any(|s| s.matches(t.class, &t.reference)) {
                found.push((t.gen, event(t.gen, t.class, "del", &t.reference, None)));
            }
        }
    }
    found.sort_by_key(|(g, _)| *g);
    found.into_iter().map(|(_, e)| e).collect()
}

/// `event.from(classes, token, timeout)`.
pub async fn from(c: Call) -> XResult<Value> {
    let classes = c.string_set(0)?;
    let token = c.str(1)?;
    let timeout = c.float(2)?;
    let since = parse_token(&token)?;
    let subs: Vec<Sub> = classes.iter().map(|s| Sub::parse(s)).collect();
    let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
    let mut changes = c.shared.gen_tx.subscribe();
    loop {
        {
            let db = c.shared.lock();
            let session = c.session.as_deref().unwrap_or_default();
            if !db.sessions.contains_key(session) {
                return Err(XapiError::new(ErrorCode::SESSION_INVALID, [session]));
            }
            let events = collect(&db, &c.pool, since, &subs);
            if !events.is_empty() || Instant::now() >= deadline {
                let mut counts = Struct::new();
                for (class, api_class) in CLASSES {
                    if subs.iter().any(|s| s.class == "*" || s.class == class) {
                        let n = objects::refs(&db, api_class, &c.pool).len();
                        counts.insert(class, Value::Int(i32::try_from(n).unwrap_or(i32::MAX)));
                    }
                }
                let mut out = Struct::new();
                out.insert("events", Value::Array(events));
                out.insert("valid_ref_counts", Value::Struct(counts));
                out.insert("token", s(format!("{:020},{:020}", db.gen, 0)));
                return Ok(Value::Struct(out));
            }
            changes.mark_unchanged();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, changes.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_like_xapis() {
        assert_eq!(parse_token("").unwrap(), None);
        assert_eq!(
            parse_token("00000000000000000042,00000000000000000000").unwrap(),
            Some(42)
        );
        let e = parse_token("garbage").unwrap_err();
        assert_eq!(
            e.description(),
            vec!["EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"]
        );
    }

    #[test]
    fn subscriptions_are_case_insensitive_and_may_name_a_ref() {
        let sub = Sub::parse("VM/OpaqueRef:ABC");
        assert!(sub.matches("vm", "OpaqueRef:abc"));
        assert!(!sub.matches("vm", "OpaqueRef:other"));
        assert!(Sub::parse("*").matches("host", "x"));
        assert!(!Sub::parse("host").matches("vm", "x"));
    }
}
