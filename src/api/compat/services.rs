//! `os-services`: every host as a `nova-compute` service; list with `host` / `binary`
//! filters, the legacy `PUT /os-services/{enable|disable|disable-log-reason|force-down}` and,
//! from 2.53, `PUT /os-services/{uuid}`.

use axum::response::Response;
use serde_json::{json, Map, Value};

use super::schema::{as_bool, obj, validate, Format, Schema};
use super::{json_response, Access, Ctx, Fault, NovaBody};
use crate::api::timefmt;
use crate::store::{Host, HostPatch, StoreError};

const BINARY: &str = "nova-compute";

fn service(ctx: &Ctx<'_>, h: &Host) -> Value {
    let mut m = Map::new();
    m.insert("binary".into(), json!(BINARY));
    m.insert("host".into(), json!(h.name));
    m.insert(
        "id".into(),
        if ctx.version.at_least(53) {
            json!(h.service_uuid)
        } else {
            json!(h.id)
        },
    );
    m.insert(
        "zone".into(),
        json!(h.zone(&ctx.state.settings.default_availability_zone)),
    );
    m.insert(
        "status".into(),
        json!(if h.disabled { "disabled" } else { "enabled" }),
    );
    m.insert(
        "state".into(),
        json!(if ctx.state.is_up(h) { "up" } else { "down" }),
    );
    m.insert(
        "updated_at".into(),
        json!(h.last_heartbeat_at.map(timefmt::nova)),
    );
    m.insert("disabled_reason".into(), json!(h.disabled_reason));
    if ctx.version.at_least(11) {
        m.insert("forced_down".into(), json!(h.forced_down));
    }
    Value::Object(m)
}

