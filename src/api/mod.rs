//! HTTP handlers: the Nova-compatible surface (`compat`, under `/v2.1`), the native API
//! (`native`, under `/v1`) and the operational endpoints. Handlers extract, authorize and
//! shape; every rule lives in one store call, so both surfaces agree.

pub mod compat;
mod identity;
pub mod memo;
pub mod native;
mod ops;
pub mod rules;
mod state;
pub mod timefmt;

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;

pub use state::{AppState, Settings};

/// The request id of one request (`req-<uuid4>`), in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The route template a response answered, for metrics (set by dispatchers that do their own
/// routing).
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(compat::root).fallback(compat::root))
        .route("/v2.1", any(compat::entry))
        .route("/v2.1/", any(compat::entry))
        .route("/v2.1/{*rest}", any(compat::entry))
        .nest("/v1", native::router())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(native::route_not_found)
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Gives every request an id (both `x-openstack-request-id` and `x-compute-request-id`) and
/// records its count and latency by route, method and status.
async fn observe(mut req: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %req.uri().path());
    let mut resp = tracing::Instrument::instrument(next.run(req), span).await;
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.to_string())
        .or(matched)
        .unwrap_or_else(|| "unmatched".to_string());
    let status = resp.status().as_u16().to_string();
    tracing::debug!(request_id = %id, %route, %status, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request done");
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("xenpool_http_requests_total", &labels).increment(1);
    metrics::histogram!("xenpool_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut()
            .insert("x-openstack-request-id", v.clone());
        resp.headers_mut().insert("x-compute-request-id", v);
    }
    resp
}
