//! `os-availability-zone` (+ `/detail`): zones are where hosts are; a zone with no hosts is
//! invisible, the default zone appears while some host is in no zoned aggregate.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{json_response, Access, Ctx, Fault};
use crate::api::timefmt;
use crate::store::Host;

/// Hosts by zone, and whether each zone has an enabled host.
fn by_zone<'h>(ctx: &Ctx<'_>, hosts: &'h [Host]) -> Vec<(String, bool, Vec<&'h Host>)> {
    let default = &ctx.state.settings.default_availability_zone;
    let mut zones: BTreeMap<String, Vec<&Host>> = BTreeMap::new();
    for h in hosts {
        zones.entry(h.zone(default)).or_default().push(h);
    }
    let mut out: Vec<(String, bool, Vec<&Host>)> = zones
        .into_iter()
        .map(|(z, hs)| {
            let available = hs.iter().any(|h| !h.disabled);
            (z, available, hs)
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

async fn hosts(ctx: &Ctx<'_>) -> Result<Vec<Host>, Fault> {
    ctx.state
        .store
        .list_hosts()
        .await
        .map_err(|e| ctx.internal(&e))
}

/// `GET /os-availability-zone` (any authenticated caller).
pub async fn list(ctx: &Ctx<'_>) -> Result<Response, Fault> {
    ctx.allow("os_compute_api:os-availability-zone:list", Access::Anyone)?;
    let hosts = hosts(ctx).await?;
    let info: Vec<Value> = by_zone(ctx, &hosts)
        .into_iter()
        .map(|(z, available, _)| {
            json!({"zoneName": z, "zoneState": {"available": available}, "hosts": null})
        })
        .collect();
    Ok(json_response(json!({"availabilityZoneInfo": info})))
}

/// `GET /os-availability-zone/detail` (admin, reader).
pub async fn detail(ctx: &Ctx<'_>) -> Result<Response, Fault> {
    ctx.allow("os_compute_api:os-availability-zone:detail", Access::Read)?;
    let hosts = hosts(ctx).await?;
    let info: Vec<Value> = by_zone(ctx, &hosts)
        .into_iter()
        .map(|(z, available, hs)| {
            let detail = available.then(|| {
                let mut m = Map::new();
                for h in hs.iter().filter(|h| !h.disabled) {
                    m.insert(
                        h.name.clone(),
                        json!({"nova-compute": {
                            "available": ctx.state.is_up(h),
                            "active": !h.disabled,
                            "updated_at": h.last_heartbeat_at.map(timefmt::nova),
                        }}),
                    );
                }
                Value::Object(m)
            });
            json!({"zoneName": z, "zoneState": {"available": available}, "hosts": detail})
        })
        .collect();
    Ok(json_response(json!({"availabilityZoneInfo": info})))
}
