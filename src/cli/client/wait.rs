//! Following an operation to its end: wakes on the server's change feed (`GET /v1/watch`)
//! rather than polling blindly, shows progress (an indicatif bar on a terminal, plain lines on
//! stderr otherwise), and turns the final state into output and an exit code.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::error::ClientError;
use super::http::Api;
use super::output::{Kind, OutputArgs};
use super::status::error_text;

/// Longest single long-poll, below the HTTP client's request timeout.
const MAX_WATCH_SECONDS: u64 = 25;

/// Waits until operation `id` reaches a terminal state, or `timeout_s` seconds pass.
pub async fn until_finished(api: &Api, id: u64, timeout_s: u64) -> Result<Value, ClientError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let id_text = id.to_string();
    let mut progress = Progress::new(id);
    // Read the revision before the operation, so a change after the read always wakes us.
    let mut revision = watch(api, 0, 0).await?;
    loop {
        let op = api.get(&["v1", "operations", &id_text], &[]).await?;
        let state = op
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let vms = op.get("vms").and_then(Value::as_array);
        progress.show(
            &state,
            op.get("progress").and_then(Value::as_f64).unwrap_or(0.0),
            vms.map(Vec::as_slice).unwrap_or_default(),
        );
        if is_terminal(&state) {
            progress.finish(&state);
            return Ok(op);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            progress.finish(&state);
            return Err(ClientError::TimedOut(format!(
                "operation {id} is still {state} after {timeout_s} s; it goes on without us: \
                 follow it with `xenpool operation-show {id}`"
            )));
        }
        let wait = left.as_secs().clamp(1, MAX_WATCH_SECONDS);
        revision = watch(api, revision, wait).await?;
    }
}

/// One long-poll: returns the store revision once it exceeds `since` or `timeout` passes.
async fn watch(api: &Api, since: u64, timeout: u64) -> Result<u64, ClientError> {
    let query = [
        ("since", since.to_string()),
        ("timeout", timeout.to_string()),
    ];
    let body = api.get(&["v1", "watch"], &query).await?;
    body.get("revision")
        .and_then(Value::as_u64)
        .ok_or_else(|| ClientError::BadResponse {
            url: api.url(&["v1", "watch"]).to_string(),
            reason: "no numeric \"revision\" in the answer".into(),
        })
}

/// True for the states an operation never leaves.
fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "succeeded" | "failed" | "superseded" | "completed_with_warnings"
    )
}

/// Progress display on stderr: the operation's state and percentage, and a line per VM as its
/// outcome is reported.
struct Progress {
    id: u64,
    view: View,
    /// Each VM's outcome line as last shown.
    shown: BTreeMap<String, String>,
}

enum View {
    Bar(ProgressBar),
    Lines { last: Option<(String, u64)> },
}

impl Progress {
    fn new(id: u64) -> Self {
        let view = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(100);
            bar.set_style(
                ProgressStyle::with_template("operation {prefix} [{bar:30}] {pos:>3}% {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            View::Bar(bar)
        } else {
            View::Lines { last: None }
        };
        Progress {
            id,
            view,
            shown: BTreeMap::new(),
        }
    }

    fn show(&mut self, state: &str, fraction: f64, vms: &[Value]) {
        let id = self.id;
        for vm in vms {
            let name = vm.get("name").and_then(Value::as_str).unwrap_or("?");
            let line = vm_line(vm);
            if self.shown.get(name) == Some(&line) {
                continue;
            }
            match &self.view {
                View::Bar(bar) => bar.println(format!("operation {id}: {line}")),
                View::Lines { .. } => eprintln!("operation {id}: {line}"),
            }
            self.shown.insert(name.to_string(), line);
        }
        let percent = (fraction.clamp(0.0, 1.0) * 100.0).round() as u64;
        match &mut self.view {
            View::Bar(bar) => {
                bar.set_message(format!("{state}, {} VM(s) done", self.shown.len()));
                bar.set_position(percent);
            }
            View::Lines { last } => {
                let now = (state.to_string(), percent);
                if last.as_ref() != Some(&now) {
                    eprintln!("operation {id}: {state} {percent}%");
                    *last = Some(now);
                }
            }
        }
    }

    fn finish(&mut self, state: &str) {
        if let View::Bar(bar) = &self.view {
            bar.finish_with_message(state.to_string());
            eprintln!(); // the outcome starts on its own line
        }
    }
}

/// What to print for a finished operation: the plan for a dry run, else the per-VM outcome
/// (`name, from, to, result, error`), with a summary line in table format.
pub fn render_outcome(out: &OutputArgs, op: &Value, dry_run: bool) -> Result<String, ClientError> {
    for warning in op
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!(
            "warning: {}",
            warning
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| warning.to_string())
        );
    }
    if dry_run {
        let plan = op.get("plan").cloned().unwrap_or(Value::Null);
        return if out.is_structured() {
            out.structured(&plan)
        } else {
            let mut text =
                out.message(&format!("{}: the plan (nothing was changed)", describe(op)));
            text.push_str(&out.list(Kind::PlannedMove, &plan_rows(&plan))?);
            Ok(text)
        };
    }
    if out.is_structured() {
        return out.wrapped_object("operation", Kind::Operation, op);
    }
    let vms = op
        .get("vms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = out.message(&summary(op));
    text.push_str(&out.list(Kind::VmOutcome, &vms)?);
    Ok(text)
}

