//! The JSON control API: `GET /state`, `GET /invariants`, `POST /faults`, `DELETE /faults`,
//! `DELETE /faults/{id}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;

use crate::faults::{self, Fault};
use crate::invariants;
use crate::shared::Shared;

/// The control API's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/state", get(state))
        .route("/invariants", get(invariants))
        .route(
            "/faults",
            get(list_faults).post(post_fault).delete(clear_all),
        )
        .route("/faults/{id}", delete(clear_one))
        .with_state(shared)
}

fn error(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

async fn state(State(s): State<Arc<Shared>>) -> Response {
    Json(s.snapshot()).into_response()
}

async fn invariants(State(s): State<Arc<Shared>>) -> Response {
    Json(invariants::check(&s.lock())).into_response()
}

async fn list_faults(State(s): State<Arc<Shared>>) -> Response {
    Json(s.lock().faults.clone()).into_response()
}

async fn post_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    match faults::inject(&s, fault) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(msg) => error(StatusCode::BAD_REQUEST, format!("invalid fault: {msg}")),
    }
}

async fn clear_all(State(s): State<Arc<Shared>>) -> Response {
    faults::clear(&s, None);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if faults::clear(&s, Some(&id)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no fault with id {id:?}"))
    }
}
