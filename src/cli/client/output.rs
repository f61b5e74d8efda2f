//! Rendering API resources for the terminal and for scripts: `-f table|json|yaml|value` and
//! `-c COLUMN` (repeatable), with the API's own field names as column names. Tables fit the
//! terminal (or `$COLUMNS`); json and yaml carry the objects as the API sent them.

use clap::{Args, ValueEnum};
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::{Map, Value};

use super::error::ClientError;
use super::status::pool_status_text;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table sized to the terminal.
    Table,
    /// JSON with the API's field names.
    Json,
    /// YAML with the API's field names.
    Yaml,
    /// Bare values: one row per line, fields separated by spaces (one per line for a single object).
    Value,
}

/// Output flags shared by every client verb.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Show only this column (an API field name, e.g. `name`); repeat for more.
    #[arg(short = 'c', long = "column", value_name = "COLUMN")]
    pub columns: Vec<String>,
}

/// The kinds of resource the verbs print; each knows its usual columns.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An aggregate.
    Aggregate,
    /// A host.
    Host,
    /// An operation.
    Operation,
    /// An event.
    Event,
    /// One VM's outcome inside an operation.
    VmOutcome,
    /// One VM of a dry run's plan.
    PlannedMove,
}

impl Kind {
    /// The kind's fields in display order, and how many of the first ones a list shows.
    fn fields(self) -> (&'static [&'static str], usize) {
        match self {
            Kind::Aggregate => (
                &[
                    "id",
                    "uuid",
                    "name",
                    "availability_zone",
                    "hosts",
                    "metadata",
                    "status",
                    "created_at",
                    "updated_at",
                ],
                6,
            ),
            Kind::Host => (
                &[
                    "host_name",
                    "zone",
                    "state",
                    "status",
                    "maintenance",
                    "disabled_reason",
                    "aggregates",
                    "xapi_url",
                    "xapi_uuid",
                    "agent_version",
                    "last_heartbeat_at",
                ],
                5,
            ),
            Kind::Operation => (
                &[
                    "id",
                    "kind",
                    "host",
                    "state",
                    "progress",
                    "created_at",
                    "dry_run",
                    "plan",
                    "vms",
                    "error",
                    "warnings",
                    "superseded_by",
                    "requested_by",
                    "updated_at",
                    "finished_at",
                ],
                6,
            ),
            Kind::Event => (
                &[
                    "id",
                    "at",
                    "actor",
                    "kind",
                    "aggregate",
                    "host",
                    "message",
                    "details",
                ],
                7,
            ),
            Kind::VmOutcome => (&["name", "from", "to", "result", "error"], 5),
            Kind::PlannedMove => (&["order", "vm", "from", "to", "action"], 5),
        }
    }

    /// Columns a list shows by default.
    fn list_columns(self) -> &'static [&'static str] {
        let (fields, shown) = self.fields();
        &fields[..shown]
    }

    /// Fields in the order a single object shows them; other fields follow, sorted.
    fn field_order(self) -> &'static [&'static str] {
        self.fields().0
    }

    /// What the kind is called in messages.
    fn plural(self) -> &'static str {
        match self {
            Kind::Aggregate => "aggregates",
            Kind::Host => "hosts",
            Kind::Operation => "operations",
            Kind::Event => "events",
            Kind::VmOutcome => "VM outcomes",
            Kind::PlannedMove => "planned moves",
        }
    }
}

