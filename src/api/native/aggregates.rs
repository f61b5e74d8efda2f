//! `/v1/aggregates`: resources over the same store rules as the Nova surface.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Body, Caller, Need, Params};
use super::types::{Aggregate, AggregateList, CreateAggregate, ErrorBody, UpdateAggregate};
use super::NativeError;
use crate::api::{rules, AppState};
use crate::store::{AggRef, ZoneRules, AZ_KEY};

/// Query of `GET /v1/aggregates`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ZoneQuery {
    /// Only aggregates (or hosts) in this availability zone.
    pub zone: Option<String>,
}

pub(super) fn check_name(field: &str, name: &str) -> Result<(), NativeError> {
    if !(1..=255).contains(&rules::len(name)) || !rules::valid_name(name) {
        return Err(NativeError::invalid_body(
            field,
            format!(
                "{field} {name:?} is not valid: use 1–255 printable characters without leading or \
                 trailing whitespace"
            ),
        ));
    }
    Ok(())
}

fn check_zone(zone: &str) -> Result<(), NativeError> {
    if !(1..=255).contains(&rules::len(zone)) || !rules::valid_az(zone) {
        return Err(NativeError::invalid_body(
            AZ_KEY,
            format!(
                "availability zone {zone:?} is not valid: use 1–255 printable characters, no ':' and \
                 no leading or trailing whitespace"
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_host_name(host: &str) -> Result<(), NativeError> {
    if !(1..=255).contains(&host.len()) || !rules::fqdn_chars(host) {
        return Err(NativeError::invalid_body(
            "host",
            format!("host name {host:?} is not valid: use 1–255 of A–Z a–z 0–9 - . _"),
        ));
    }
    Ok(())
}

fn check_metadata(changes: &BTreeMap<String, Option<String>>) -> Result<(), NativeError> {
    for (k, v) in changes {
        if !rules::valid_metadata_key(k) {
            return Err(NativeError::invalid_body(
                &format!("metadata.{k}"),
                format!(
                    "metadata key {k:?} is not valid: use 1–255 of A–Z a–z 0–9 - _ : . and space"
                ),
            ));
        }
        match v {
            Some(v) if k == AZ_KEY => check_zone(v)?,
            Some(v) if rules::len(v) > 255 => {
                return Err(NativeError::invalid_body(
                    &format!("metadata.{k}"),
                    format!("metadata value of {k:?} is longer than 255 characters"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// List aggregates.
#[utoipa::path(get, path = "/v1/aggregates", tag = "aggregates", params(ZoneQuery),
    responses((status = 200, body = AggregateList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<ZoneQuery>,
) -> Result<Json<AggregateList>, NativeError> {
    caller.allow(Need::Read)?;
    let all = s.store.list_aggregates().await?;
    Ok(Json(AggregateList {
        aggregates: all
            .iter()
            .filter(|a| {
                q.zone
                    .as_ref()
                    .is_none_or(|z| a.availability_zone.as_ref() == Some(z))
            })
            .map(Aggregate::from)
            .collect(),
    }))
}

/// Create an aggregate.
#[utoipa::path(post, path = "/v1/aggregates", tag = "aggregates", request_body = CreateAggregate,
    responses((status = 201, body = Aggregate), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<CreateAggregate>,
) -> Result<(StatusCode, Json<Aggregate>), NativeError> {
    caller.allow(Need::Admin)?;
    check_name("name", &b.name)?;
    if let Some(z) = &b.availability_zone {
        check_zone(z)?;
    }
    if b.metadata.contains_key(AZ_KEY) {
        return Err(NativeError::invalid_body(
            "metadata.availability_zone",
            "set the zone with the availability_zone field, not in metadata",
        ));
    }
    check_metadata(
        &b.metadata
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
    )?;
    let a = s
        .store
        .create_aggregate(
            caller.name(),
            &b.name,
            b.availability_zone.as_deref(),
            &b.metadata,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Aggregate::from(&a))))
}

/// Show an aggregate (by id, uuid or name).
#[utoipa::path(get, path = "/v1/aggregates/{agg}", tag = "aggregates",
    params(("agg" = String, Path, description = "id, uuid or name")),
    responses((status = 200, body = Aggregate), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(agg): Path<String>,
) -> Result<Json<Aggregate>, NativeError> {
    caller.allow(Need::Read)?;
    Ok(Json(Aggregate::from(
        &s.store.get_aggregate(&AggRef::parse(&agg)).await?,
    )))
}

/// Rename and/or re-zone an aggregate (`availability_zone: null` clears the zone).
#[utoipa::path(patch, path = "/v1/aggregates/{agg}", tag = "aggregates", request_body = UpdateAggregate,
    params(("agg" = String, Path, description = "id, uuid or name")),
    responses((status = 200, body = Aggregate), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(agg): Path<String>,
    Body(b): Body<UpdateAggregate>,
) -> Result<Json<Aggregate>, NativeError> {
    caller.allow(Need::Admin)?;
    if b.name.is_none() && b.availability_zone.is_none() {
        return Err(NativeError::invalid_body(
            "",
            "send at least one of name and availability_zone",
        ));
    }
    if let Some(n) = &b.name {
        check_name("name", n)?;
    }
    if let Some(Some(z)) = &b.availability_zone {
        check_zone(z)?;
    }
    let a = s
        .store
        .update_aggregate(
            caller.name(),
            &AggRef::parse(&agg),
            b.name.as_deref(),
            b.availability_zone.as_ref().map(|z| z.as_deref()),
            ZoneRules::Native,
        )
        .await?;
    Ok(Json(Aggregate::from(&a)))
}

/// Delete an empty aggregate.
#[utoipa::path(delete, path = "/v1/aggregates/{agg}", tag = "aggregates",
    params(("agg" = String, Path, description = "id, uuid or name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(agg): Path<String>,
) -> Result<StatusCode, NativeError> {
    caller.allow(Need::Admin)?;
    s.store
        .delete_aggregate(caller.name(), &AggRef::parse(&agg))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a host (idempotent).
#[utoipa::path(put, path = "/v1/aggregates/{agg}/hosts/{host}", tag = "aggregates",
    params(("agg" = String, Path, description = "id, uuid or name"), ("host" = String, Path)),
    responses((status = 200, body = Aggregate), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_host(
    State(s): State<AppState>,
    caller: Caller,
    Path((agg, host)): Path<(String, String)>,
) -> Result<Json<Aggregate>, NativeError> {
    caller.allow(Need::Admin)?;
    check_host_name(&host)?;
    let a = s
        .store
        .add_host(caller.name(), &AggRef::parse(&agg), &host, true)
        .await?;
    Ok(Json(Aggregate::from(&a)))
}

/// Remove a host.
#[utoipa::path(delete, path = "/v1/aggregates/{agg}/hosts/{host}", tag = "aggregates",
    params(("agg" = String, Path, description = "id, uuid or name"), ("host" = String, Path)),
    responses((status = 200, body = Aggregate), (status = 404, body = ErrorBody)))]
pub async fn remove_host(
    State(s): State<AppState>,
    caller: Caller,
    Path((agg, host)): Path<(String, String)>,
) -> Result<Json<Aggregate>, NativeError> {
    caller.allow(Need::Admin)?;
    let a = s
        .store
        .remove_host(caller.name(), &AggRef::parse(&agg), &host)
        .await?;
    Ok(Json(Aggregate::from(&a)))
}

/// Merge metadata (`null` deletes a key).
#[utoipa::path(patch, path = "/v1/aggregates/{agg}/metadata", tag = "aggregates",
    request_body(content = Object, description = "{key: value | null}"),
    params(("agg" = String, Path, description = "id, uuid or name")),
    responses((status = 200, body = Aggregate), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_metadata(
    State(s): State<AppState>,
    caller: Caller,
    Path(agg): Path<String>,
    Body(changes): Body<BTreeMap<String, Option<String>>>,
) -> Result<Json<Aggregate>, NativeError> {
    caller.allow(Need::Admin)?;
    check_metadata(&changes)?;
    let a = s
        .store
        .update_metadata(
            caller.name(),
            &AggRef::parse(&agg),
            &changes,
            ZoneRules::Native,
        )
        .await?;
    Ok(Json(Aggregate::from(&a)))
}
