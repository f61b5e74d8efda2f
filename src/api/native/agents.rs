//! The agents' side of `/v1`: registration, heartbeats, desired state, reports, the long-poll
//! change feed and leases.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Body, Caller, Need, Params};
use super::hosts::host_view;
use super::types::{
    AgentRegister, Aggregate, Desired, ErrorBody, Host, Lease, LeaseRequest, Operation, PoolView,
    Report, Watch,
};
use super::NativeError;
use crate::api::{timefmt, AppState};
use crate::store::{self, AggRef};

/// Register (or re-register) the agent of `host`.
#[utoipa::path(post, path = "/v1/agents/{host}/register", tag = "agents", request_body = AgentRegister,
    params(("host" = String, Path)),
    responses((status = 200, body = Host), (status = 403, body = ErrorBody)))]
pub async fn register(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
    Body(b): Body<AgentRegister>,
) -> Result<Json<Host>, NativeError> {
    caller.allow(Need::Host(&host))?;
    super::aggregates::check_host_name(&host)?;
    let resources = b.resources.map(|r| store::Resources {
        cpu: r.cpu,
        memory_mb: r.memory_mb,
        disk_gb: r.disk_gb,
    });
    let h = s
        .store
        .agent_register(
            caller.name(),
            &host,
            &b.xapi_url,
            b.xapi_uuid.as_deref(),
            &b.agent_version,
            resources,
        )
        .await?;
    Ok(Json(host_view(&s, &h)))
}

/// Heartbeat: keeps the host `up`.
#[utoipa::path(post, path = "/v1/agents/{host}/heartbeat", tag = "agents", params(("host" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn heartbeat(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
) -> Result<StatusCode, NativeError> {
    caller.allow(Need::Host(&host))?;
    s.store.heartbeat(&host).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything the host's agent needs for one reconcile pass.
#[utoipa::path(get, path = "/v1/agents/{host}/desired", tag = "agents", params(("host" = String, Path)),
    responses((status = 200, body = Desired), (status = 404, body = ErrorBody)))]
pub async fn desired(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
) -> Result<Json<Desired>, NativeError> {
    caller.allow(Need::Host(&host))?;
    let d = s.store.desired(&host).await?;
    Ok(Json(Desired {
        revision: d.revision,
        host: host_view(&s, &d.host),
        aggregates: d.aggregates.iter().map(Aggregate::from).collect(),
        pools: d
            .pools
            .iter()
            .map(|p| PoolView {
                aggregate: Aggregate::from(&p.aggregate),
                members: p.members.iter().map(|m| host_view(&s, m)).collect(),
            })
            .collect(),
        operations: d.operations.iter().map(Operation::from).collect(),
    }))
}