impl OutputArgs {
    /// Renders a list of `items`; the result ends with a newline unless empty.
    pub fn list(&self, kind: Kind, items: &[Value]) -> Result<String, ClientError> {
        let known = known_fields(kind, items);
        let chosen = self.chosen_columns(kind, &known)?;
        match self.format {
            Format::Json | Format::Yaml => {
                let objects: Vec<Value> = items
                    .iter()
                    .map(|item| match &chosen {
                        Some(cols) => select(item, cols),
                        None => item.clone(),
                    })
                    .collect();
                self.structured(&Value::Array(objects))
            }
            Format::Table | Format::Value => {
                let cols: Vec<String> = chosen
                    .unwrap_or_else(|| kind.list_columns().iter().map(|c| c.to_string()).collect());
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|item| {
                        cols.iter()
                            .map(|c| field_cell(kind, c, item.get(c), self.format))
                            .collect()
                    })
                    .collect();
                if self.format == Format::Value {
                    Ok(rows.iter().map(|r| r.join(" ") + "\n").collect())
                } else {
                    Ok(table(&cols, &rows))
                }
            }
        }
    }

    /// Renders one object.
    pub fn object(&self, kind: Kind, item: &Value) -> Result<String, ClientError> {
        let known = known_fields(kind, std::slice::from_ref(item));
        let chosen = self.chosen_columns(kind, &known)?;
        match self.format {
            Format::Json | Format::Yaml => self.structured(&match &chosen {
                Some(cols) => select(item, cols),
                None => item.clone(),
            }),
            Format::Table | Format::Value => {
                let fields = chosen.unwrap_or_else(|| ordered_fields(kind, item));
                if self.format == Format::Value {
                    return Ok(fields
                        .iter()
                        .map(|f| cell(item.get(f), Format::Value) + "\n")
                        .collect());
                }
                let rows: Vec<Vec<String>> = fields
                    .iter()
                    .map(|f| vec![f.clone(), field_cell(kind, f, item.get(f), Format::Table)])
                    .collect();
                Ok(table(&["Field".to_string(), "Value".to_string()], &rows))
            }
        }
    }

    /// Renders one object (json/yaml only) under `key`, e.g. `{"operation": {…}}`; `-c`
    /// selects its fields.
    pub fn wrapped_object(
        &self,
        key: &str,
        kind: Kind,
        item: &Value,
    ) -> Result<String, ClientError> {
        let known = known_fields(kind, std::slice::from_ref(item));
        let inner = match self.chosen_columns(kind, &known)? {
            Some(cols) => select(item, &cols),
            None => item.clone(),
        };
        let mut wrapped = Map::new();
        wrapped.insert(key.to_string(), inner);
        self.structured(&Value::Object(wrapped))
    }

    /// Renders a message for people: printed in table format only, so that json, yaml and
    /// value output stay pure data.
    pub fn message(&self, text: &str) -> String {
        match self.format {
            Format::Table => format!("{text}\n"),
            Format::Json | Format::Yaml | Format::Value => String::new(),
        }
    }

    /// True when the format is for machines (json/yaml).
    pub fn is_structured(&self) -> bool {
        matches!(self.format, Format::Json | Format::Yaml)
    }

    /// Renders any JSON value in the json or yaml format.
    pub fn structured(&self, value: &Value) -> Result<String, ClientError> {
        match self.format {
            Format::Yaml => serde_yaml_ng::to_string(value)
                .map_err(|e| ClientError::Output(std::io::Error::other(e))),
            _ => Ok(serde_json::to_string_pretty(value).expect("a Value always serializes") + "\n"),
        }
    }

    /// The `-c` columns, checked against the fields the kind has; `None` when none were given.
    fn chosen_columns(
        &self,
        kind: Kind,
        known: &[String],
    ) -> Result<Option<Vec<String>>, ClientError> {
        if self.columns.is_empty() {
            return Ok(None);
        }
        let mut chosen = Vec::new();
        for wanted in &self.columns {
            let normal = wanted.trim().to_lowercase().replace([' ', '-'], "_");
            match known.iter().find(|k| **k == normal) {
                Some(k) => chosen.push(k.clone()),
                None => {
                    return Err(ClientError::Usage(format!(
                        "unknown column {wanted:?} for {}; choose from: {}",
                        kind.plural(),
                        known.join(", ")
                    )))
                }
            }
        }
        Ok(Some(chosen))
    }
}

