//! Agent-reported state for people: an aggregate's `status` (the pool's state, each member's
//! state and step, the last error with its XAPI code, parameters, the VMs and hosts involved and
//! the fix) and an operation's error, as text for terminal tables and messages.

use serde_json::Value;

/// An aggregate's `status` object as lines for a table cell; `-` when nothing was reported.
pub fn pool_status_text(status: &Value) -> String {
    let Some(s) = status.as_object() else {
        return "-".into();
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_string();
    let mut lines = vec![format!(
        "pool: {} (reported {})",
        text(s.get("operational_state")),
        text(s.get("updated_at"))
    )];
    for (host, st) in s
        .get("hosts")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut line = format!("{host}: {}", text(st.get("state")));
        if let Some(step) = st.get("step").and_then(Value::as_str) {
            line.push_str(&format!(", step {step}"));
        }
        lines.push(line);
    }
    if let Some(error) = s.get("error").filter(|e| !e.is_null()) {
        lines.push(format!("error: {}", error_text(Some(error))));
        for (key, label) in [("vms", "VMs"), ("hosts", "hosts")] {
            let names = strings(error.get(key));
            if !names.is_empty() {
                lines.push(format!("  {label}: {}", names.join(", ")));
            }
        }
    }
    lines.join("\n")
}

/// A reported error as `message [CODE params]; fix: …`, keeping the XAPI code and params.
pub fn error_text(error: Option<&Value>) -> String {
    let Some(e) = error.filter(|e| !e.is_null()) else {
        return "no error was reported".into();
    };
    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut s = text("message");
    let code = text("code");
    if !code.is_empty() {
        let params = strings(e.get("params"));
        s.push_str(&format!(
            " [{code}{}]",
            if params.is_empty() {
                String::new()
            } else {
                format!(" {}", params.join(" "))
            }
        ));
    }
    let fix = text("fix");
    if !fix.is_empty() {
        s.push_str(&format!("; fix: {fix}"));
    }
    s
}

/// The items of a JSON list as text (strings bare, anything else as JSON).
fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            p.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_shows_states_steps_and_the_error_with_its_code_names_and_fix() {
        let status = json!({
            "operational_state": "error",
            "hosts": {"xs1": {"state": "active", "step": null, "updated_at": "t1"},
                      "xs2": {"state": "error", "step": "join", "updated_at": "t2"}},
            "error": {"code": "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS", "params": ["web"],
                      "message": "join failed", "fix": "shut down the VMs",
                      "vms": ["web"], "hosts": ["xs2", "xs1"]},
            "updated_at": "t2"
        });
        assert_eq!(
            pool_status_text(&status),
            "pool: error (reported t2)\n\
             xs1: active\n\
             xs2: error, step join\n\
             error: join failed [JOINING_HOST_CANNOT_HAVE_RUNNING_VMS web]; fix: shut down the VMs\n  \
             VMs: web\n  \
             hosts: xs2, xs1"
        );
        assert_eq!(pool_status_text(&Value::Null), "-");
    }
}
