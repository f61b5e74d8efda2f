//! `event.from`: tokens, coalesced snapshots, `del`, timeouts, case-insensitive classes.

use std::time::Duration;

use crate::support::{farm, s, Session};
use xenpool_xmlrpc::Value;

fn events(v: &Value) -> Vec<(String, String, String)> {
    let st = v.as_struct().unwrap();
    st.get("events")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.as_struct().unwrap();
            let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap().to_owned();
            (f("class"), f("operation"), f("ref"))
        })
        .collect()
}

fn token(v: &Value) -> String {
    v.as_struct()
        .unwrap()
        .get("token")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tokens_give_adds_then_mods_then_nothing() {
    let farm = farm(1).await;
    let m = Session::on(&farm, "xs1").await;
    let first = m
        .ok(
            "event.from",
            vec![Value::Array(vec![s("*")]), s(""), Value::Double(1.0)],
        )
        .await;
    let all = events(&first);
    assert!(all.iter().all(|(_, op, _)| op == "add"));
    assert_eq!(
        all.iter().filter(|(c, _, _)| c == "vm").count(),
        3,
        "two VMs and dom0"
    );
    assert!(all.iter().any(|(c, _, _)| c == "host") && all.iter().any(|(c, _, _)| c == "pool"));
    let t1 = token(&first);
    assert_eq!(t1.len(), 41, "%020d,%020d: {t1}");
    let vm = m.vm_ref("xs1-vm2").await;
    m.ok("VM.add_to_other_config", vec![s(&vm), s("k"), s("v")])
        .await;
    let next = m
        .ok(
            "event.from",
            vec![Value::Array(vec![s("VM")]), s(&t1), Value::Double(1.0)],
        )
        .await;
    assert_eq!(
        events(&next),
        [("vm".to_owned(), "mod".to_owned(), vm.clone())]
    );
    let snap = next
        .as_struct()
        .unwrap()
        .get("events")
        .unwrap()
        .as_array()
        .unwrap()[0]
        .as_struct()
        .unwrap()
        .get("snapshot")
        .cloned();
    let oc = snap
        .unwrap()
        .as_struct()
        .unwrap()
        .get("other_config")
        .cloned()
        .unwrap();
    assert_eq!(
        oc.as_struct().unwrap().get("k").and_then(Value::as_str),
        Some("v")
    );
    let quiet = m
        .ok(
            "event.from",
            vec![
                Value::Array(vec![s("vm")]),
                s(&token(&next)),
                Value::Double(0.05),
            ],
        )
        .await;
    assert!(events(&quiet).is_empty(), "the timeout returns no events");
    let bad = m
        .fails(
            "event.from",
            vec![
                Value::Array(vec![s("*")]),
                s("nonsense"),
                Value::Double(0.1),
            ],
        )
        .await;
    assert_eq!(bad, ["EVENT_FROM_TOKEN_PARSE_FAILURE", "nonsense"]);
}

#[tokio::test]
async fn a_waiting_call_wakes_on_a_change_and_sees_deletions() {
    let farm = farm(1).await;
    let m = Session::on(&farm, "xs1").await;
    let now = token(
        &m.ok(
            "event.from",
            vec![Value::Array(vec![s("*")]), s(""), Value::Double(0.0)],
        )
        .await,
    );
    let vm = m.vm_ref("xs1-vm1").await;
    let writer = Session::on(&farm, "xs1").await;
    let task = writer.ok_str("Async.VM.clean_shutdown", vec![s(&vm)]).await;
    let got = m
        .ok(
            "event.from",
            vec![
                Value::Array(vec![s(&format!("VM/{vm}"))]),
                s(&now),
                Value::Double(5.0),
            ],
        )
        .await;
    assert_eq!(
        events(&got)
            .iter()
            .map(|e| e.2.as_str())
            .collect::<Vec<_>>(),
        [vm.as_str()]
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = token(
        &m.ok(
            "event.from",
            vec![Value::Array(vec![s("task")]), s(&now), Value::Double(0.0)],
        )
        .await,
    );
    m.ok("task.destroy", vec![s(&task)]).await;
    let del = m
        .ok(
            "event.from",
            vec![
                Value::Array(vec![s("task")]),
                s(&before),
                Value::Double(1.0),
            ],
        )
        .await;
    assert_eq!(events(&del), [("task".to_owned(), "del".to_owned(), task)]);
}
