//! `os-aggregates`: list, create, show, update, delete, the `add_host` / `remove_host` /
//! `set_metadata` actions and the 2.81 `images` call, with Nova's messages and check order.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::schema::{obj, validate, Format, Schema};
use super::{json_response, parse_id, pyrepr, Access, Ctx, Fault, NovaBody};
use crate::api::rules::py_strip;
use crate::api::timefmt;
use crate::store::{now_micros, AggRef, Aggregate, Micros, StoreError, ZoneRules};

const RULE: &str = "os_compute_api:os-aggregates:";

fn rule(action: &str) -> String {
    format!("{RULE}{action}")
}

/// Nova's aggregate object; `full` adds `hosts` and `metadata` (every answer but create);
/// `updated_now` shows the transient `updated_at` of metadata and zone changes.
fn body(ctx: &Ctx<'_>, a: &Aggregate, full: bool, updated_now: Option<Micros>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    if ctx.version.at_least(41) {
        m.insert("uuid".into(), json!(a.uuid));
    }
    m.insert("name".into(), json!(a.name));
    if full {
        m.insert("hosts".into(), json!(a.hosts));
        m.insert("metadata".into(), json!(a.metadata_with_zone()));
    }
    m.insert("created_at".into(), json!(timefmt::nova(a.created_at)));
    m.insert(
        "updated_at".into(),
        json!(updated_now.or(a.updated_at).map(timefmt::nova)),
    );
    m.insert("deleted_at".into(), Value::Null);
    m.insert("deleted".into(), json!(false));
    m.insert("availability_zone".into(), json!(a.availability_zone));
    Value::Object(m)
}

fn one(ctx: &Ctx<'_>, a: &Aggregate, full: bool, updated_now: Option<Micros>) -> Response {
    json_response(json!({"aggregate": body(ctx, a, full, updated_now)}))
}

fn not_found(id: &str) -> Fault {
    Fault::not_found(format!("Aggregate {id} could not be found."))
}

fn zones_list(zones: &[String]) -> String {
    let items: Vec<String> = zones.iter().map(|z| pyrepr::repr_str(z)).collect();
    format!("[{}]", items.join(", "))
}

fn aggregate_schema(name: Format) -> Vec<(&'static str, Schema)> {
    vec![
        ("name", Schema::Str(1, 255, name)),
        ("availability_zone", Schema::AzOrNull),
    ]
}

