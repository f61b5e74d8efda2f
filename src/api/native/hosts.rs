//! `/v1/hosts` and `/v1/zones`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::aggregates::{check_host_name, ZoneQuery};
use super::extract::{Body, Caller, Need, Params};
use super::types::{
    ErrorBody, Host, HostList, Maintenance, Operation, RegisterHost, UpdateHost, Zone, ZoneList,
};
use super::NativeError;
use crate::api::AppState;
use crate::store::{self, HostPatch};

pub(super) fn host_view(s: &AppState, h: &store::Host) -> Host {
    Host::new(h, h.zone(&s.settings.default_availability_zone), s.is_up(h))
}

/// List hosts.
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", params(ZoneQuery),
    responses((status = 200, body = HostList), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<ZoneQuery>,
) -> Result<Json<HostList>, NativeError> {
    caller.allow(Need::Read)?;
    let mut hosts: Vec<Host> = s
        .store
        .list_hosts()
        .await?
        .iter()
        .map(|h| host_view(&s, h))
        .filter(|h| q.zone.as_ref().is_none_or(|z| &h.zone == z))
        .collect();
    hosts.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    Ok(Json(HostList { hosts }))
}

/// Register a host (admin).
#[utoipa::path(post, path = "/v1/hosts", tag = "hosts", request_body = RegisterHost,
    responses((status = 201, body = Host), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<RegisterHost>,
) -> Result<(StatusCode, Json<Host>), NativeError> {
    caller.allow(Need::Admin)?;
    check_host_name(&b.host_name)?;
    let h = s
        .store
        .register_host(caller.name(), &b.host_name, b.xapi_url.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(host_view(&s, &h))))
}

/// Show a host.
#[utoipa::path(get, path = "/v1/hosts/{host}", tag = "hosts", params(("host" = String, Path)),
    responses((status = 200, body = Host), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
) -> Result<Json<Host>, NativeError> {
    caller.allow(Need::Read)?;
    Ok(Json(host_view(&s, &s.store.get_host(&host).await?)))
}

/// Enable or disable a host for scheduling, or change its XAPI URL.
#[utoipa::path(patch, path = "/v1/hosts/{host}", tag = "hosts", request_body = UpdateHost,
    params(("host" = String, Path)),
    responses((status = 200, body = Host), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
    Body(b): Body<UpdateHost>,
) -> Result<Json<Host>, NativeError> {
    caller.allow(Need::Admin)?;
    let disabled = match b.status.as_deref() {
        None => None,
        Some("enabled") => Some(false),
        Some("disabled") => Some(true),
        Some(other) => {
            return Err(NativeError::invalid_body(
                "status",
                format!("status {other:?} is not valid: use enabled or disabled"),
            ))
        }
    };
    if b.status.is_none() && b.disabled_reason.is_none() && b.xapi_url.is_none() {
        return Err(NativeError::invalid_body(
            "",
            "send at least one of status, disabled_reason and xapi_url",
        ));
    }
    let patch = HostPatch {
        disabled,
        disabled_reason: match (disabled, b.disabled_reason) {
            (Some(false), None) => Some(None),
            (_, r) => r,
        },
        forced_down: None,
        xapi_url: b.xapi_url,
    };
    let h = s.store.update_host(caller.name(), &host, &patch).await?;
    Ok(Json(host_view(&s, &h)))
}

/// Request maintenance on or off (or a plan): recorded at once as an operation.
#[utoipa::path(put, path = "/v1/hosts/{host}/maintenance", tag = "hosts", request_body = Maintenance,
    params(("host" = String, Path)),
    responses((status = 202, body = Operation), (status = 404, body = ErrorBody)))]
pub async fn maintenance(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
    Body(b): Body<Maintenance>,
) -> Result<(StatusCode, Json<Operation>), NativeError> {
    caller.allow(Need::Admin)?;
    let op = s
        .store
        .request_maintenance(caller.name(), &host, b.enabled, b.dry_run)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Operation::from(&op))))
}

/// List availability zones.
#[utoipa::path(get, path = "/v1/zones", tag = "zones",
    responses((status = 200, body = ZoneList), (status = 401, body = ErrorBody)))]
pub async fn zones(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ZoneList>, NativeError> {
    caller.allow(Need::Anyone)?;
    let default = &s.settings.default_availability_zone;
    let mut by_zone: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    for h in s.store.list_hosts().await? {
        let e = by_zone.entry(h.zone(default)).or_default();
        e.0.push(h.name.clone());
        e.1 |= !h.disabled;
    }
    let mut zones: Vec<Zone> = by_zone
        .into_iter()
        .map(|(name, (hosts, available))| Zone {
            name,
            hosts,
            available,
        })
        .collect();
    zones.sort_by(|a, b| {
        b.available
            .cmp(&a.available)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(Json(ZoneList { zones }))
}
