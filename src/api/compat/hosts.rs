//! `os-hosts` (2.1–2.42; 404 from 2.43): list, show, `PUT` with `status` and
//! `maintenance_mode` (recorded as intent plus an operation, answered at once), power actions.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::schema::{validate, Schema};
use super::{json_response, Access, Ctx, Fault, NovaBody};
use crate::store::{HostPatch, StoreError};

const TOGGLE: &[&str] = &[
    "enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE",
];

fn gate(ctx: &Ctx<'_>) -> Result<(), Fault> {
    if ctx.version.at_least(43) {
        Err(Fault::no_resource())
    } else {
        Ok(())
    }
}

fn unmapped(host: &str) -> Fault {
    Fault::not_found(format!("Host '{host}' is not mapped to any cell"))
}

async fn find(ctx: &Ctx<'_>, host: &str) -> Result<crate::store::Host, Fault> {
    match ctx.state.store.get_host(host).await {
        Ok(h) => Ok(h),
        Err(StoreError::HostNotFound(_)) => Err(unmapped(host)),
        Err(e) => Err(ctx.internal(&e)),
    }
}

/// `GET /os-hosts[?zone=Z]`: enabled compute hosts.
pub async fn index(ctx: &Ctx<'_>) -> Result<Response, Fault> {
    gate(ctx)?;
    ctx.allow("os_compute_api:os-hosts:list", Access::Read)?;
    let zone = ctx
        .query
        .iter()
        .find(|(k, _)| k == "zone")
        .map(|(_, v)| v.clone());
    let default = &ctx.state.settings.default_availability_zone;
    let hosts = ctx
        .state
        .store
        .list_hosts()
        .await
        .map_err(|e| ctx.internal(&e))?;
    let items: Vec<Value> = hosts
        .iter()
        .filter(|h| !h.disabled)
        .map(|h| (h, h.zone(default)))
        .filter(|(_, z)| zone.as_ref().is_none_or(|want| want == z))
        .map(|(h, z)| json!({"host_name": h.name, "service": "compute", "zone": z}))
        .collect();
    Ok(json_response(json!({"hosts": items})))
}

/// `GET /os-hosts/{host}`: the resource rows. `(total)` is the capacity the agent reported
/// (0 until it does); xenpool does not track instances, so the usage rows are 0.
pub async fn show(ctx: &Ctx<'_>, host: &str) -> Result<Response, Fault> {
    gate(ctx)?;
    ctx.allow("os_compute_api:os-hosts:show", Access::Read)?;
    let h = find(ctx, host).await?;
    let (cpu, mem, disk) = h
        .resources
        .map(|r| (r.cpu, r.memory_mb, r.disk_gb))
        .unwrap_or_default();
    let row = |project: &str, cpu: i64, mem: i64, disk: i64| json!({"resource": {"host": h.name, "project": project, "cpu": cpu, "memory_mb": mem, "disk_gb": disk}});
    Ok(json_response(json!({"host": [
        row("(total)", cpu, mem, disk),
        row("(used_now)", 0, 0, 0),
        row("(used_max)", 0, 0, 0),
    ]})))
}

/// `PUT /os-hosts/{host}` `{"status"?, "maintenance_mode"?}` (unwrapped body).
pub async fn update(ctx: &Ctx<'_>, host: &str, b: NovaBody) -> Result<Response, Fault> {
    gate(ctx)?;
    let v = b.value()?;
    let schema = Schema::Object {
        props: vec![
            ("status", Schema::Enum(TOGGLE)),
            ("maintenance_mode", Schema::Enum(TOGGLE)),
        ],
        required: &[],
        any_of: &["status", "maintenance_mode"],
        closed: true,
    };
    validate(&schema, &v, None).map_err(Fault::bad_request)?;
    ctx.allow("os_compute_api:os-hosts:update", Access::Admin)?;
    let enable = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(|s| s.trim().eq_ignore_ascii_case("enable"))
    };
    let (status, maintenance) = (enable("status"), enable("maintenance_mode"));
    find(ctx, host).await?;
    let mut out = Map::new();
    out.insert("host".into(), json!(host));
    let store = &ctx.state.store;
    if let Some(on) = status {
        let patch = HostPatch {
            disabled: Some(!on),
            disabled_reason: Some(None),
            ..HostPatch::default()
        };
        let h = store
            .update_host(ctx.actor(), host, &patch)
            .await
            .map_err(|e| ctx.internal(&e))?;
        out.insert(
            "status".into(),
            json!(if h.disabled { "disabled" } else { "enabled" }),
        );
    }
    if let Some(on) = maintenance {
        store
            .request_maintenance(ctx.actor(), host, on, false)
            .await
            .map_err(|e| ctx.internal(&e))?;
        out.insert(
            "maintenance_mode".into(),
            json!(if on {
                "on_maintenance"
            } else {
                "off_maintenance"
            }),
        );
    }
    Ok(json_response(Value::Object(out)))
}

/// `GET /os-hosts/{host}/{reboot|shutdown|startup}`: xenpool does not power hosts, so Nova's
/// answer for a driver without it: 501.
pub async fn power_action(ctx: &Ctx<'_>, host: &str, action: &str) -> Result<Response, Fault> {
    gate(ctx)?;
    let rule = match action {
        "startup" => "start",
        other => other,
    };
    ctx.allow(&format!("os_compute_api:os-hosts:{rule}"), Access::Admin)?;
    find(ctx, host).await?;
    Err(Fault::new(
        StatusCode::NOT_IMPLEMENTED,
        "The requested functionality is not supported.",
    ))
}