/// `GET /os-aggregates`.
pub async fn index(ctx: &Ctx<'_>) -> Result<Response, Fault> {
    ctx.no_query_from_2_102()?;
    ctx.allow(&rule("index"), Access::Read)?;
    let view = ctx
        .state
        .store
        .aggregate_view()
        .await
        .map_err(|e| ctx.internal(&e))?;
    // The body depends only on the committed state and on whether uuids are shown (2.41).
    let variant = u8::from(ctx.version.at_least(41));
    let memo = &ctx.state.nova_aggregate_list;
    let rendered = match memo.get(view.revision(), variant) {
        Some(b) => b,
        None => {
            let items: Vec<Value> = view
                .aggregates()
                .map(|a| body(ctx, a, true, None))
                .collect();
            let b = Bytes::from(json!({"aggregates": items}).to_string());
            memo.put(view.revision(), variant, b.clone());
            b
        }
    };
    let mut r = rendered.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// `POST /os-aggregates`.
pub async fn create(ctx: &Ctx<'_>, b: NovaBody) -> Result<Response, Fault> {
    let v = b.value()?;
    let schema = obj(
        vec![("aggregate", obj(aggregate_schema(Format::Name), &["name"]))],
        &["aggregate"],
    );
    validate(&schema, &v, None).map_err(Fault::bad_request)?;
    ctx.allow(&rule("create"), Access::Admin)?;
    let agg = &v["aggregate"];
    let name = py_strip(agg["name"].as_str().unwrap_or_default());
    let az = agg
        .get("availability_zone")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(py_strip);
    match ctx
        .state
        .store
        .create_aggregate(ctx.actor(), name, az, &BTreeMap::new())
        .await
    {
        Ok(a) => Ok(one(ctx, &a, false, None)),
        Err(StoreError::AggregateNameExists(n)) => {
            Err(Fault::conflict(format!("Aggregate {n} already exists.")))
        }
        Err(e) => Err(ctx.internal(&e)),
    }
}

/// `GET /os-aggregates/{id}`.
pub async fn show(ctx: &Ctx<'_>, id: &str) -> Result<Response, Fault> {
    ctx.no_query_from_2_102()?;
    ctx.allow(&rule("show"), Access::Read)?;
    let Some(n) = parse_id(id)? else {
        return Err(not_found(id));
    };
    match ctx.state.store.get_aggregate(&AggRef::Id(n)).await {
        Ok(a) => Ok(one(ctx, &a, true, None)),
        Err(StoreError::AggregateNotFound(_)) => Err(not_found(id)),
        Err(e) => Err(ctx.internal(&e)),
    }
}

/// `PUT /os-aggregates/{id}`: the rename commits before the zone is judged (as in Nova).
pub async fn update(ctx: &Ctx<'_>, id: &str, b: NovaBody) -> Result<Response, Fault> {
    let v = b.value()?;
    let schema = obj(
        vec![(
            "aggregate",
            Schema::Object {
                props: aggregate_schema(Format::NameWithSpaces),
                required: &[],
                any_of: &["name", "availability_zone"],
                closed: true,
            },
        )],
        &["aggregate"],
    );
    validate(&schema, &v, None).map_err(Fault::bad_request)?;
    ctx.allow(&rule("update"), Access::Admin)?;
    let Some(n) = parse_id(id)? else {
        return Err(not_found(id));
    };
    let r = AggRef::Id(n);
    let updates = &v["aggregate"];
    let store = &ctx.state.store;
    let mut agg = None;
    if let Some(name) = updates.get("name").and_then(Value::as_str) {
        match store
            .update_aggregate(ctx.actor(), &r, Some(py_strip(name)), None, ZoneRules::Nova)
            .await
        {
            Ok(a) => agg = Some(a),
            Err(StoreError::AggregateNotFound(_)) => return Err(not_found(id)),
            Err(StoreError::AggregateNameExists(n)) => {
                return Err(Fault::conflict(format!("Aggregate {n} already exists.")))
            }
            Err(e) => return Err(ctx.internal(&e)),
        }
    }
    if let Some(az) = updates.get("availability_zone") {
        let mut changes = BTreeMap::new();
        changes.insert(
            crate::store::AZ_KEY.to_string(),
            az.as_str().map(str::to_string),
        );
        return match store
            .update_metadata(ctx.actor(), &r, &changes, ZoneRules::Nova)
            .await
        {
            Ok(a) => Ok(one(ctx, &a, true, Some(now_micros()))),
            Err(e) => Err(zone_fault(ctx, id, "Cannot update aggregate", e)),
        };
    }
    match agg {
        Some(a) => Ok(one(ctx, &a, true, None)),
        None => Err(not_found(id)),
    }
}

fn zone_fault(ctx: &Ctx<'_>, id: &str, what: &str, e: StoreError) -> Fault {
    match e {
        StoreError::AggregateNotFound(_) => not_found(id),
        StoreError::EmptyAz { name, .. } => Fault::bad_request(format!(
            "{what} {id}. Reason: Aggregate {name} does not support empty named availability zone."
        )),
        StoreError::AzConflict { zones, .. } => Fault::bad_request(format!(
            "{what} {id}. Reason: One or more hosts already in availability zone(s) {}.",
            zones_list(&zones)
        )),
        e => ctx.internal(&e),
    }
}

/// `DELETE /os-aggregates/{id}`: 200 with an empty body.
pub async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<Response, Fault> {
    ctx.allow(&rule("delete"), Access::Admin)?;
    let Some(n) = parse_id(id)? else {
        return Err(not_found(id));
    };
    match ctx
        .state
        .store
        .delete_aggregate(ctx.actor(), &AggRef::Id(n))
        .await
    {
        Ok(()) => {
            let mut r = (StatusCode::OK, "").into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        Err(StoreError::AggregateNotFound(_)) => Err(not_found(id)),
        Err(StoreError::AggregateNotEmpty { .. }) => Err(Fault::bad_request(format!(
            "Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty."
        ))),
        Err(e) => Err(ctx.internal(&e)),
    }
}

fn host_action_schema(action: &'static [&'static str; 1]) -> Schema {
    obj(
        vec![(
            action[0],
            obj(vec![("host", Schema::Str(1, 255, Format::Fqdn))], &["host"]),
        )],
        action,
    )
}

/// `POST /os-aggregates/{id}/action`.
pub async fn action(ctx: &Ctx<'_>, id: &str, b: NovaBody) -> Result<Response, Fault> {
    let v = match b {
        NovaBody::Json(v @ Value::Object(_)) if v.as_object().is_some_and(|o| o.len() == 1) => v,
        _ => return Err(Fault::bad_request("Malformed request body")),
    };
    let key = v
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    match key.as_str() {
        "add_host" => add_host(ctx, id, &v).await,
        "remove_host" => remove_host(ctx, id, &v).await,
        "set_metadata" => set_metadata(ctx, id, &v).await,
        other => Err(Fault::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

async fn add_host(ctx: &Ctx<'_>, id: &str, v: &Value) -> Result<Response, Fault> {
    validate(&host_action_schema(&["add_host"]), v, None).map_err(Fault::bad_request)?;
    ctx.allow(&rule("add_host"), Access::Admin)?;
    let parsed = parse_id(id)?;
    let host = v["add_host"]["host"].as_str().unwrap_or_default();
    let host_missing = || Fault::not_found(format!("Compute host {host} could not be found."));
    let Some(n) = parsed else {
        return match ctx.state.store.get_host(host).await {
            Ok(_) => Err(not_found(id)),
            Err(StoreError::HostNotFound(_)) => Err(host_missing()),
            Err(e) => Err(ctx.internal(&e)),
        };
    };
    match ctx
        .state
        .store
        .add_host(ctx.actor(), &AggRef::Id(n), host, false)
        .await
    {
        Ok(a) => Ok(one(ctx, &a, true, None)),
        Err(StoreError::HostNotFound(_)) => Err(host_missing()),
        Err(StoreError::AggregateNotFound(_)) => Err(not_found(id)),
        Err(StoreError::AzConflict { zones, .. }) => Err(Fault::conflict(format!(
            "Cannot add host to aggregate {id}. Reason: One or more hosts already in availability zone(s) {}.",
            zones_list(&zones)
        ))),
        Err(StoreError::AggregateHostExists { .. }) => Err(Fault::conflict(format!(
            "Aggregate {id} already has host {host}."
        ))),
        Err(e) => Err(ctx.internal(&e)),
    }
}

async fn remove_host(ctx: &Ctx<'_>, id: &str, v: &Value) -> Result<Response, Fault> {
    validate(&host_action_schema(&["remove_host"]), v, None).map_err(Fault::bad_request)?;
    ctx.allow(&rule("remove_host"), Access::Admin)?;
    let parsed = parse_id(id)?;
    let host = v["remove_host"]["host"].as_str().unwrap_or_default();
    let missing = || Fault::not_found(format!("Cannot remove host {host} in aggregate {id}"));
    let Some(n) = parsed else {
        return Err(missing());
    };
    match ctx
        .state
        .store
        .remove_host(ctx.actor(), &AggRef::Id(n), host)
        .await
    {
        Ok(a) => Ok(one(ctx, &a, true, None)),
        Err(
            StoreError::HostNotFound(_)
            | StoreError::AggregateNotFound(_)
            | StoreError::HostNotInAggregate { .. },
        ) => Err(missing()),
        Err(e) => Err(ctx.internal(&e)),
    }
}

async fn set_metadata(ctx: &Ctx<'_>, id: &str, v: &Value) -> Result<Response, Fault> {
    let schema = obj(
        vec![(
            "set_metadata",
            obj(vec![("metadata", Schema::MetadataWithNull)], &["metadata"]),
        )],
        &["set_metadata"],
    );
    validate(&schema, v, None).map_err(Fault::bad_request)?;
    ctx.allow(&rule("set_metadata"), Access::Admin)?;
    let Some(n) = parse_id(id)? else {
        return Err(not_found(id));
    };
    let changes: BTreeMap<String, Option<String>> = v["set_metadata"]["metadata"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default();
    match ctx
        .state
        .store
        .update_metadata(ctx.actor(), &AggRef::Id(n), &changes, ZoneRules::Nova)
        .await
    {
        Ok(a) => Ok(one(ctx, &a, true, Some(now_micros()))),
        Err(e) => Err(zone_fault(
            ctx,
            id,
            "Cannot update metadata of aggregate",
            e,
        )),
    }
}

/// `POST /os-aggregates/{id}/images` (≥2.81). xenpool has no image service, so every
/// well-formed request for an existing aggregate ends as Nova's "Image … could not be found."
pub async fn images(ctx: &Ctx<'_>, id: &str, b: NovaBody) -> Result<Response, Fault> {
    if !ctx.version.at_least(81) {
        return Err(Fault::no_resource());
    }
    let v = b.value()?;
    let schema = obj(
        vec![(
            "cache",
            Schema::List(Box::new(obj(
                vec![("id", Schema::Str(0, usize::MAX, Format::Uuid))],
                &["id"],
            ))),
        )],
        &["cache"],
    );
    validate(&schema, &v, None).map_err(Fault::bad_request)?;
    ctx.allow("compute:aggregates:images", Access::Admin)?;
    let Some(n) = parse_id(id)? else {
        return Err(not_found(id));
    };
    let ids: Vec<&str> = v["cache"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(Fault::bad_request("Duplicate images in request"));
    }
    match ctx.state.store.get_aggregate(&AggRef::Id(n)).await {
        Ok(_) => Err(Fault::bad_request(format!(
            "Image {} could not be found.",
            ids.first().copied().unwrap_or_default()
        ))),
        Err(StoreError::AggregateNotFound(_)) => Err(not_found(id)),
        Err(e) => Err(ctx.internal(&e)),
    }
}
