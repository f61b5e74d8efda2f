//! The native API under `/v1` (contract: `docs/native-api.md`), with its OpenAPI document
//! generated from the handlers' annotations.

mod agents;
mod aggregates;
mod error;
mod extract;
mod hosts;
mod log;
pub mod types;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use utoipa::OpenApi;

pub use error::NativeError;

use crate::api::AppState;

/// The OpenAPI description of `/v1`.
#[derive(OpenApi)]
#[openapi(
    info(title = "xenpool native API", description = "See docs/native-api.md."),
    paths(
        aggregates::list, aggregates::create, aggregates::show, aggregates::update,
        aggregates::delete, aggregates::add_host, aggregates::remove_host, aggregates::set_metadata,
        hosts::list, hosts::register, hosts::show, hosts::update, hosts::maintenance, hosts::zones,
        agents::register, agents::heartbeat, agents::desired, agents::report, agents::watch,
        agents::acquire, agents::release,
        log::list_operations, log::show_operation, log::update_operation,
        log::list_events, log::post_event,
    ),
    tags(
        (name = "aggregates"), (name = "hosts"), (name = "zones"), (name = "agents"),
        (name = "leases"), (name = "operations"), (name = "events"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// 404 for a route `/v1` does not have (also the whole server's fallback).
pub async fn route_not_found(uri: axum::http::Uri) -> NativeError {
    NativeError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!(
            "no route {}; the routes are listed in GET /v1/openapi.json",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> NativeError {
    NativeError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see GET /v1/openapi.json",
            uri.path()
        ),
    )
}

/// The `/v1` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route(
            "/aggregates",
            get(aggregates::list).post(aggregates::create),
        )
        .route(
            "/aggregates/{agg}",
            get(aggregates::show)
                .patch(aggregates::update)
                .delete(aggregates::delete),
        )
        .route(
            "/aggregates/{agg}/hosts/{host}",
            put(aggregates::add_host).delete(aggregates::remove_host),
        )
        .route(
            "/aggregates/{agg}/metadata",
            axum::routing::patch(aggregates::set_metadata),
        )
        .route("/hosts", get(hosts::list).post(hosts::register))
        .route("/hosts/{host}", get(hosts::show).patch(hosts::update))
        .route("/hosts/{host}/maintenance", put(hosts::maintenance))
        .route("/zones", get(hosts::zones))
        .route("/agents/{host}/register", post(agents::register))
        .route("/agents/{host}/heartbeat", post(agents::heartbeat))
        .route("/agents/{host}/desired", get(agents::desired))
        .route("/agents/{host}/report", post(agents::report))
        .route("/watch", get(agents::watch))
        .route(
            "/leases/{name}",
            post(agents::acquire).delete(agents::release),
        )
        .route("/operations", get(log::list_operations))
        .route(
            "/operations/{id}",
            get(log::show_operation).patch(log::update_operation),
        )
        .route("/events", get(log::list_events).post(log::post_event))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(route_not_found)
}