/// Report pool status, status metadata, this host's step and errors for one aggregate.
#[utoipa::path(post, path = "/v1/agents/{host}/report", tag = "agents", request_body = Report,
    params(("host" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn report(
    State(s): State<AppState>,
    caller: Caller,
    Path(host): Path<String>,
    Body(b): Body<Report>,
) -> Result<StatusCode, NativeError> {
    caller.allow(Need::Host(&host))?;
    let r = store::Report {
        operational_state: b.operational_state,
        metadata: b.metadata,
        host_state: b.host_state.map(|h| (h.state, h.step)),
        error: b.error,
    };
    s.store
        .report(caller.name(), &host, &AggRef::parse(&b.aggregate), &r)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/watch`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Answer once the revision exceeds this; omitted: answer at once with the current one.
    pub since: Option<i64>,
    /// Seconds to wait at most (default 30, 0–300).
    pub timeout: Option<u64>,
    /// Answer only for changes that can alter this host's desired state (the host, its
    /// aggregates and their members): what an agent waits for.
    pub host: Option<String>,
}

struct WatcherGauge;

impl WatcherGauge {
    fn new() -> WatcherGauge {
        metrics::gauge!("xenpool_watchers").increment(1.0);
        WatcherGauge
    }
}

impl Drop for WatcherGauge {
    fn drop(&mut self) {
        metrics::gauge!("xenpool_watchers").decrement(1.0);
    }
}

/// Long-poll: answers as soon as the store's revision exceeds `since`, or at the timeout.
#[utoipa::path(get, path = "/v1/watch", tag = "agents", params(WatchQuery),
    responses((status = 200, body = Watch), (status = 400, body = ErrorBody)))]
pub async fn watch(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<WatchQuery>,
) -> Result<Json<Watch>, NativeError> {
    caller.allow(Need::Read)?;
    let since = q.since.unwrap_or(0);
    let timeout = q.timeout.unwrap_or(30);
    if timeout > 300 {
        return Err(NativeError::invalid_query(
            "timeout",
            format!("timeout {timeout} is too long: use 0–300 seconds"),
        ));
    }
    let _gauge = WatcherGauge::new();
    let mut rx = s.store.subscribe();
    let now = s.store.refresh_revision().await?;
    if q.since.is_none() {
        return Ok(Json(Watch {
            revision: now,
            changed: now > 0,
        }));
    }
    let scope = match &q.host {
        Some(host) => Some(store::WatchScope::of_host(
            host,
            &s.store.list_aggregates().await?,
        )),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    // Revisions up to here were seen and did not touch the scope.
    let mut seen = since;
    loop {
        let current = *rx.borrow_and_update();
        if current > seen {
            let touched = scope
                .as_ref()
                .is_none_or(|scope| s.store.touches(seen, current, scope));
            if touched {
                return Ok(Json(Watch {
                    revision: current,
                    changed: true,
                }));
            }
            seen = current;
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
            _ = s.shutdown.cancelled() => break,
        }
    }
    Ok(Json(Watch {
        revision: s.store.known_revision(),
        changed: false,
    }))
}

fn check_lease(caller: &Caller, holder: &str) -> Result<(), NativeError> {
    if holder.is_empty() || holder.len() > 255 {
        return Err(NativeError::invalid_body(
            "holder",
            "holder must be 1–255 characters",
        ));
    }
    if let Some(bound) = caller.bound_host() {
        if bound != holder {
            return Err(NativeError::forbidden(
                format!("an agent token bound to host '{bound}' may only hold leases as '{bound}', not '{holder}'"),
                serde_json::json!({"bound_host": bound, "holder": holder}),
            ));
        }
    }
    Ok(())
}

/// Take or renew a lease.
#[utoipa::path(post, path = "/v1/leases/{name}", tag = "leases", request_body = LeaseRequest,
    params(("name" = String, Path)),
    responses((status = 200, body = Lease), (status = 409, body = ErrorBody)))]
pub async fn acquire(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(b): Body<LeaseRequest>,
) -> Result<Json<Lease>, NativeError> {
    caller.allow(Need::AgentOrAdmin)?;
    check_lease(&caller, &b.holder)?;
    if !(1..=3600).contains(&b.ttl_seconds) {
        return Err(NativeError::invalid_body(
            "ttl_seconds",
            format!("ttl_seconds {} is out of range: use 1–3600", b.ttl_seconds),
        ));
    }
    let l = s
        .store
        .acquire_lease(caller.name(), &name, &b.holder, b.ttl_seconds)
        .await?;
    Ok(Json(Lease {
        name: l.name,
        holder: l.holder,
        expires_at: timefmt::native(l.expires_at),
    }))
}

/// Query of `DELETE /v1/leases/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReleaseQuery {
    /// The holder releasing it.
    pub holder: String,
}

/// Release a lease.
#[utoipa::path(delete, path = "/v1/leases/{name}", tag = "leases", params(("name" = String, Path), ReleaseQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn release(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Params(q): Params<ReleaseQuery>,
) -> Result<StatusCode, NativeError> {
    caller.allow(Need::AgentOrAdmin)?;
    check_lease(&caller, &q.holder)?;
    s.store
        .release_lease(caller.name(), &name, &q.holder)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
