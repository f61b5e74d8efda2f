//! Calls every class shares: `get_all`, `get_all_records`, `get_record`, `get_by_uuid`,
//! `get_by_name_label`, field getters, `set_name_label` and the `other_config` map calls. A call
//! sees only the objects of its own pool's database.

use std::collections::BTreeMap;

use xenpool_xapi_types::ErrorCode;
use xenpool_xmlrpc::{Struct, Value};

use crate::call::Call;
use crate::records;
use crate::shared::Shared;
use crate::state::{Db, XResult, XapiError};

fn class_of(name: &str) -> &str {
    name.split_once('.').map_or(name, |(c, _)| c)
}

/// Refs of a class visible in a pool.
pub fn refs(db: &Db, class: &str, pool: &str) -> Vec<String> {
    match class {
        "host" => db
            .members(pool)
            .into_iter()
            .map(|h| db.hosts[h].reference.clone())
            .collect(),
        "host_metrics" => db
            .members(pool)
            .into_iter()
            .map(|h| db.hosts[h].metrics.clone())
            .collect(),
        "pool" => db
            .pools
            .contains_key(pool)
            .then(|| pool.to_owned())
            .into_iter()
            .collect(),
        "VM" => db
            .vms
            .iter()
            .filter(|(_, v)| v.pool == pool)
            .map(|(r, _)| r.clone())
            .collect(),
        "task" => db
            .tasks
            .iter()
            .filter(|(_, t)| t.pool == pool)
            .map(|(r, _)| r.clone())
            .collect(),
        "SR" => db
            .srs
            .iter()
            .filter(|(_, sr)| db.members(pool).contains(&sr.host))
            .map(|(r, _)| r.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// An object's record, if the ref names one of that class in the pool.
pub fn record(db: &Db, class: &str, pool: &str, reference: &str) -> Option<Value> {
    match class {
        "host" => db
            .host_in_pool(pool, reference)
            .map(|h| records::host(db, h)),
        "host_metrics" => db
            .members(pool)
            .into_iter()
            .find(|&h| db.hosts[h].metrics == reference)
            .map(|h| records::host_metrics(db, h)),
        "pool" => {
            (reference == pool && db.pools.contains_key(pool)).then(|| records::pool(db, pool))
        }
        "VM" => db
            .vms
            .get(reference)
            .filter(|v| v.pool == pool)
            .map(|_| records::vm(db, reference)),
        "task" => db
            .tasks
            .get(reference)
            .filter(|t| t.pool == pool)
            .map(|_| records::task(db, reference)),
        "SR" => db
            .srs
            .get(reference)
            .filter(|sr| db.members(pool).contains(&sr.host))
            .map(|_| records::sr(db, reference)),
        _ => None,
    }
}

fn handle_invalid(class: &str, reference: &str) -> XapiError {
    XapiError::new(ErrorCode::HANDLE_INVALID, [class, reference])
}

fn field(rec: &Value, name: &str) -> Option<Value> {
    rec.as_struct()?.get(name).cloned()
}

/// Whether `name` is `<class>.get_<field>` for a field the class's records have.
pub fn is_field_getter(shared: &Shared, name: &str) -> bool {
    let Some((class, rest)) = name.split_once('.') else {
        return false;
    };
    let Some(field_name) = rest.strip_prefix("get_") else {
        return false;
    };
    let db = shared.lock();
    let sample = match class {
        "host" => Some(records::host(&db, 0)),
        "host_metrics" => Some(records::host_metrics(&db, 0)),
        "pool" => db.pools.keys().next().map(|p| records::pool(&db, p)),
        "VM" => db.vms.keys().next().map(|v| records::vm(&db, v)),
        "task" => Some(records::sample_task()),
        "SR" => db.srs.keys().next().map(|r| records::sr(&db, r)),
        _ => None,
    };
    sample.is_some_and(|rec| field(&rec, field_name).is_some())
}

/// `<class>.get_all`.
pub async fn get_all(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    Ok(records::list(refs(&db, class_of(&c.name), &c.pool)))
}

/// `<class>.get_all_records`.
pub async fn get_all_records(c: Call) -> XResult<Value> {
    let db = c.shared.lock();
    let class = class_of(&c.name);
    let all: Struct = refs(&db, class, &c.pool)
        .into_iter()
        .filter_map(|r| record(&db, class, &c.pool, &r).map(|rec| (r, rec)))
        .collect();
    Ok(Value::Struct(all))
}

/// `<class>.get_record`.
pub async fn get_record(c: Call) -> XResult<Value> {
    let r = c.str(0)?;
    let db = c.shared.lock();
    let class = class_of(&c.name);
    record(&db, class, &c.pool, &r).ok_or_else(|| handle_invalid(class, &r))
}

/// `<class>.get_<field>`.
pub async fn get_field(c: Call) -> XResult<Value> {
    let r = c.str(0)?;
    let (class, rest) = c.name.split_once('.').unwrap_or((&c.name, ""));
    let field_name = rest.trim_start_matches("get_");
    let db = c.shared.lock();
    let rec = record(&db, class, &c.pool, &r).ok_or_else(|| handle_invalid(class, &r))?;
    field(&rec, field_name)
        .ok_or_else(|| XapiError::new(ErrorCode::MESSAGE_METHOD_UNKNOWN, [c.name.clone()]))
}

/// `<class>.get_by_uuid` → ref, or `UUID_INVALID [class, uuid]`.
pub async fn get_by_uuid(c: Call) -> XResult<Value> {
    let uuid = c.str(0)?;
    let db = c.shared.lock();
    let class = class_of(&c.name);
    refs(&db, class, &c.pool)
        .into_iter()
        .find(|r| {
            record(&db, class, &c.pool, r)
                .and_then(|rec| field(&rec, "uuid"))
                .is_some_and(|u| u.as_str() == Some(uuid.as_str()))
        })
        .map(Value::String)
        .ok_or_else(|| XapiError::new(ErrorCode::UUID_INVALID, [class.to_owned(), uuid]))
}

/// `<class>.get_by_name_label` → ref set (possibly empty).
pub async fn get_by_name_label(c: Call) -> XResult<Value> {
    let label = c.str(0)?;
    let db = c.shared.lock();
    let class = class_of(&c.name);
    let found = refs(&db, class, &c.pool).into_iter().filter(|r| {
        record(&db, class, &c.pool, r)
            .and_then(|rec| field(&rec, "name_label"))
            .is_some_and(|n| n.as_str() == Some(label.as_str()))
    });
    Ok(records::list(found))
}

/// Applies `f` to an object's `other_config` (host, VM or pool of this call's pool).
fn with_other_config<T>(
    c: &Call,
    reference: &str,
    f: impl FnOnce(&mut BTreeMap<String, String>) -> XResult<T>,
) -> XResult<T> {
    let mut db = c.shared.lock();
    let class = class_of(&c.name).to_owned();
    let out = match class.as_str() {
        "host" => {
            let h = db
                .host_in_pool(&c.pool, reference)
                .ok_or_else(|| handle_invalid(&class, reference))?;
            let out = f(&mut db.hosts[h].other_config)?;
            db.touch_host(h);
            out
        }
        "VM" => {
            let vm = db.vms.get_mut(reference).filter(|v| v.pool == c.pool);
            let vm = vm.ok_or_else(|| handle_invalid(&class, reference))?;
            let out = f(&mut vm.other_config)?;
            db.touch_vm(reference);
            out
        }
        "pool" => {
            let p = db.pools.get_mut(reference).filter(|_| reference == c.pool);
            let p = p.ok_or_else(|| handle_invalid(&class, reference))?;
            let out = f(&mut p.other_config)?;
            db.touch_pool(reference);
            out
        }
        _ => {
            return Err(XapiError::new(
                ErrorCode::MESSAGE_METHOD_UNKNOWN,
                [c.name.clone()],
            ))
        }
    };
    Ok(out)
}

/// `<class>.set_other_config`.
pub async fn set_other_config(c: Call) -> XResult<Value> {
    let (r, value) = (c.str(0)?, c.string_map(1)?);
    with_other_config(&c, &r, |m| {
        *m = value;
        Ok(())
    })?;
    Ok(records::s(""))
}

/// `<class>.add_to_other_config`: `MAP_DUPLICATE_KEY` if the key is present.
pub async fn add_to_other_config(c: Call) -> XResult<Value> {
    let (r, key, value) = (c.str(0)?, c.str(1)?, c.str(2)?);
    let class = class_of(&c.name).to_owned();
    with_other_config(&c, &r, |m| {
        if m.contains_key(&key) {
            return Err(XapiError::new(
                ErrorCode::MAP_DUPLICATE_KEY,
                [
                    class.clone(),
                    "other_config".to_owned(),
                    r.clone(),
                    key.clone(),
                ],
            ));
        }
        m.insert(key.clone(), value);
        Ok(())
    })?;
    Ok(records::s(""))
}

/// `<class>.remove_from_other_config` (absent keys are fine).
pub async fn remove_from_other_config(c: Call) -> XResult<Value> {
    let (r, key) = (c.str(0)?, c.str(1)?);
    with_other_config(&c, &r, |m| {
        m.remove(&key);
        Ok(())
    })?;
    Ok(records::s(""))
}

/// `<class>.set_name_label`.
pub async fn set_name_label(c: Call) -> XResult<Value> {
    let (r, label) = (c.str(0)?, c.str(1)?);
    let mut db = c.shared.lock();
    match class_of(&c.name) {
        "pool" => {
            let p = db
                .pools
                .get_mut(&r)
                .filter(|_| r == c.pool)
                .ok_or_else(|| handle_invalid("pool", &r))?;
            p.name_label = label;
            db.touch_pool(&r);
        }
        "VM" => {
            let v = db
                .vms
                .get_mut(&r)
                .filter(|v| v.pool == c.pool)
                .ok_or_else(|| handle_invalid("VM", &r))?;
            v.name = label;
            db.touch_vm(&r);
        }
        "host" => {
            let h = db
                .host_in_pool(&c.pool, &r)
                .ok_or_else(|| handle_invalid("host", &r))?;
            db.hosts[h].name_label = label;
            db.touch_host(h);
        }
        _ => {
            return Err(XapiError::new(
                ErrorCode::MESSAGE_METHOD_UNKNOWN,
                [c.name.clone()],
            ))
        }
    }
    Ok(records::s(""))
}
