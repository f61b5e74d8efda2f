//! The long-poll change feed: wakes on a change at once, times out with `changed: false`,
//! ends at shutdown; heartbeats are not changes; a host-scoped watch (an agent's) sleeps
//! through changes that cannot alter that host's desired state.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::support::server::{agent_token, Db, TestServer, ADMIN};

both!(
    watch_wakes_on_change_and_times_out_otherwise,
    |db| async move {
        let srv = TestServer::start(db).await;
        srv.register_hosts(&["h1"]).await;
        let agent = agent_token("h1");
        let rev = srv.v1("GET", "/watch", &agent, None).await.json()["revision"]
            .as_i64()
            .unwrap();
        let t = Instant::now();
        let idle = srv
            .v1(
                "GET",
                &format!("/watch?since={rev}&timeout=1"),
                &agent,
                None,
            )
            .await
            .json();
        assert_eq!(idle, json!({"revision": rev, "changed": false}));
        assert!(t.elapsed() >= Duration::from_millis(900));
        srv.v1("POST", "/agents/h1/heartbeat", &agent, None).await;
        let hb = srv
            .v1(
                "GET",
                &format!("/watch?since={rev}&timeout=0"),
                &agent,
                None,
            )
            .await
            .json();
        assert_eq!(hb["changed"], false, "a heartbeat is not a change");
        let url = format!("/watch?since={rev}&timeout=20");
        let waiter = async { srv.v1("GET", &url, &agent, None).await };
        let change = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            srv.v1("POST", "/aggregates", ADMIN, Some(json!({"name": "a"})))
                .await
        };
        let started = Instant::now();
        let (w, c) = tokio::join!(waiter, change);
        assert_eq!(c.status, 201);
        let w = w.json();
        assert_eq!(w["changed"], true);
        assert!(w["revision"].as_i64().unwrap() > rev);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woke on the change, not the timeout"
        );
        let bad = srv.v1("GET", "/watch?timeout=301", &agent, None).await;
        assert_eq!(
            (bad.status, bad.json()["error"]["code"].as_str()),
            (400, Some("invalid_query"))
        );
        srv.stop().await;
    }
);

both!(
    a_host_scoped_watch_wakes_only_for_its_host_aggregates_and_members,
    |db| async move {
        let srv = TestServer::start(db).await;
        srv.register_hosts(&["h1", "h2", "h3"]).await;
        let agent = agent_token("h1");
        for (agg, host) in [("a", "h1"), ("a", "h2"), ("b", "h3")] {
            if srv
                .v1("GET", &format!("/aggregates/{agg}"), ADMIN, None)
                .await
                .status
                == 404
            {
                let created = srv
                    .v1("POST", "/aggregates", ADMIN, Some(json!({"name": agg})))
                    .await;
                assert_eq!(created.status, 201);
            }
            let added = srv
                .v1(
                    "PUT",
                    &format!("/aggregates/{agg}/hosts/{host}"),
                    ADMIN,
                    None,
                )
                .await;
            assert_eq!(added.status, 200);
        }
        let rev = srv.v1("GET", "/watch", &agent, None).await.json()["revision"]
            .as_i64()
            .unwrap();
        let scoped = format!("/watch?since={rev}&timeout=0&host=h1");
        let quiet = |body: Option<serde_json::Value>, path: &'static str| {
            let srv = &srv;
            async move {
                let r = srv.v1("PATCH", path, ADMIN, body).await;
                assert_eq!(r.status, 200, "{path}");
            }
        };
        // Another aggregate's metadata, a lease, a host outside h1's aggregates: not h1's business.
        quiet(Some(json!({"k": "v"})), "/aggregates/b/metadata").await;
        let lease = srv
            .v1(
                "POST",
                "/leases/pool-a",
                &agent,
                Some(json!({"holder": "h1", "ttl_seconds": 60})),
            )
            .await;
        assert_eq!(lease.status, 200, "{:?}", lease.json());
        quiet(Some(json!({"status": "disabled"})), "/hosts/h3").await;
        let w = srv.v1("GET", &scoped, &agent, None).await.json();
        assert_eq!(w["changed"], false, "nothing touched h1: {w}");
        let unscoped = srv
            .v1(
                "GET",
                &format!("/watch?since={rev}&timeout=0"),
                &agent,
                None,
            )
            .await
            .json();
        assert_eq!(
            unscoped["changed"], true,
            "every watcher without a host wakes"
        );

        // A member of h1's aggregate changes: h1 wakes, with that revision.
        quiet(Some(json!({"status": "disabled"})), "/hosts/h2").await;
        let member = srv.v1("GET", "/watch", &agent, None).await.json()["revision"].clone();
        let w = srv.v1("GET", &scoped, &agent, None).await.json();
        assert_eq!(
            (w["changed"].clone(), w["revision"].clone()),
            (json!(true), member)
        );
        srv.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_pending_watches_at_once() {
    let srv = TestServer::start(Db::Sqlite).await;
    let url = format!("{}/v1/watch?since=1000000&timeout=300", srv.handle.url());
    let pending = tokio::spawn(async move {
        crate::support::server::client()
            .get(url)
            .header("X-Auth-Token", ADMIN)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    srv.stop().await;
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("watch answered")
        .unwrap();
    assert_eq!(r["changed"], false);
    assert!(t.elapsed() < Duration::from_secs(5));
}
