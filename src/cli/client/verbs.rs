//! Runs one client verb against the native `/v1` API (see docs/native-api.md) and renders the
//! answer. Aggregates are addressed by name, id or uuid; the server resolves which.

use reqwest::Method;
use serde_json::{json, Map, Value};
use tracing::info_span;

use super::commands::{ClientCommand, Common, Toggle};
use super::error::ClientError;
use super::http::Api;
use super::output::Kind;
use super::wait;

/// Runs `cmd` and returns what to print on stdout.
pub async fn execute(cmd: &ClientCommand) -> Result<String, ClientError> {
    let Common { conn, out } = cmd.common();
    let api = Api::new(conn.resolve()?)?;
    match cmd {
        ClientCommand::AggregateList { zone, .. } => {
            let query = optional_query(&[("zone", zone.clone())]);
            let body = api.get(&["v1", "aggregates"], &query).await?;
            out.list(Kind::Aggregate, items(&body, "aggregates")?)
        }
        ClientCommand::AggregateCreate {
            name,
            availability_zone,
            ..
        } => {
            let _span = info_span!("aggregate-create", aggregate = %name).entered();
            let mut body = json!({ "name": name });
            if let Some(az) = availability_zone {
                body["availability_zone"] = json!(az);
            }
            let created = required(
                api.call(Method::POST, &["v1", "aggregates"], Some(body))
                    .await?,
            )?;
            out.object(Kind::Aggregate, &created)
        }
        ClientCommand::AggregateDelete { aggregate, .. } => {
            let _span = info_span!("aggregate-delete", aggregate = %aggregate).entered();
            api.call(Method::DELETE, &["v1", "aggregates", aggregate], None)
                .await?;
            Ok(out.message(&format!("Aggregate {aggregate} has been deleted.")))
        }
        ClientCommand::AggregateDetails { aggregate, .. } => {
            let agg = api.get(&["v1", "aggregates", aggregate], &[]).await?;
            out.object(Kind::Aggregate, &agg)
        }
        ClientCommand::AggregateAddHost {
            aggregate, host, ..
        } => {
            let _span =
                info_span!("aggregate-add-host", aggregate = %aggregate, host = %host).entered();
            let path = ["v1", "aggregates", aggregate, "hosts", host];
            let agg = required(api.call(Method::PUT, &path, None).await?)?;
            out.object(Kind::Aggregate, &agg)
        }
        ClientCommand::AggregateRemoveHost {
            aggregate, host, ..
        } => {
            let _span =
                info_span!("aggregate-remove-host", aggregate = %aggregate, host = %host).entered();
            let path = ["v1", "aggregates", aggregate, "hosts", host];
            let agg = required(api.call(Method::DELETE, &path, None).await?)?;
            out.object(Kind::Aggregate, &agg)
        }
        ClientCommand::AggregateSetMetadata {
            aggregate,
            metadata,
            ..
        } => {
            let _span = info_span!("aggregate-set-metadata", aggregate = %aggregate).entered();
            let patch = parse_metadata(metadata)?;
            let path = ["v1", "aggregates", aggregate, "metadata"];
            let agg = required(api.call(Method::PATCH, &path, Some(patch)).await?)?;
            out.object(Kind::Aggregate, &agg)
        }
        ClientCommand::AggregateUpdate {
            aggregate,
            new_name,
            new_zone,
            name,
            availability_zone,
            ..
        } => {
            let _span = info_span!("aggregate-update", aggregate = %aggregate).entered();
            let mut body = Map::new();
            if let Some(n) = new_name.as_ref().or(name.as_ref()) {
                body.insert("name".into(), json!(n));
            }
            if let Some(z) = new_zone.as_ref().or(availability_zone.as_ref()) {
                body.insert("availability_zone".into(), json!(z));
            }
            let path = ["v1", "aggregates", aggregate];
            let agg = required(
                api.call(Method::PATCH, &path, Some(Value::Object(body)))
                    .await?,
            )?;
            out.object(Kind::Aggregate, &agg)
        }
        ClientCommand::HostList { zone, .. } => {
            let query = optional_query(&[("zone", zone.clone())]);
            let body = api.get(&["v1", "hosts"], &query).await?;
            out.list(Kind::Host, items(&body, "hosts")?)
        }
        ClientCommand::HostRegister { name, xapi_url, .. } => {
            let _span = info_span!("host-register", host = %name).entered();
            let mut body = json!({ "host_name": name });
            if let Some(url) = xapi_url {
                body["xapi_url"] = json!(url);
            }
            let host = required(api.call(Method::POST, &["v1", "hosts"], Some(body)).await?)?;
            out.object(Kind::Host, &host)
        }
        ClientCommand::HostUpdate {
            host,
            maintenance,
            status,
            no_wait,
            timeout,
            dry_run,
            ..
        } => {
            let _span = info_span!("host-update", host = %host).entered();
            // Nova's order: the scheduling status first, then maintenance.
            let mut updated = None;
            if let Some(status) = status {
                let wanted = if *status == Toggle::Enable {
                    "enabled"
                } else {
                    "disabled"
                };
                let body = json!({ "status": wanted });
                updated = api
                    .call(Method::PATCH, &["v1", "hosts", host], Some(body))
                    .await?;
            }
            match (maintenance, updated) {
                (Some(m), _) => {
                    let request = Maintenance {
                        host,
                        enable: *m == Toggle::Enable,
                        dry_run: *dry_run,
                        no_wait: *no_wait,
                        timeout: *timeout,
                    };
                    request.run(&api, out).await
                }
                (None, updated) => out.object(Kind::Host, &required(updated)?),
            }
        }
        ClientCommand::OperationList {
            host,
            state,
            kind,
            limit,
            ..
        } => {
            let query = optional_query(&[
                ("host", host.clone()),
                ("state", state.clone()),
                ("kind", kind.clone()),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let body = api.get(&["v1", "operations"], &query).await?;
            out.list(Kind::Operation, items(&body, "operations")?)
        }
        ClientCommand::OperationShow { id, .. } => {
            let op = api.get(&["v1", "operations", &id.to_string()], &[]).await?;
            out.object(Kind::Operation, &op)
        }
        ClientCommand::EventList {
            since,
            kind,
            host,
            aggregate,
            limit,
            ..
        } => {
            let query = optional_query(&[
                ("since", since.map(|s| s.to_string())),
                ("kind", kind.clone()),
                ("host", host.clone()),
                ("aggregate", aggregate.clone()),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let body = api.get(&["v1", "events"], &query).await?;
            out.list(Kind::Event, items(&body, "events")?)
        }
    }
}

/// A maintenance request from `host-update --maintenance`.
struct Maintenance<'a> {
    host: &'a str,
    enable: bool,
    dry_run: bool,
    no_wait: bool,
    timeout: u64,
}

impl Maintenance<'_> {
    /// Records the request, then waits for the operation unless `--no-wait`.
    async fn run(&self, api: &Api, out: &super::output::OutputArgs) -> Result<String, ClientError> {
        let body = json!({ "enabled": self.enable, "dry_run": self.dry_run });
        let path = ["v1", "hosts", self.host, "maintenance"];
        let op = required(api.call(Method::PUT, &path, Some(body)).await?)?;
        let id = operation_id(&op)?;
        if self.no_wait {
            return if out.is_structured() {
                out.object(Kind::Operation, &op)
            } else {
                Ok(format!("{id}\n"))
            };
        }
        let finished = wait::until_finished(api, id, self.timeout).await?;
        let rendered = wait::render_outcome(out, &finished, self.dry_run)?;
        wait::check_outcome(&finished, rendered)
    }
}

/// `KEY=VALUE` sets, bare `KEY` unsets (JSON null); a key given twice is a usage error.
pub fn parse_metadata(args: &[String]) -> Result<Value, ClientError> {
    let mut patch = Map::new();
    for arg in args {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k, json!(v)),
            None => (arg.as_str(), Value::Null),
        };
        if key.is_empty() {
            return Err(ClientError::Usage(format!(
                "metadata argument {arg:?} has no key: use KEY=VALUE to set or KEY to unset"
            )));
        }
        if patch.insert(key.to_string(), value).is_some() {
            return Err(ClientError::Usage(format!(
                "metadata key {key:?} is given twice: give each key once"
            )));
        }
    }
    Ok(Value::Object(patch))
}

