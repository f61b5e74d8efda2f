//! `/healthz`, `/readyz` and `/metrics` (Prometheus text). No token needed.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// 200 while the process serves.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers (migrations ran at open), 503 otherwise.
pub async fn readyz(State(s): State<AppState>) -> Response {
    match s.store.refresh_revision().await {
        Ok(rev) => Json(json!({"status": "ready", "revision": rev})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unavailable");
            super::native::NativeError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer; check the database URL and that the server is up",
            )
            .into_response()
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let Some(h) = &s.metrics else {
        return super::native::NativeError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no metrics recorder is installed in this process",
        )
        .into_response();
    };
    let (size, idle) = s.store.pool_stats();
    let idle = idle as f64;
    metrics::gauge!("xenpool_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("xenpool_db_pool_connections", "state" => "in_use")
        .set((f64::from(size) - idle).max(0.0));
    h.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        h.render(),
    )
        .into_response()
}