/// The kind's documented fields plus any other field the items carry, in display order.
fn known_fields(kind: Kind, items: &[Value]) -> Vec<String> {
    let mut fields: Vec<String> = kind.field_order().iter().map(|f| f.to_string()).collect();
    for item in items {
        if let Value::Object(map) = item {
            for key in map.keys() {
                if !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
    }
    fields
}

/// The fields `item` has, in the kind's order, then the rest sorted.
fn ordered_fields(kind: Kind, item: &Value) -> Vec<String> {
    let Value::Object(map) = item else {
        return Vec::new();
    };
    let mut fields: Vec<String> = kind
        .field_order()
        .iter()
        .filter(|f| map.contains_key(**f))
        .map(|f| f.to_string())
        .collect();
    let mut rest: Vec<String> = map
        .keys()
        .filter(|k| !fields.contains(k))
        .cloned()
        .collect();
    rest.sort();
    fields.extend(rest);
    fields
}

/// `item` reduced to `cols` (missing fields become null), in that order.
fn select(item: &Value, cols: &[String]) -> Value {
    let mut out = Map::new();
    for c in cols {
        out.insert(c.clone(), item.get(c).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// One cell: an aggregate's `status` as text for people in tables, anything else by [`cell`].
fn field_cell(kind: Kind, field: &str, value: Option<&Value>, format: Format) -> String {
    match (kind, field, format) {
        (Kind::Aggregate, "status", Format::Table) => {
            pool_status_text(value.unwrap_or(&Value::Null))
        }
        _ => cell(value, format),
    }
}

/// One cell's text: `-` for null in tables (empty in value format), lists joined, maps as
/// sorted k=v pairs.
fn cell(value: Option<&Value>, format: Format) -> String {
    let sep = if format == Format::Value { "," } else { ", " };
    match value {
        None | Some(Value::Null) => {
            if format == Format::Value {
                String::new()
            } else {
                "-".into()
            }
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) if items.iter().all(is_scalar) => items
            .iter()
            .map(|v| cell(Some(v), format))
            .collect::<Vec<_>>()
            .join(sep),
        Some(Value::Object(map)) if map.values().all(is_scalar) => {
            // Sorted by key, as novaclient prints metadata.
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", cell(Some(v), Format::Value)))
                .collect();
            pairs.sort();
            pairs.join(sep)
        }
        Some(other) => other.to_string(),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// Narrower than this, wrapping would leave a column per character: print unwrapped instead.
const MIN_WRAP_WIDTH: u16 = 20;

/// An ASCII table, wrapped to `$COLUMNS` if set, else to the terminal when stdout is one.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_style(presets::ASCII_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if let Some(width) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
    {
        t.set_width(width);
    }
    // A terminal that reports no usable size (e.g. 0 columns under `script`) gets no wrapping.
    if t.width().is_some_and(|w| w < MIN_WRAP_WIDTH) {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    for row in rows {
        t.add_row(row);
    }
    t.to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(format: Format, columns: &[&str]) -> OutputArgs {
        OutputArgs {
            format,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn value_format_prints_one_row_per_line() {
        let items = [
            json!({"host_name": "h1", "zone": "nova", "state": "up", "status": "enabled", "maintenance": false}),
        ];
        let out = args(Format::Value, &["host_name", "maintenance"])
            .list(Kind::Host, &items)
            .unwrap();
        assert_eq!(out, "h1 false\n");
    }

    #[test]
    fn unknown_column_names_the_choices() {
        let err = args(Format::Table, &["nope"])
            .object(Kind::Host, &json!({"host_name": "h1"}))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown column \"nope\" for hosts; choose from: host_name"),
            "{err}"
        );
    }

    #[test]
    fn cells_render_lists_maps_and_null() {
        assert_eq!(cell(Some(&json!(["a", "b"])), Format::Table), "a, b");
        assert_eq!(
            cell(Some(&json!({"k": "v", "a": "1"})), Format::Value),
            "a=1,k=v"
        );
        assert_eq!(cell(Some(&Value::Null), Format::Table), "-");
        assert_eq!(cell(None, Format::Value), "");
    }

    #[test]
    fn json_selection_keeps_api_names() {
        let item = json!({"id": 1, "name": "a", "hosts": []});
        let out = args(Format::Json, &["name", "id"])
            .object(Kind::Aggregate, &item)
            .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"name": "a", "id": 1}));
    }
}