/// Query pairs for the options that were given.
fn optional_query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}

/// The array under `key` in a list response.
fn items<'a>(body: &'a Value, key: &str) -> Result<&'a [Value], ClientError> {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| ClientError::BadResponse {
            url: format!("(list of {key})"),
            reason: format!("no {key:?} array in the response"),
        })
}

/// A body that must be present.
fn required(body: Option<Value>) -> Result<Value, ClientError> {
    body.ok_or_else(|| ClientError::BadResponse {
        url: "(write request)".into(),
        reason: "empty body where the changed object was expected".into(),
    })
}

/// An operation's numeric id.
fn operation_id(op: &Value) -> Result<u64, ClientError> {
    op.get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| ClientError::BadResponse {
            url: "(maintenance request)".into(),
            reason: "the operation has no numeric id".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_set_and_bare_keys_unset() {
        let args = [
            "a=1".to_string(),
            "b".to_string(),
            "c=x=y".to_string(),
            "d=".to_string(),
        ];
        assert_eq!(
            parse_metadata(&args).unwrap(),
            json!({"a": "1", "b": null, "c": "x=y", "d": ""})
        );
    }

    #[test]
    fn metadata_rejects_empty_and_repeated_keys() {
        let err = parse_metadata(&["=v".to_string()]).unwrap_err();
        assert!(matches!(err, ClientError::Usage(_)), "{err}");
        let err = parse_metadata(&["k=1".to_string(), "k".to_string()]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }
}
