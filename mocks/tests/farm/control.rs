//! The JSON control API over HTTP.

use serde_json::{json, Value};

use crate::support::{farm, Session};

async fn get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = http.get(format!("{base}/{path}")).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET /{path}");
    r.json().await.unwrap()
}

fn has_keys(obj: &Value, keys: &[&str], what: &str) {
    for key in keys {
        assert!(obj.get(key).is_some(), "{what}.{key} missing: {obj}");
    }
}

async fn id_of(r: reqwest::Response) -> String {
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn state_faults_and_invariants_over_http() {
    let farm = farm(2).await;
    let base = farm.control_url();
    let http = reqwest::Client::new();
    let st = get(&http, &base, "state").await;
    let host = &st["hosts"][0];
    has_keys(
        host,
        &[
            "name",
            "uuid",
            "address",
            "pool",
            "is_master",
            "enabled",
            "online",
            "memory_total_mib",
            "memory_free_mib",
            "other_config",
        ],
        "hosts[]",
    );
    assert_eq!(host["name"], "xs1");
    assert_eq!(host["address"], "127.0.0.2");
    let pool = &st["pools"][0];
    assert_eq!(pool["master"], "xs1");
    assert_eq!(pool["members"], json!(["xs1"]));
    assert_eq!(pool["uuid"], host["pool"]);
    let vm = &st["vms"][0];
    has_keys(
        vm,
        &[
            "name",
            "uuid",
            "resident_on",
            "power_state",
            "memory_mib",
            "other_config",
        ],
        "vms[]",
    );
    assert_eq!(vm["power_state"], "Running");
    assert_eq!(st["vms"].as_array().unwrap().len(), 4);

    let post = |body: Value| http.post(format!("{base}/faults")).json(&body).send();
    let r = post(json!({"kind": "fail", "host": "xs1", "method": "pool.get_all", "count": 1, "error": ["HOST_OFFLINE", "x"]})).await.unwrap();
    assert_eq!(r.status(), 201);
    let id = id_of(r).await;
    let st = get(&http, &base, "state").await;
    assert_eq!(st["faults"][0]["id"], id.as_str());
    assert_eq!(st["faults"][0]["remaining"], 1);
    assert_eq!(st["faults"][0]["method"], "pool.get_all");
    let m = Session::on(&farm, "xs1").await;
    assert_eq!(m.fails("pool.get_all", vec![]).await, ["HOST_OFFLINE", "x"]);
    let st = get(&http, &base, "state").await;
    assert_eq!(st["calls"]["xs1"]["pool.get_all"], 1);

    let r = post(json!({"kind": "explode"})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("explode"));
    let r = post(json!({"kind": "drop", "colour": "red"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("colour"));
    let r = post(json!({"kind": "latency"})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("latency_ms"));

    let r = post(json!({"kind": "offline", "host": "xs2"}))
        .await
        .unwrap();
    let off = id_of(r).await;
    let st = get(&http, &base, "state").await;
    assert_eq!(st["hosts"][1]["online"], false);
    assert_eq!(
        http.delete(format!("{base}/faults/{off}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.delete(format!("{base}/faults/{off}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    post(json!({"kind": "drop"})).await.unwrap();
    assert_eq!(
        http.delete(format!("{base}/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let inv = get(&http, &base, "invariants").await;
    assert_eq!(inv["ok"], true, "{inv}");
    assert_eq!(inv["violations"], json!([]));
}