/// `GET /os-services[?host=&binary=]`.
pub async fn index(ctx: &Ctx<'_>) -> Result<Response, Fault> {
    ctx.allow("os_compute_api:os-services:list", Access::Read)?;
    let q = |k: &str| {
        ctx.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let (host, binary) = (q("host"), q("binary"));
    let hosts = ctx
        .state
        .store
        .list_hosts()
        .await
        .map_err(|e| ctx.internal(&e))?;
    let items: Vec<Value> = hosts
        .iter()
        .filter(|h| host.as_ref().is_none_or(|want| want == &h.name))
        .filter(|_| binary.as_deref().is_none_or(|b| b == BINARY))
        .map(|h| service(ctx, h))
        .collect();
    Ok(json_response(json!({"services": items})))
}

/// `PUT /os-services/{id}`.
pub async fn update(ctx: &Ctx<'_>, id: &str, b: NovaBody) -> Result<Response, Fault> {
    if ctx.version.at_least(53) {
        update_by_uuid(ctx, id, b).await
    } else {
        legacy_action(ctx, id, b).await
    }
}

async fn apply(ctx: &Ctx<'_>, host: &str, patch: &HostPatch) -> Result<Host, Fault> {
    match ctx.state.store.update_host(ctx.actor(), host, patch).await {
        Ok(h) => Ok(h),
        Err(StoreError::HostNotFound(_)) => Err(Fault::not_found(format!(
            "Host '{host}' is not mapped to any cell"
        ))),
        Err(e) => Err(ctx.internal(&e)),
    }
}

async fn legacy_action(ctx: &Ctx<'_>, action: &str, b: NovaBody) -> Result<Response, Fault> {
    let force_down_ok = ctx.version.at_least(11);
    let known = match action {
        "enable" | "disable" | "disable-log-reason" => true,
        "force-down" => force_down_ok,
        _ => false,
    };
    if !known {
        return Err(Fault::not_found("Unknown action"));
    }
    let v = b.value()?;
    let mut props = vec![
        ("host", Schema::Str(1, 255, Format::Fqdn)),
        ("binary", Schema::Str(1, 255, Format::Plain)),
        ("disabled_reason", Schema::Str(1, 255, Format::Plain)),
    ];
    if force_down_ok {
        props.push(("forced_down", Schema::Boolean));
    }
    validate(&obj(props, &["host", "binary"]), &v, None).map_err(Fault::bad_request)?;
    ctx.allow("os_compute_api:os-services:update", Access::Admin)?;
    let host = v["host"].as_str().unwrap_or_default();
    let binary = v["binary"].as_str().unwrap_or_default();
    if binary != BINARY {
        return Err(Fault::bad_request(format!(
            "Updating a {binary} service is not supported. Only nova-compute services can be updated."
        )));
    }
    let mut out = Map::new();
    out.insert("host".into(), json!(host));
    out.insert("binary".into(), json!(binary));
    match action {
        "enable" => {
            let p = HostPatch {
                disabled: Some(false),
                disabled_reason: Some(None),
                ..HostPatch::default()
            };
            apply(ctx, host, &p).await?;
            out.insert("status".into(), json!("enabled"));
        }
        "disable" => {
            let p = HostPatch {
                disabled: Some(true),
                ..HostPatch::default()
            };
            apply(ctx, host, &p).await?;
            out.insert("status".into(), json!("disabled"));
        }
        "disable-log-reason" => {
            let Some(reason) = v.get("disabled_reason").and_then(Value::as_str) else {
                return Err(Fault::bad_request("Missing disabled reason field"));
            };
            let p = HostPatch {
                disabled: Some(true),
                disabled_reason: Some(Some(reason.to_string())),
                ..HostPatch::default()
            };
            apply(ctx, host, &p).await?;
            out.insert("status".into(), json!("disabled"));
            out.insert("disabled_reason".into(), json!(reason));
        }
        _ => {
            let Some(fd) = v.get("forced_down") else {
                return Err(Fault::bad_request("Missing forced_down field"));
            };
            let p = HostPatch {
                forced_down: Some(as_bool(fd)),
                ..HostPatch::default()
            };
            let h = apply(ctx, host, &p).await?;
            out.insert("forced_down".into(), json!(h.forced_down));
        }
    }
    Ok(json_response(json!({"service": Value::Object(out)})))
}

async fn update_by_uuid(ctx: &Ctx<'_>, id: &str, b: NovaBody) -> Result<Response, Fault> {
    let v = b.value()?;
    let schema = Schema::Object {
        props: vec![
            ("status", Schema::Enum(&["enabled", "disabled"])),
            ("disabled_reason", Schema::Str(1, 255, Format::Plain)),
            ("forced_down", Schema::Boolean),
        ],
        required: &[],
        any_of: &[],
        closed: true,
    };
    validate(&schema, &v, None).map_err(Fault::bad_request)?;
    ctx.allow("os_compute_api:os-services:update", Access::Admin)?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Fault::bad_request(format!("Invalid uuid {id}")));
    }
    let status = v.get("status").and_then(Value::as_str);
    let reason = v.get("disabled_reason").and_then(Value::as_str);
    if status == Some("enabled") && reason.is_some() {
        return Err(Fault::bad_request(
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        ));
    }
    if status.is_none() && v.get("forced_down").is_none() {
        return Err(Fault::bad_request(
            "At least one of 'status' or 'forced_down' must be specified.",
        ));
    }
    let host = match ctx
        .state
        .store
        .get_host_by_service_uuid(&id.to_ascii_lowercase())
        .await
    {
        Ok(h) => h,
        Err(StoreError::HostNotFound(_)) => {
            return Err(Fault::not_found(format!(
                "Service {id} could not be found."
            )))
        }
        Err(e) => return Err(ctx.internal(&e)),
    };
    let patch = HostPatch {
        disabled: status.map(|s| s == "disabled"),
        disabled_reason: match status {
            Some("enabled") => Some(None),
            Some(_) => Some(reason.map(str::to_string)),
            None => None,
        },
        forced_down: v.get("forced_down").map(as_bool),
        xapi_url: None,
    };
    let h = apply(ctx, &host.name, &patch).await?;
    Ok(json_response(json!({"service": service(ctx, &h)})))
}
