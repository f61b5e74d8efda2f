//! The Nova-compatible surface under `/v2.1` and `/v2.1/{project_id}`: one dispatcher that
//! copies Nova's routing (HTML 404 for unknown routes and methods, no trailing slashes, no
//! `.json`), authentication (keystone's 401), microversions and content types, then hands the
//! request to the handler for `os-aggregates`, `os-availability-zone`, `os-hosts` or
//! `os-services`. Each handler checks in Nova's order: version gate, schema, policy, id, logic.

mod aggregates;
mod fault;
mod hosts;
mod pyrepr;
mod schema;
mod services;
mod version;
mod zones;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::identity::identify;
use super::{AppState, RequestId, RouteLabel};
use crate::auth::{Identity, Role};
pub use fault::Fault;
use version::Version;

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;

/// Who may call a Nova rule.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    /// admin only.
    Admin,
    /// admin and reader.
    Read,
    /// any authenticated caller.
    Anyone,
}

/// One authenticated Nova request, as the handlers see it.
pub(crate) struct Ctx<'a> {
    pub state: &'a AppState,
    pub who: Identity,
    pub version: Version,
    pub request_id: String,
    pub query: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// Nova's policy check for `rule`.
    pub fn allow(&self, rule: &str, access: Access) -> Result<(), Fault> {
        let ok = match access {
            Access::Admin => self.who.role == Role::Admin,
            Access::Read => matches!(self.who.role, Role::Admin | Role::Reader),
            Access::Anyone => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Fault::policy(rule))
        }
    }

    /// The actor name recorded in events.
    pub fn actor(&self) -> &str {
        &self.who.name
    }

    /// At ≥2.102 index/show refuse unknown query parameters (none are known there).
    pub fn no_query_from_2_102(&self) -> Result<(), Fault> {
        if self.version.at_least(102) && !self.query.is_empty() {
            let mut seen: Vec<String> = Vec::new();
            for (k, _) in &self.query {
                let r = pyrepr::repr_str(k);
                if !seen.contains(&r) {
                    seen.push(r);
                }
            }
            let verb = if seen.len() == 1 { "was" } else { "were" };
            return Err(Fault::bad_request(format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                seen.join(", ")
            )));
        }
        Ok(())
    }

    /// A store failure as Nova's 500.
    pub fn internal(&self, e: &crate::store::StoreError) -> Fault {
        Fault::internal(e, &self.request_id)
    }
}

/// A request body as Nova's deserializer sees it.
pub(crate) enum NovaBody {
    /// No body (Nova: `None`).
    Empty,
    /// JSON.
    Json(Value),
    /// Present but not JSON.
    Malformed,
}

impl NovaBody {
    /// For create/update handlers: the value to validate (`None` → JSON null).
    pub fn value(self) -> Result<Value, Fault> {
        match self {
            NovaBody::Empty => Ok(Value::Null),
            NovaBody::Json(v) => Ok(v),
            NovaBody::Malformed => Err(Fault::bad_request("Malformed request body")),
        }
    }
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn json_response(v: Value) -> Response {
    let mut r = Json(v).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `GET /`: the versions document (no token needed: clients discover before they authenticate).
pub async fn root(req: Request) -> Response {
    if req.method() != Method::GET {
        return fault::html_not_found();
    }
    json_response(version::versions_document(&base_url(req.headers())))
}

fn accepted_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let ct = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    ct.is_empty()
        || ct.eq_ignore_ascii_case("text/plain")
        || ct.eq_ignore_ascii_case("application/json")
        || ct.eq_ignore_ascii_case("application/vnd.openstack.compute+json")
}

fn is_project_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase() || b == b'-')
}

