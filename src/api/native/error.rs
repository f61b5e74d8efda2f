//! The native error envelope `{"error": {"code", "message", "details"}}` and how store
//! refusals map onto it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::timefmt;
use crate::store::StoreError;

/// An error answer on `/v1`.
#[derive(Debug)]
pub struct NativeError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl NativeError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> NativeError {
        NativeError {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// Adds details.
    pub fn with(mut self, details: Value) -> NativeError {
        self.details = details;
        self
    }

    /// 400 `invalid_body` about `field`.
    pub fn invalid_body(field: &str, message: impl Into<String>) -> NativeError {
        NativeError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
            .with(json!({"field": field}))
    }

    /// 400 `invalid_query` about `parameter`.
    pub fn invalid_query(parameter: &str, message: impl Into<String>) -> NativeError {
        NativeError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
            .with(json!({"parameter": parameter}))
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>, details: Value) -> NativeError {
        NativeError::new(StatusCode::FORBIDDEN, "forbidden", message).with(details)
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message, "details": self.details}})),
        )
            .into_response()
    }
}

impl From<StoreError> for NativeError {
    fn from(e: StoreError) -> NativeError {
        use StatusCode as S;
        match e {
            StoreError::AggregateNotFound(a) => NativeError::new(
                S::NOT_FOUND,
                "aggregate_not_found",
                format!("aggregate '{a}' does not exist; list aggregates with GET /v1/aggregates"),
            )
            .with(json!({"aggregate": a})),
            StoreError::HostNotFound(h) => NativeError::new(
                S::NOT_FOUND,
                "host_not_found",
                format!("host '{h}' is not registered; register it with POST /v1/hosts or start its agent"),
            )
            .with(json!({"host": h})),
            StoreError::AggregateNameExists(n) => NativeError::new(
                S::CONFLICT,
                "aggregate_name_taken",
                format!("an aggregate named '{n}' exists already; pick another name"),
            )
            .with(json!({"name": n})),
            StoreError::AggregateHostExists { aggregate_id, host } => NativeError::new(
                S::CONFLICT,
                "host_in_aggregate",
                format!("host '{host}' is already in aggregate {aggregate_id}"),
            )
            .with(json!({"aggregate_id": aggregate_id, "host": host})),
            StoreError::HostNotInAggregate { aggregate_id, host } => NativeError::new(
                S::NOT_FOUND,
                "host_not_in_aggregate",
                format!("host '{host}' is not a member of aggregate {aggregate_id}"),
            )
            .with(json!({"aggregate_id": aggregate_id, "host": host})),
            StoreError::AzConflict {
                aggregate_id,
                hosts,
                zones,
            } => NativeError::new(
                S::CONFLICT,
                "availability_zone_conflict",
                format!(
                    "host(s) {} of aggregate {aggregate_id} are already in availability zone(s) {}; \
                     a host can be in one zone only: remove it from the other zone's aggregates first",
                    hosts.join(", "),
                    zones.join(", ")
                ),
            )
            .with(json!({"aggregate_id": aggregate_id, "hosts": hosts, "zones": zones})),
            StoreError::EmptyAz { aggregate_id, name } => NativeError::invalid_body(
                "availability_zone",
                format!("aggregate {name} ({aggregate_id}): the zone name must not be empty"),
            ),
            StoreError::AggregateNotEmpty {
                aggregate_id,
                hosts,
            } => NativeError::new(
                S::CONFLICT,
                "aggregate_not_empty",
                format!(
                    "aggregate {aggregate_id} still has hosts {}; remove them first",
                    hosts.join(", ")
                ),
            )
            .with(json!({"aggregate_id": aggregate_id, "hosts": hosts})),
            StoreError::HostExists(h) => NativeError::new(
                S::CONFLICT,
                "host_exists",
                format!("host '{h}' is registered already"),
            )
            .with(json!({"host": h})),
            StoreError::OperationNotFound(id) => NativeError::new(
                S::NOT_FOUND,
                "operation_not_found",
                format!("operation {id} does not exist; list them with GET /v1/operations"),
            )
            .with(json!({"operation": id})),
            StoreError::OperationFinished { id, state } => NativeError::new(
                S::CONFLICT,
                "operation_finished",
                format!("operation {id} is already {state} and cannot change"),
            )
            .with(json!({"operation": id, "state": state})),
            StoreError::LeaseHeld {
                name,
                holder,
                expires_at,
            } => NativeError::new(
                S::CONFLICT,
                "lease_held",
                format!("lease '{name}' is held by '{holder}' until {}", timefmt::native(expires_at)),
            )
            .with(json!({"lease": name, "holder": holder, "expires_at": timefmt::native(expires_at)})),
            StoreError::LeaseNotFound(name) => NativeError::new(
                S::NOT_FOUND,
                "lease_not_found",
                format!("no live lease named '{name}'"),
            )
            .with(json!({"lease": name})),
            StoreError::Invalid { field, message } => NativeError::invalid_body(&field, message),
            e @ (StoreError::Connect { .. } | StoreError::Config(_)) => {
                tracing::error!(error = %e, "database unavailable");
                NativeError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database cannot be reached; retry later",
                )
            }
            e => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "store failure");
                NativeError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log has the cause (search for this request's x-openstack-request-id)",
                )
            }
        }
    }
}
