//! The Nova surface beyond Appendix A: version documents, keystone's 401, the response shapes
//! Tempest's schemas require, os-hosts / os-services / os-availability-zone bodies, project-id
//! routes, and a maintenance request through os-hosts becoming an operation.

use serde_json::json;

use crate::both;
use crate::support::server::{agent_token, TestServer, ADMIN, MEMBER, READER};

both!(version_documents_need_no_token, |db| async move {
    let srv = TestServer::start(db).await;
    let r = srv.call("GET", "/", None, &[], None).await;
    assert_eq!(r.status, 200);
    let v = &r.json()["versions"][0];
    assert_eq!(
        (v["id"].as_str(), v["version"].as_str()),
        (Some("v2.1"), Some("2.104"))
    );
    assert!(v["links"][0]["href"].as_str().unwrap().ends_with("/v2.1/"));
    for path in ["/v2.1", "/v2.1/"] {
        let r = srv.call("GET", path, None, &[], None).await;
        assert_eq!(r.status, 200, "{path}");
        let v = &r.json()["version"];
        assert_eq!(v["min_version"], "2.1");
        assert_eq!(v["links"][0]["rel"], "self");
        assert_eq!(
            v["media-types"][0]["type"],
            "application/vnd.openstack.compute+json;version=2.1"
        );
    }
    srv.stop().await;
});

both!(
    missing_or_unknown_token_gets_keystones_401,
    |db| async move {
        let srv = TestServer::start(db).await;
        for token in [None, Some("nope")] {
            let r = srv
                .call("GET", "/v2.1/os-aggregates", token, &[], None)
                .await;
            assert_eq!(r.status, 401);
            assert_eq!(
                r.json(),
                json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})
            );
            assert!(r
                .header("www-authenticate")
                .unwrap()
                .starts_with("Keystone uri="));
            assert!(r
                .header("x-openstack-request-id")
                .unwrap()
                .starts_with("req-"));
        }
        let r = srv
            .call(
                "GET",
                "/v2.1/os-aggregates",
                None,
                &[("Authorization", "Bearer admin-token")],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "Bearer works too: {}", r.text);
        srv.stop().await;
    }
);

