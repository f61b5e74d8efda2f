//! The native `/v1` API as `docs/native-api.md` describes it: resources, the agent endpoints,
//! operations, events with actors, leases, the OpenAPI document and the operational endpoints.

use serde_json::{json, Value};

use crate::both;
use crate::support::server::{agent_token, TestServer, ADMIN, READER};

both!(aggregates_by_id_uuid_or_name, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["h1", "h2"]).await;
    let r = srv
        .v1(
            "POST",
            "/aggregates",
            ADMIN,
            Some(json!({"name": "pool1", "availability_zone": "az1",
            "metadata": {"hypervisor_pool": "true"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let a = r.json();
    assert_eq!(
        a["metadata"],
        json!({"availability_zone": "az1", "hypervisor_pool": "true"})
    );
    assert_eq!(a["status"], json!(null));
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    let uuid = a["uuid"].as_str().unwrap().to_string();
    for r in [a["id"].to_string(), uuid.clone(), "pool1".into()] {
        let g = srv
            .v1("GET", &format!("/aggregates/{r}"), READER, None)
            .await;
        assert_eq!(
            (g.status, g.json()["uuid"].as_str()),
            (200, Some(uuid.as_str())),
            "{r}"
        );
    }
    let put = srv
        .v1("PUT", "/aggregates/pool1/hosts/h1", ADMIN, None)
        .await;
    assert_eq!(put.json()["hosts"], json!(["h1"]));
    let again = srv
        .v1("PUT", "/aggregates/pool1/hosts/h1", ADMIN, None)
        .await;
    assert_eq!(
        (again.status, again.json()["hosts"].clone()),
        (200, json!(["h1"])),
        "idempotent"
    );
    let m = srv
        .v1(
            "PATCH",
            "/aggregates/pool1/metadata",
            ADMIN,
            Some(json!({"k": "v", "hypervisor_pool": null, "gone": null})),
        )
        .await;
    assert_eq!(
        m.json()["metadata"],
        json!({"availability_zone": "az1", "k": "v"})
    );
    let z = srv
        .v1("GET", "/aggregates?zone=az1", READER, None)
        .await
        .json();
    assert_eq!(z["aggregates"].as_array().unwrap().len(), 1);
    let d = srv.v1("DELETE", "/aggregates/pool1", ADMIN, None).await;
    assert_eq!(d.status, 409);
    assert_eq!(d.json()["error"]["code"], "aggregate_not_empty");
    assert_eq!(d.json()["error"]["details"]["hosts"], json!(["h1"]));
    let rm = srv
        .v1("DELETE", "/aggregates/pool1/hosts/h2", ADMIN, None)
        .await;
    assert_eq!(
        (rm.status, rm.json()["error"]["code"].as_str()),
        (404, Some("host_not_in_aggregate"))
    );
    srv.v1("DELETE", "/aggregates/pool1/hosts/h1", ADMIN, None)
        .await;
    // A null zone clears it on the native API (Nova refuses).
    let p = srv
        .v1(
            "PATCH",
            "/aggregates/pool1",
            ADMIN,
            Some(json!({"name": "pool-renamed", "availability_zone": null})),
        )
        .await;
    assert_eq!(
        (
            p.json()["name"].as_str(),
            p.json()["availability_zone"].clone()
        ),
        (Some("pool-renamed"), json!(null))
    );
    assert_eq!(
        srv.v1("DELETE", "/aggregates/pool-renamed", ADMIN, None)
            .await
            .status,
        204
    );
    let nf = srv
        .v1("GET", "/aggregates/pool-renamed", READER, None)
        .await;
    assert_eq!(nf.status, 404);
    let e = nf.json();
    assert_eq!(e["error"]["code"], "aggregate_not_found");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pool-renamed"));
    // Bad input names the field.
    let bad = srv
        .v1("POST", "/aggregates", ADMIN, Some(json!({"name": " lead"})))
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["details"]["field"].as_str()),
        (400, Some("name"))
    );
    let unknown = srv
        .v1(
            "POST",
            "/aggregates",
            ADMIN,
            Some(json!({"name": "x", "zone": "a"})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("zone"));
    let malformed = srv
        .call(
            "POST",
            "/v1/aggregates",
            Some(ADMIN),
            &[("Content-Type", "application/json")],
            Some("{"),
        )
        .await;
    assert_eq!(malformed.json()["error"]["code"], "invalid_body");
    let xml = srv
        .call(
            "POST",
            "/v1/aggregates",
            Some(ADMIN),
            &[("Content-Type", "application/xml")],
            Some("<a/>"),
        )
        .await;
    assert_eq!(
        (xml.status, xml.json()["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let route = srv.v1("GET", "/nothing-here", ADMIN, None).await;
    assert_eq!(
        (route.status, route.json()["error"]["code"].as_str()),
        (404, Some("route_not_found"))
    );
    let method = srv.v1("POST", "/zones", ADMIN, None).await;
    assert_eq!(
        (method.status, method.json()["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    srv.stop().await;
});

both!(zone_rule_holds_on_the_native_api, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["h1"]).await;
    for (n, z) in [("a", "az1"), ("b", "az2"), ("c", "az1")] {
        srv.v1(
            "POST",
            "/aggregates",
            ADMIN,
            Some(json!({"name": n, "availability_zone": z})),
        )
        .await;
    }
    srv.v1("POST", "/aggregates", ADMIN, Some(json!({"name": "plain"})))
        .await;
    assert_eq!(
        srv.v1("PUT", "/aggregates/a/hosts/h1", ADMIN, None)
            .await
            .status,
        200
    );
    let c = srv.v1("PUT", "/aggregates/b/hosts/h1", ADMIN, None).await;
    assert_eq!(c.status, 409);
    assert_eq!(c.json()["error"]["code"], "availability_zone_conflict");
    assert_eq!(c.json()["error"]["details"]["zones"], json!(["az1"]));
    assert_eq!(
        srv.v1("PUT", "/aggregates/c/hosts/h1", ADMIN, None)
            .await
            .status,
        200,
        "same zone is fine"
    );
    assert_eq!(
        srv.v1("PUT", "/aggregates/plain/hosts/h1", ADMIN, None)
            .await
            .status,
        200,
        "no zone is fine"
    );
    let rz = srv
        .v1(
            "PATCH",
            "/aggregates/plain/metadata",
            ADMIN,
            Some(json!({"availability_zone": "az3"})),
        )
        .await;
    assert_eq!(rz.status, 409, "{}", rz.text);
    assert_eq!(
        rz.json()["error"]["details"]["zones"],
        json!(["az1", "az1"])
    );
    let h = srv.v1("GET", "/hosts/h1", READER, None).await.json();
    assert_eq!(
        (h["zone"].as_str(), h["aggregates"].clone()),
        (Some("az1"), json!(["a", "c", "plain"]))
    );
    let zones = srv
        .v1("GET", "/zones", crate::support::server::MEMBER, None)
        .await
        .json();
    assert_eq!(
        zones,
        json!({"zones": [{"name": "az1", "hosts": ["h1"], "available": true}]})
    );
    srv.stop().await;
});

both!(agent_lifecycle_operations_and_events, |db| async move {
    let srv = TestServer::start(db).await;
    let agent = agent_token("h1");
    let reg = srv
        .v1(
            "POST",
            "/agents/h1/register",
            &agent,
            Some(json!({"xapi_url": "https://127.0.0.1:4443",
            "xapi_uuid": "0a3e0000-0000-0000-0000-000000000001", "agent_version": "0.1.0"})),
        )
        .await;
    assert_eq!(reg.status, 200, "{}", reg.text);
    assert_eq!(
        (reg.json()["state"].as_str(), reg.json()["status"].as_str()),
        (Some("up"), Some("enabled"))
    );
    assert_eq!(
        srv.v1("POST", "/agents/h1/heartbeat", &agent, None)
            .await
            .status,
        204
    );
    srv.v1(
        "POST",
        "/aggregates",
        ADMIN,
        Some(json!({"name": "pool1", "metadata": {"hypervisor_pool": "true"}})),
    )
    .await;
    srv.v1("PUT", "/aggregates/pool1/hosts/h1", ADMIN, None)
        .await;
    let d = srv
        .v1("GET", "/agents/h1/desired", &agent, None)
        .await
        .json();
    assert_eq!(d["pools"][0]["aggregate"]["name"], "pool1");
    assert_eq!(
        d["pools"][0]["members"][0]["xapi_url"],
        "https://127.0.0.1:4443"
    );
    let rep = srv
        .v1(
            "POST",
            "/agents/h1/report",
            &agent,
            Some(json!({"aggregate": "pool1", "operational_state": "active",
            "metadata": {"master_compute": "h1", "h1": "0a3e0000-0000-0000-0000-000000000001"},
            "host_state": {"state": "joined", "step": null}})),
        )
        .await;
    assert_eq!(rep.status, 204, "{}", rep.text);
    let a = srv
        .v1("GET", "/aggregates/pool1", READER, None)
        .await
        .json();
    assert_eq!(a["status"]["operational_state"], "active");
    assert_eq!(a["status"]["hosts"]["h1"]["state"], "joined");
    assert_eq!(a["metadata"]["master_compute"], "h1");
    // Nova clients see the status keys.
    let nova = srv
        .nova(
            "GET",
            &format!("/os-aggregates/{}", a["id"]),
            ADMIN,
            None,
            None,
        )
        .await
        .json();
    assert_eq!(nova["aggregate"]["metadata"]["operational_state"], "active");
    let bad = srv
        .v1(
            "POST",
            "/agents/h1/report",
            &agent,
            Some(json!({"aggregate": "pool1", "metadata": {"hypervisor_pool": null}})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    // Maintenance → operation → the agent reports progress → terminal.
    let op = srv
        .v1(
            "PUT",
            "/hosts/h1/maintenance",
            ADMIN,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(op.status, 202);
    let id = op.json()["id"].as_i64().unwrap();
    let p = srv
        .v1(
            "PATCH",
            &format!("/operations/{id}"),
            &agent,
            Some(json!({"state": "running", "progress": 0.5,
            "vms": [{"name": "vm1", "from": "h1", "to": "h2", "result": "migrated"}]})),
        )
        .await;
    assert_eq!(
        (p.status, p.json()["progress"].as_f64()),
        (200, Some(0.5)),
        "{}",
        p.text
    );
    // A later report (e.g. from a restarted agent) merges by VM name and drops none.
    let merged = srv
        .v1(
            "PATCH",
            &format!("/operations/{id}"),
            &agent,
            Some(json!({"vms": [{"name": "vm2", "from": "h1", "to": "h2", "result": "failed", "error": "HOST_OFFLINE h2"}]})),
        )
        .await;
    let names = |op: &Value| -> Vec<(String, String)> {
        op["vms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().into(),
                    v["result"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&merged.json()),
        [
            ("vm1".into(), "migrated".into()),
            ("vm2".into(), "failed".into())
        ],
        "{}",
        merged.text
    );
    let done = srv
        .v1(
            "PATCH",
            &format!("/operations/{id}"),
            &agent,
            Some(json!({"state": "succeeded", "progress": 1.0,
            "vms": [{"name": "vm2", "from": "h1", "to": "h2", "result": "migrated"}]})),
        )
        .await;
    assert!(done.json()["finished_at"].is_string());
    assert_eq!(
        names(&done.json()),
        [
            ("vm1".into(), "migrated".into()),
            ("vm2".into(), "migrated".into())
        ],
        "a retried VM keeps its place with its latest result: {}",
        done.text
    );
    let again = srv
        .v1(
            "PATCH",
            &format!("/operations/{id}"),
            &agent,
            Some(json!({"progress": 0.1})),
        )
        .await;
    assert_eq!(
        (again.status, again.json()["error"]["code"].as_str()),
        (409, Some("operation_finished"))
    );
    let plan = srv
        .v1(
            "PUT",
            "/hosts/h1/maintenance",
            ADMIN,
            Some(json!({"enabled": false, "dry_run": true})),
        )
        .await
        .json();
    assert_eq!(
        (plan["kind"].as_str(), plan["dry_run"].as_bool()),
        (Some("plan"), Some(true))
    );
    assert_eq!(
        srv.v1("GET", "/hosts/h1", READER, None).await.json()["maintenance"],
        true,
        "a plan changes no intent"
    );
    // Events: every change with its actor; agents add step events without a revision.
    let posted = srv
        .v1(
            "POST",
            "/events",
            &agent,
            Some(json!({"kind": "agent.step", "aggregate": "pool1", "message": "joined"})),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    assert_eq!(
        (
            posted.json()["host"].as_str(),
            posted.json()["revision"].clone()
        ),
        (Some("h1"), json!(null))
    );
    let ev = srv.v1("GET", "/events?host=h1", READER, None).await.json();
    let events = ev["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in [
        "host.registered",
        "aggregate.host_added",
        "agent.report",
        "operation.created",
        "operation.updated",
        "agent.step",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let added = events
        .iter()
        .find(|e| e["kind"] == "aggregate.host_added")
        .unwrap();
    assert_eq!(
        (added["actor"].as_str(), added["aggregate"].as_str()),
        (Some("admin"), Some("pool1"))
    );
    let since = events[1]["id"].as_i64().unwrap();
    let later = srv
        .v1(
            "GET",
            &format!("/events?since={since}&limit=2"),
            READER,
            None,
        )
        .await
        .json();
    assert_eq!(later["events"].as_array().unwrap().len(), 2);
    assert!(later["events"][0]["id"].as_i64().unwrap() > since);
    srv.stop().await;
});

both!(leases_are_exclusive, |db| async move {
    let srv = TestServer::start(db).await;
    let (a1, a2) = (agent_token("h1"), agent_token("h2"));
    let g = srv
        .v1(
            "POST",
            "/leases/pool-pool1",
            &a1,
            Some(json!({"holder": "h1", "ttl_seconds": 30})),
        )
        .await;
    assert_eq!(
        (g.status, g.json()["holder"].as_str()),
        (200, Some("h1")),
        "{}",
        g.text
    );
    let renew = srv
        .v1(
            "POST",
            "/leases/pool-pool1",
            &a1,
            Some(json!({"holder": "h1", "ttl_seconds": 60})),
        )
        .await;
    assert_eq!(renew.status, 200);
    let other = srv
        .v1(
            "POST",
            "/leases/pool-pool1",
            &a2,
            Some(json!({"holder": "h2", "ttl_seconds": 30})),
        )
        .await;
    assert_eq!(
        (
            other.status,
            other.json()["error"]["details"]["holder"].as_str()
        ),
        (409, Some("h1"))
    );
    let wrong = srv
        .v1("DELETE", "/leases/pool-pool1?holder=h2", &a2, None)
        .await;
    assert_eq!(wrong.status, 409);
    assert_eq!(
        srv.v1("DELETE", "/leases/pool-pool1?holder=h1", &a1, None)
            .await
            .status,
        204
    );
    assert_eq!(
        srv.v1("DELETE", "/leases/pool-pool1?holder=h1", &a1, None)
            .await
            .status,
        404
    );
    let now = srv
        .v1(
            "POST",
            "/leases/pool-pool1",
            &a2,
            Some(json!({"holder": "h2", "ttl_seconds": 1})),
        )
        .await;
    assert_eq!(now.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = srv
        .v1(
            "POST",
            "/leases/pool-pool1",
            &a1,
            Some(json!({"holder": "h1", "ttl_seconds": 30})),
        )
        .await;
    assert_eq!(
        expired.status, 200,
        "an expired lease is free: {}",
        expired.text
    );
    let ttl = srv
        .v1(
            "POST",
            "/leases/x",
            ADMIN,
            Some(json!({"holder": "ops", "ttl_seconds": 0})),
        )
        .await;
    assert_eq!(
        (ttl.status, ttl.json()["error"]["details"]["field"].as_str()),
        (400, Some("ttl_seconds"))
    );
    srv.stop().await;
});

both!(openapi_health_ready_metrics, |db| async move {
    let srv = TestServer::start(db).await;
    let doc = srv
        .call("GET", "/v1/openapi.json", None, &[], None)
        .await
        .json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/aggregates/{agg}/hosts/{host}",
        "/v1/watch",
        "/v1/agents/{host}/desired",
        "/v1/leases/{name}",
        "/v1/events",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        srv.call("GET", "/healthz", None, &[], None).await.json()["status"],
        "ok"
    );
    let ready = srv.call("GET", "/readyz", None, &[], None).await;
    assert_eq!(
        (ready.status, ready.json()["status"].as_str()),
        (200, Some("ready"))
    );
    srv.v1("GET", "/aggregates", ADMIN, None).await;
    let m = srv.call("GET", "/metrics", None, &[], None).await.text;
    assert!(
        m.contains(
            "xenpool_http_requests_total{route=\"/v1/aggregates\",method=\"GET\",status=\"200\"}"
        ),
        "{m}"
    );
    assert!(m.contains("xenpool_http_request_duration_seconds_bucket"));
    assert!(m.contains("xenpool_db_pool_connections"));
    srv.stop().await;
});