/// Everything under `/v2.1`.
pub async fn entry(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let path = parts.uri.path();
    let rest = path.strip_prefix("/v2.1").unwrap_or(path);
    if rest.is_empty() || rest == "/" {
        let mut r = if parts.method == Method::GET {
            json_response(version::version_document(&base_url(&parts.headers)))
        } else {
            fault::html_not_found()
        };
        r.extensions_mut().insert(RouteLabel("/v2.1"));
        return r;
    }
    let Some(who) = identify(&state.tokens, &parts.headers) else {
        let mut r = fault::unauthorized(&base_url(&parts.headers).replace("http://", ""));
        r.extensions_mut().insert(RouteLabel("/v2.1/*"));
        return r;
    };
    let version = match version::negotiate(&parts.headers) {
        Ok(v) => v,
        Err(f) => {
            let mut r = f.into_response();
            version::stamp(r.headers_mut(), Version(1));
            r.extensions_mut().insert(RouteLabel("/v2.1/*"));
            return r;
        }
    };
    let mut segs: Vec<&str> = rest[1..].split('/').collect();
    if segs.len() >= 2 && is_project_id(segs[0]) {
        segs.remove(0);
    }
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let ctx = Ctx {
        state: &state,
        who,
        version,
        request_id,
        query,
    };
    let (label, result) = if !accepted_content_type(&parts.headers) {
        (
            "/v2.1/*",
            Err(Fault::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Content-Type",
            )),
        )
    } else {
        let body = read_body(&parts.method, body).await;
        route(&ctx, &parts.method, &segs, body).await
    };
    let mut r = match result {
        Ok(r) => r,
        Err(f) => f.into_response(),
    };
    if r.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes())
        != Some(b"text/html; charset=UTF-8")
    {
        version::stamp(r.headers_mut(), version);
    }
    r.extensions_mut().insert(RouteLabel(label));
    r
}

async fn read_body(method: &Method, body: Body) -> NovaBody {
    if !(method == Method::POST || method == Method::PUT) {
        return NovaBody::Empty;
    }
    match to_bytes(body, MAX_BODY).await {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => NovaBody::Empty,
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(v) => NovaBody::Json(v),
            Err(_) => NovaBody::Malformed,
        },
        Err(_) => NovaBody::Malformed,
    }
}

type Routed = (&'static str, Result<Response, Fault>);

async fn route(ctx: &Ctx<'_>, method: &Method, segs: &[&str], body: NovaBody) -> Routed {
    use aggregates as agg;
    let m = method.clone();
    if segs.iter().any(|s| s.is_empty()) {
        return ("unmatched", Ok(fault::html_not_found()));
    }
    match (m, segs) {
        (Method::GET, ["os-aggregates"]) => ("/os-aggregates", agg::index(ctx).await),
        (Method::POST, ["os-aggregates"]) => ("/os-aggregates", agg::create(ctx, body).await),
        (Method::GET, ["os-aggregates", id]) => ("/os-aggregates/{id}", agg::show(ctx, id).await),
        (Method::PUT, ["os-aggregates", id]) => {
            ("/os-aggregates/{id}", agg::update(ctx, id, body).await)
        }
        (Method::DELETE, ["os-aggregates", id]) => {
            ("/os-aggregates/{id}", agg::delete(ctx, id).await)
        }
        (Method::POST, ["os-aggregates", id, "action"]) => (
            "/os-aggregates/{id}/action",
            agg::action(ctx, id, body).await,
        ),
        (Method::POST, ["os-aggregates", id, "images"]) => (
            "/os-aggregates/{id}/images",
            agg::images(ctx, id, body).await,
        ),
        (Method::GET, ["os-availability-zone"]) => {
            ("/os-availability-zone", zones::list(ctx).await)
        }
        (Method::GET, ["os-availability-zone", "detail"]) => {
            ("/os-availability-zone/detail", zones::detail(ctx).await)
        }
        (Method::GET, ["os-hosts"]) => ("/os-hosts", hosts::index(ctx).await),
        (Method::GET, ["os-hosts", host]) => ("/os-hosts/{host}", hosts::show(ctx, host).await),
        (Method::PUT, ["os-hosts", host]) => {
            ("/os-hosts/{host}", hosts::update(ctx, host, body).await)
        }
        (Method::GET, ["os-hosts", host, action @ ("reboot" | "shutdown" | "startup")]) => (
            "/os-hosts/{host}/{action}",
            hosts::power_action(ctx, host, action).await,
        ),
        (Method::GET, ["os-services"]) => ("/os-services", services::index(ctx).await),
        (Method::PUT, ["os-services", id]) => {
            ("/os-services/{id}", services::update(ctx, id, body).await)
        }
        _ => ("unmatched", Ok(fault::html_not_found())),
    }
}

/// Nova's `validate_integer(id, 'id')`: `Ok(None)` for an integer too big to exist.
pub(crate) fn parse_id(s: &str) -> Result<Option<i64>, Fault> {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t).replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || t.contains("__") {
        return Err(Fault::bad_request(
            "Invalid input received: id must be an integer",
        ));
    }
    Ok(t.replace('_', "").parse::<i64>().ok())
}