both!(shapes_follow_tempest_schemas, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute"]).await;
    let c = srv
        .nova(
            "POST",
            "/os-aggregates",
            ADMIN,
            None,
            Some(json!({"aggregate": {"name": "t1", "availability_zone": null}})),
        )
        .await;
    assert_eq!(c.status, 200);
    let a = c.json()["aggregate"].clone();
    let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "availability_zone",
            "created_at",
            "deleted",
            "deleted_at",
            "id",
            "name",
            "updated_at"
        ]
    );
    assert_eq!(a["updated_at"], json!(null));
    let created = a["created_at"].as_str().unwrap();
    assert_eq!(
        created.len(),
        26,
        "naive UTC with 6 fractional digits: {created}"
    );
    let id = a["id"].as_i64().unwrap();
    // 2.41: uuid everywhere, and the header echoed.
    let r = srv
        .nova(
            "PUT",
            &format!("/os-aggregates/{id}"),
            ADMIN,
            Some("2.41"),
            Some(json!({"aggregate": {"name": "t1-new", "availability_zone": "z1"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-openstack-nova-api-version"), Some("2.41"));
    let u = r.json()["aggregate"].clone();
    assert!(u["uuid"].is_string() && u["updated_at"].is_string());
    assert_eq!(u["metadata"], json!({"availability_zone": "z1"}));
    assert_eq!(
        (u["name"].as_str(), u["availability_zone"].as_str()),
        (Some("t1-new"), Some("z1"))
    );
    let r = srv
        .nova(
            "POST",
            &format!("/os-aggregates/{id}/action"),
            ADMIN,
            Some("2.41"),
            Some(json!({"add_host": {"host": "compute"}})),
        )
        .await;
    assert_eq!(r.json()["aggregate"]["hosts"], json!(["compute"]));
    assert!(r.json()["aggregate"]["uuid"].is_string());
    // set_metadata merges; its updated_at is transient (Nova quirk 12).
    let r = srv
        .nova(
            "POST",
            &format!("/os-aggregates/{id}/action"),
            ADMIN,
            None,
            Some(json!({"set_metadata": {"metadata": {"key": "value"}}})),
        )
        .await;
    assert_eq!(
        r.json()["aggregate"]["metadata"],
        json!({"availability_zone": "z1", "key": "value"})
    );
    // The project-id form of every route.
    let r = srv
        .nova(
            "GET",
            &format!("/0123abcd-ef/os-aggregates/{id}"),
            READER,
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json()["aggregate"].get("uuid").is_none());
    // Delete refused while hosts remain, then an empty 200.
    let d = srv
        .nova("DELETE", &format!("/os-aggregates/{id}"), ADMIN, None, None)
        .await;
    assert_eq!(d.status, 400);
    srv.nova(
        "POST",
        &format!("/os-aggregates/{id}/action"),
        ADMIN,
        None,
        Some(json!({"remove_host": {"host": "compute"}})),
    )
    .await;
    let d = srv
        .nova("DELETE", &format!("/os-aggregates/{id}"), ADMIN, None, None)
        .await;
    assert_eq!((d.status, d.text.as_str()), (200, ""));
    assert_eq!(d.header("content-length"), Some("0"));
    srv.stop().await;
});

both!(hosts_services_and_zones, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute", "compute2"]).await;
    let agent = agent_token("compute");
    let r = srv
        .v1(
            "POST",
            "/agents/compute/register",
            &agent,
            Some(
                json!({"xapi_url": "https://127.0.0.1:4443", "agent_version": "0.1.0",
                "resources": {"cpu": 8, "memory_mb": 32768, "disk_gb": 500}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = srv
        .nova(
            "POST",
            "/os-aggregates",
            ADMIN,
            None,
            Some(json!({"aggregate": {"name": "a1", "availability_zone": "az1"}})),
        )
        .await;
    let id = c.json()["aggregate"]["id"].as_i64().unwrap();
    srv.nova(
        "POST",
        &format!("/os-aggregates/{id}/action"),
        ADMIN,
        None,
        Some(json!({"add_host": {"host": "compute2"}})),
    )
    .await;
    // os-services: one nova-compute per host, up only with a heartbeat.
    let s = srv
        .nova("GET", "/os-services?binary=nova-compute", ADMIN, None, None)
        .await
        .json();
    let services = s["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let by = |h: &str| services.iter().find(|x| x["host"] == h).unwrap().clone();
    assert_eq!(by("compute")["state"], "up");
    assert_eq!(by("compute2")["state"], "down");
    assert_eq!(by("compute2")["zone"], "az1");
    assert_eq!(by("compute")["zone"], "nova");
    let mut keys: Vec<String> = by("compute").as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "binary",
            "disabled_reason",
            "host",
            "id",
            "state",
            "status",
            "updated_at",
            "zone"
        ]
    );
    assert!(by("compute")["id"].is_i64());
    let empty = srv
        .nova(
            "GET",
            "/os-services?binary=nova-scheduler",
            ADMIN,
            None,
            None,
        )
        .await
        .json();
    assert_eq!(empty["services"], json!([]));
    // 2.53: uuid ids and PUT by uuid.
    let s53 = srv
        .nova("GET", "/os-services", ADMIN, Some("2.53"), None)
        .await
        .json();
    let svc = s53["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["host"] == "compute2")
        .unwrap()
        .clone();
    assert!(svc.get("forced_down").is_some());
    let uuid = svc["id"].as_str().unwrap();
    let r = srv
        .nova(
            "PUT",
            &format!("/os-services/{uuid}"),
            ADMIN,
            Some("2.53"),
            Some(json!({"status": "disabled", "disabled_reason": "maint"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["service"]["status"], "disabled");
    assert_eq!(r.json()["service"]["disabled_reason"], "maint");
    // AZs: az1 now has no enabled host.
    let z = srv
        .nova("GET", "/os-availability-zone", MEMBER, None, None)
        .await
        .json();
    assert_eq!(
        z,
        json!({"availabilityZoneInfo": [
            {"zoneName": "nova", "zoneState": {"available": true}, "hosts": null},
            {"zoneName": "az1", "zoneState": {"available": false}, "hosts": null}]})
    );
    let d = srv
        .nova("GET", "/os-availability-zone/detail", ADMIN, None, None)
        .await
        .json();
    let nova = &d["availabilityZoneInfo"][0];
    assert_eq!(nova["hosts"]["compute"]["nova-compute"]["available"], true);
    assert_eq!(nova["hosts"]["compute"]["nova-compute"]["active"], true);
    assert_eq!(d["availabilityZoneInfo"][1]["hosts"], json!(null));
    // os-hosts: enabled compute hosts only; show has the reported capacity.
    let h = srv.nova("GET", "/os-hosts", ADMIN, None, None).await.json();
    assert_eq!(
        h,
        json!({"hosts": [{"host_name": "compute", "service": "compute", "zone": "nova"}]})
    );
    let show = srv
        .nova("GET", "/os-hosts/compute", ADMIN, None, None)
        .await
        .json();
    assert_eq!(show["host"][0]["resource"]["project"], "(total)");
    assert_eq!(show["host"][0]["resource"]["memory_mb"], 32768);
    // Legacy service actions.
    let r = srv
        .nova(
            "PUT",
            "/os-services/disable-log-reason",
            ADMIN,
            None,
            Some(json!({"host": "compute", "binary": "nova-compute", "disabled_reason": "why"})),
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"service": {"host": "compute", "binary": "nova-compute", "status": "disabled", "disabled_reason": "why"}})
    );
    let r = srv
        .nova(
            "PUT",
            "/os-services/enable",
            ADMIN,
            None,
            Some(json!({"host": "compute", "binary": "nova-scheduler"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["badRequest"]["message"],
        "Updating a nova-scheduler service is not supported. Only nova-compute services can be updated."
    );
    let r = srv
        .nova(
            "PUT",
            "/os-services/frobnicate",
            ADMIN,
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["itemNotFound"]["message"].as_str()),
        (404, Some("Unknown action"))
    );
    srv.stop().await;
});

both!(os_hosts_maintenance_becomes_an_operation, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute"]).await;
    let r = srv
        .nova(
            "PUT",
            "/os-hosts/compute",
            ADMIN,
            None,
            Some(json!({"maintenance_mode": "enable"})),
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"host": "compute", "maintenance_mode": "on_maintenance"})
    );
    let ops = srv
        .v1("GET", "/operations?host=compute", READER, None)
        .await
        .json();
    let op = &ops["operations"][0];
    assert_eq!(
        (op["kind"].as_str(), op["state"].as_str()),
        (Some("maintenance_enable"), Some("pending"))
    );
    assert_eq!(op["requested_by"], "admin");
    let first = op["id"].as_i64().unwrap();
    assert_eq!(
        srv.v1("GET", "/hosts/compute", READER, None).await.json()["maintenance"],
        true
    );
    // Reversal in flight: the pending one is superseded and recorded.
    let r = srv
        .nova(
            "PUT",
            "/os-hosts/compute",
            ADMIN,
            None,
            Some(json!({"status": "disable", "maintenance_mode": "Disable"})),
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"host": "compute", "status": "disabled", "maintenance_mode": "off_maintenance"})
    );
    let old = srv
        .v1("GET", &format!("/operations/{first}"), READER, None)
        .await
        .json();
    assert_eq!(old["state"], "superseded");
    assert!(old["superseded_by"].is_i64() && old["finished_at"].is_string());
    let events = srv
        .v1("GET", "/events?kind=operation.superseded", READER, None)
        .await
        .json();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    let agent = agent_token("compute");
    let desired = srv
        .v1("GET", "/agents/compute/desired", &agent, None)
        .await
        .json();
    assert_eq!(desired["operations"].as_array().unwrap().len(), 1);
    assert_eq!(desired["operations"][0]["kind"], "maintenance_disable");
    assert_eq!(desired["host"]["status"], "disabled");
    srv.stop().await;
});
