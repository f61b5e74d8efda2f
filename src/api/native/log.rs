//! `/v1/operations` and `/v1/events`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Body, Caller, Need, Params};
use super::types::{
    ErrorBody, Event, EventList, NewEvent, Operation, OperationList, OperationUpdate,
};
use super::NativeError;
use crate::api::AppState;
use crate::store::{self, EventFilter, OperationFilter, OperationPatch, OP_KINDS, OP_STATES};

fn limit(l: Option<i64>) -> Result<i64, NativeError> {
    match l.unwrap_or(100) {
        l @ 1..=1000 => Ok(l),
        l => Err(NativeError::invalid_query(
            "limit",
            format!("limit {l} is out of range: use 1–1000"),
        )),
    }
}

/// Query of `GET /v1/operations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OperationQuery {
    /// Only this host's.
    pub host: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// At most this many (default 100, max 1000).
    pub limit: Option<i64>,
}

/// List operations, newest first.
#[utoipa::path(get, path = "/v1/operations", tag = "operations", params(OperationQuery),
    responses((status = 200, body = OperationList), (status = 400, body = ErrorBody)))]
pub async fn list_operations(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<OperationQuery>,
) -> Result<Json<OperationList>, NativeError> {
    caller.allow(Need::Read)?;
    if let Some(st) = q.state.as_deref().filter(|s| !OP_STATES.contains(s)) {
        return Err(NativeError::invalid_query(
            "state",
            format!("state {st:?} is not one of {}", OP_STATES.join(", ")),
        ));
    }
    if let Some(k) = q.kind.as_deref().filter(|k| !OP_KINDS.contains(k)) {
        return Err(NativeError::invalid_query(
            "kind",
            format!("kind {k:?} is not one of {}", OP_KINDS.join(", ")),
        ));
    }
    let f = OperationFilter {
        host: q.host,
        state: q.state,
        kind: q.kind,
        limit: limit(q.limit)?,
    };
    let ops = s.store.list_operations(&f).await?;
    Ok(Json(OperationList {
        operations: ops.iter().map(Operation::from).collect(),
    }))
}

/// Show an operation.
#[utoipa::path(get, path = "/v1/operations/{id}", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, body = Operation), (status = 404, body = ErrorBody)))]
pub async fn show_operation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Operation>, NativeError> {
    caller.allow(Need::Read)?;
    let op = s.store.get_operation(parse_id(&id)?).await?;
    Ok(Json(Operation::from(&op)))
}

fn parse_id(id: &str) -> Result<i64, NativeError> {
    id.parse().map_err(|_| {
        NativeError::new(
            StatusCode::NOT_FOUND,
            "operation_not_found",
            format!("operation {id:?} does not exist: operation ids are integers"),
        )
    })
}

/// Report progress on an operation (its host's agent, or admin).
#[utoipa::path(patch, path = "/v1/operations/{id}", tag = "operations", request_body = OperationUpdate,
    params(("id" = i64, Path)),
    responses((status = 200, body = Operation), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_operation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<OperationUpdate>,
) -> Result<Json<Operation>, NativeError> {
    caller.allow(Need::AgentOrAdmin)?;
    let id = parse_id(&id)?;
    let op = s.store.get_operation(id).await?;
    caller.allow(Need::Host(&op.host))?;
    let patch = OperationPatch {
        state: b.state,
        progress: b.progress,
        plan: b.plan,
        vms: b
            .vms
            .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Array(Vec::new()))),
        error: b.error,
        warnings: b.warnings,
    };
    let op = s.store.update_operation(caller.name(), id, &patch).await?;
    Ok(Json(Operation::from(&op)))
}

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only ids greater than this.
    pub since: Option<i64>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this host.
    pub host: Option<String>,
    /// Only this aggregate name.
    pub aggregate: Option<String>,
    /// At most this many (default 100, max 1000).
    pub limit: Option<i64>,
}

/// List events, oldest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody)))]
pub async fn list_events(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<EventQuery>,
) -> Result<Json<EventList>, NativeError> {
    caller.allow(Need::Read)?;
    let f = EventFilter {
        since: q.since.unwrap_or(0),
        kind: q.kind,
        host: q.host,
        aggregate: q.aggregate,
        limit: limit(q.limit)?,
    };
    let events = s.store.list_events(&f).await?;
    Ok(Json(EventList {
        events: events.iter().map(Event::from).collect(),
    }))
}

/// Append a step event (agents: their own host).
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = NewEvent,
    responses((status = 201, body = Event), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn post_event(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<NewEvent>,
) -> Result<(StatusCode, Json<Event>), NativeError> {
    caller.allow(Need::AgentOrAdmin)?;
    let kind_ok = (1..=64).contains(&b.kind.len())
        && b.kind
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_');
    if !kind_ok {
        return Err(NativeError::invalid_body(
            "kind",
            format!(
                "event kind {:?} is not valid: use 1–64 of a–z 0–9 . _",
                b.kind
            ),
        ));
    }
    let host = match caller.bound_host() {
        Some(bound) => {
            if b.host.as_deref().is_some_and(|h| h != bound) {
                return Err(NativeError::forbidden(
                    format!("an agent bound to host '{bound}' may only post events for '{bound}'"),
                    serde_json::json!({"bound_host": bound}),
                ));
            }
            Some(bound.to_string())
        }
        None => b.host,
    };
    let e: store::Event = s
        .store
        .append_event(
            caller.name(),
            &b.kind,
            b.aggregate.as_deref(),
            host.as_deref(),
            &b.message,
            b.details.unwrap_or_else(|| serde_json::json!({})),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Event::from(&e))))
}
