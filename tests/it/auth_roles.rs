//! Roles on both surfaces: 401 without a token, 403 for the wrong role (Nova's body on
//! `/v2.1`, the native one on `/v1`), agents bound to their host, and reloading the tokens file.

use serde_json::json;

use crate::both;
use crate::support::server::{agent_token, TestServer, ADMIN, MEMBER, READER};

both!(reader_reads_member_lists_zones, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["compute"]).await;
    let agent = agent_token("compute");
    for t in [READER, ADMIN] {
        assert_eq!(
            srv.nova("GET", "/os-aggregates", t, None, None)
                .await
                .status,
            200
        );
        assert_eq!(
            srv.nova("GET", "/os-availability-zone/detail", t, None, None)
                .await
                .status,
            200
        );
        assert_eq!(
            srv.nova("GET", "/os-services", t, None, None).await.status,
            200
        );
    }
    for t in [READER, MEMBER, agent.as_str()] {
        let r = srv
            .nova(
                "POST",
                "/os-aggregates",
                t,
                None,
                Some(json!({"aggregate": {"name": "x"}})),
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(
            r.json(),
            json!({"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-aggregates:create to be performed."}})
        );
    }
    for t in [MEMBER, agent.as_str()] {
        assert_eq!(
            srv.nova("GET", "/os-aggregates", t, None, None)
                .await
                .status,
            403
        );
        assert_eq!(
            srv.nova("GET", "/os-availability-zone", t, None, None)
                .await
                .status,
            200
        );
    }
    // Native: member sees zones only; reader may not write.
    assert_eq!(srv.v1("GET", "/zones", MEMBER, None).await.status, 200);
    let r = srv.v1("GET", "/aggregates", MEMBER, None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    assert_eq!(r.json()["error"]["details"]["role"], "member");
    let w = srv
        .v1("POST", "/aggregates", READER, Some(json!({"name": "x"})))
        .await;
    assert_eq!(
        (w.status, w.json()["error"]["details"]["required"].as_str()),
        (403, Some("admin"))
    );
    let none = srv.call("GET", "/v1/aggregates", None, &[], None).await;
    assert_eq!(
        (none.status, none.json()["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    srv.stop().await;
});

both!(agents_act_only_as_their_host, |db| async move {
    let srv = TestServer::start(db).await;
    srv.register_hosts(&["h1", "h2"]).await;
    let h1 = agent_token("h1");
    let body = json!({"xapi_url": "https://127.0.0.1:1", "agent_version": "0"});
    let r = srv
        .v1("POST", "/agents/h2/register", &h1, Some(body.clone()))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["details"]["bound_host"], "h1");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("h2"));
    for (m, p) in [
        ("POST", "/agents/h2/heartbeat"),
        ("GET", "/agents/h2/desired"),
    ] {
        assert_eq!(srv.v1(m, p, &h1, None).await.status, 403, "{m} {p}");
    }
    let rep = srv
        .v1(
            "POST",
            "/agents/h2/report",
            &h1,
            Some(json!({"aggregate": "x"})),
        )
        .await;
    assert_eq!(rep.status, 403);
    let op = srv
        .v1(
            "PUT",
            "/hosts/h2/maintenance",
            ADMIN,
            Some(json!({"enabled": true})),
        )
        .await
        .json();
    let p = srv
        .v1(
            "PATCH",
            &format!("/operations/{}", op["id"]),
            &h1,
            Some(json!({"state": "running"})),
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.text);
    let lease = srv
        .v1(
            "POST",
            "/leases/pool",
            &h1,
            Some(json!({"holder": "h2", "ttl_seconds": 5})),
        )
        .await;
    assert_eq!(lease.status, 403);
    let ev = srv
        .v1(
            "POST",
            "/events",
            &h1,
            Some(json!({"kind": "agent.step", "host": "h2", "message": "x"})),
        )
        .await;
    assert_eq!(ev.status, 403);
    let admin_write = srv
        .v1("POST", "/aggregates", &h1, Some(json!({"name": "x"})))
        .await;
    assert_eq!(admin_write.status, 403);
    // Its own host works, and an agent may read.
    assert_eq!(
        srv.v1("POST", "/agents/h1/register", &h1, Some(body))
            .await
            .status,
        200
    );
    assert_eq!(srv.v1("GET", "/hosts", &h1, None).await.status, 200);
    srv.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_file_reload_takes_effect_and_bad_files_keep_the_old_set() {
    use tokio::net::TcpListener;
    use xenpool::auth::{add_token, Role};
    use xenpool::config::ServeConfig;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.toml");
    let first = add_token(&file, "ops", Role::Admin, None).unwrap();
    let config = ServeConfig {
        tokens: Some(file.clone()),
        data_dir: dir.path().join("data"),
        ..ServeConfig::default()
    };
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let srv = xenpool::serve::start(config, l).await.unwrap();
    let client = crate::support::server::client();
    let get = |t: String| {
        let c = client.clone();
        let url = format!("{}/v1/aggregates", srv.url());
        async move {
            c.get(url)
                .header("X-Auth-Token", t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(first.clone()).await, 200);
    let second = add_token(&file, "ops2", Role::Reader, None).unwrap();
    assert_eq!(get(second.clone()).await, 401, "not loaded yet");
    assert_eq!(srv.reload_tokens().unwrap(), 2);
    assert_eq!(get(second.clone()).await, 200);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "only hashes are stored"
    );
    std::fs::write(&file, "not toml [").unwrap();
    assert!(srv.reload_tokens().is_err());
    assert_eq!(
        get(second).await,
        200,
        "a bad file keeps the previous tokens"
    );
    srv.shutdown().await.unwrap();
}