/// One VM's reported outcome as `name: result from -> to (error)`.
fn vm_line(vm: &Value) -> String {
    let text = |k: &str| vm.get(k).and_then(Value::as_str).unwrap_or("-");
    let mut line = format!(
        "{}: {} {} -> {}",
        text("name"),
        text("result"),
        text("from"),
        text("to")
    );
    if let Some(error) = vm.get("error").and_then(Value::as_str) {
        line.push_str(&format!(" ({error})"));
    }
    line
}

/// A dry run's plan as rows in start order: each live migration with its destination, then the
/// VMs to shut down, then those that cannot leave with the reason.
fn plan_rows(plan: &Value) -> Vec<Value> {
    let list = |k: &str| {
        plan.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let source = plan.get("source").cloned().unwrap_or(Value::Null);
    let mut rows = Vec::new();
    for m in list("moves") {
        rows.push(
            json!({"order": rows.len() + 1, "vm": m.get("vm"), "from": m.get("from"),
            "to": m.get("to"), "action": "migrate"}),
        );
    }
    for vm in list("shutdowns") {
        rows.push(
            json!({"order": rows.len() + 1, "vm": vm.get("name"), "from": source,
            "to": null, "action": "shut down"}),
        );
    }
    for u in list("unplaceable") {
        let reason = u.get("reason").cloned().unwrap_or(Value::Null);
        let why = [reason.get("kind"), reason.get("code")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        rows.push(
            json!({"order": null, "vm": u.pointer("/vm/name"), "from": source,
            "to": null, "action": format!("cannot move: {why}")}),
        );
    }
    rows
}

/// `Ok(rendered)` for a successful operation; an error carrying `rendered` otherwise.
pub fn check_outcome(op: &Value, rendered: String) -> Result<String, ClientError> {
    let field = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match field("state").as_str() {
        "succeeded" | "completed_with_warnings" => Ok(rendered),
        "superseded" => Err(ClientError::OperationFailed {
            output: rendered,
            message: format!(
                "{} was superseded by operation {} (a newer maintenance request for the host)",
                describe(op),
                op.get("superseded_by")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "?".into())
            ),
        }),
        _ => Err(ClientError::OperationFailed {
            output: rendered,
            message: format!("{} failed: {}", describe(op), error_text(op.get("error"))),
        }),
    }
}

fn describe(op: &Value) -> String {
    let field = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    format!(
        "operation {} ({} on {})",
        op.get("id").map(Value::to_string).unwrap_or_default(),
        field("kind"),
        field("host")
    )
}

fn summary(op: &Value) -> String {
    format!(
        "{}: {}",
        describe(op),
        op.get("state").and_then(Value::as_str).unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_operation_keeps_code_params_and_fix() {
        let op = json!({"id": 7, "kind": "maintenance_enable", "host": "h2", "state": "failed",
            "error": {"code": "VM_REQUIRES_SR", "params": ["OpaqueRef:1", "OpaqueRef:2"],
                      "message": "vm1 needs a local SR", "fix": "move its disk to shared storage"}});
        let err = check_outcome(&op, String::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operation 7 (maintenance_enable on h2) failed: vm1 needs a local SR \
             [VM_REQUIRES_SR OpaqueRef:1 OpaqueRef:2]; fix: move its disk to shared storage"
        );
    }

    #[test]
    fn superseded_names_the_newer_operation() {
        let op = json!({"id": 7, "kind": "maintenance_enable", "host": "h2", "state": "superseded", "superseded_by": 8});
        let err = check_outcome(&op, String::new()).unwrap_err();
        assert!(
            err.to_string().contains("superseded by operation 8"),
            "{err}"
        );
    }
}
