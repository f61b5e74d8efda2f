//! The rules under concurrency, on each backend and across two replicas sharing PostgreSQL:
//! no lost updates, the zone rule atomic, every request answered correctly.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::both;
use crate::support::server::{Db, TestServer, ADMIN};

async fn create(srv: &TestServer, name: &str, az: Option<&str>) -> i64 {
    let r = srv
        .nova(
            "POST",
            "/os-aggregates",
            ADMIN,
            None,
            Some(json!({"aggregate": {"name": name, "availability_zone": az}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["aggregate"]["id"].as_i64().unwrap()
}

async fn action(srv: &TestServer, id: i64, act: &str, host: &str) -> crate::support::server::Reply {
    srv.nova(
        "POST",
        &format!("/os-aggregates/{id}/action"),
        ADMIN,
        None,
        Some(json!({act: {"host": host}})),
    )
    .await
}

both!(hundred_concurrent_add_host_all_land, |db| async move {
    let srv = TestServer::start(db).await;
    let hosts: Vec<String> = (0..100).map(|i| format!("c{i:03}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    srv.register_hosts(&names).await;
    let id = create(&srv, "big", Some("az1")).await;
    let replies = join_all(hosts.iter().map(|h| action(&srv, id, "add_host", h))).await;
    for (h, r) in hosts.iter().zip(&replies) {
        assert_eq!(r.status, 200, "{h}: {}", r.text);
    }
    let a = srv
        .nova("GET", &format!("/os-aggregates/{id}"), ADMIN, None, None)
        .await
        .json();
    let mut got: Vec<String> = serde_json::from_value(a["aggregate"]["hosts"].clone()).unwrap();
    got.sort();
    assert_eq!(got, hosts, "every add landed exactly once");
    srv.stop().await;
});

both!(concurrent_metadata_merges_lose_nothing, |db| async move {
    let srv = TestServer::start(db).await;
    let id = create(&srv, "meta", None).await;
    let writes = (0..40).map(|i| {
        let srv = &srv;
        async move {
            srv.nova(
                "POST",
                &format!("/os-aggregates/{id}/action"),
                ADMIN,
                None,
                Some(json!({"set_metadata": {"metadata": {format!("k{i}"): format!("v{i}")}}})),
            )
            .await
            .status
        }
    });
    assert!(join_all(writes).await.iter().all(|&s| s == 200));
    let a = srv
        .v1("GET", &format!("/aggregates/{id}"), ADMIN, None)
        .await
        .json();
    assert_eq!(a["metadata"].as_object().unwrap().len(), 40, "{a}");
    let events = srv
        .v1(
            "GET",
            "/events?kind=aggregate.metadata_set&limit=1000",
            ADMIN,
            None,
        )
        .await
        .json();
    let revs: Vec<i64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    let mut sorted = revs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        (revs.len(), sorted),
        (40, revs),
        "one revision per change, in commit order"
    );
    srv.stop().await;
});

async fn az_race(a: &TestServer, b: &TestServer, rounds: usize) {
    for round in 0..rounds {
        let host = format!("r{round}");
        a.register_hosts(&[&host]).await;
        let x = create(a, &format!("x{round}"), Some("azx")).await;
        let y = create(b, &format!("y{round}"), Some("azy")).await;
        let (rx, ry) = tokio::join!(
            action(a, x, "add_host", &host),
            action(b, y, "add_host", &host)
        );
        let mut statuses = [rx.status, ry.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            rx.text,
            ry.text
        );
        let loser = if rx.status == 409 { &rx } else { &ry };
        assert!(loser.json()["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("One or more hosts already in availability zone(s)"));
        let h = a
            .v1("GET", &format!("/hosts/{host}"), ADMIN, None)
            .await
            .json();
        assert_eq!(
            h["aggregates"].as_array().unwrap().len(),
            1,
            "round {round}: {h}"
        );
    }
}

both!(same_host_into_two_zones_exactly_one_wins, |db| async move {
    let srv = TestServer::start(db).await;
    az_race(&srv, &srv, 15).await;
    srv.stop().await;
});

both!(
    eight_clients_add_and_remove_one_host_without_surprises,
    |db| async move {
        let srv = TestServer::start(db).await;
        srv.register_hosts(&["shared"]).await;
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(create(&srv, &format!("agg{i}"), None).await);
        }
        let cycles = 15;
        let clients = ids.iter().map(|&id| {
            let srv = &srv;
            async move {
                let mut bad = Vec::new();
                for n in 0..cycles {
                    for act in ["add_host", "remove_host"] {
                        let r = action(srv, id, act, "shared").await;
                        if r.status != 200 {
                            bad.push(format!(
                                "aggregate {id} cycle {n} {act}: {} {}",
                                r.status, r.text
                            ));
                        }
                    }
                }
                bad
            }
        });
        let bad: Vec<String> = join_all(clients).await.into_iter().flatten().collect();
        assert!(
            bad.is_empty(),
            "{} of {} requests failed:\n{}",
            bad.len(),
            8 * cycles * 2,
            bad.join("\n")
        );
        let h = srv.v1("GET", "/hosts/shared", ADMIN, None).await.json();
        assert_eq!(h["aggregates"], json!([]));
        srv.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_rules_and_the_feed() {
    let a = TestServer::start(Db::Postgres).await;
    let b = TestServer::start_on(Some(a.database.clone())).await;
    let rev = a.v1("GET", "/watch", ADMIN, None).await.json()["revision"]
        .as_i64()
        .unwrap();
    let url = format!("/watch?since={rev}&timeout=10");
    let started = Instant::now();
    let (w, c) = tokio::join!(a.v1("GET", &url, ADMIN, None), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let r = b
            .v1(
                "POST",
                "/aggregates",
                ADMIN,
                Some(json!({"name": "from-b"})),
            )
            .await;
        (r, t)
    });
    let (created, made_at) = c;
    assert_eq!(created.status, 201);
    let woke = started.elapsed();
    assert_eq!(w.json()["changed"], true);
    assert!(
        made_at.elapsed() < Duration::from_secs(1),
        "replica A saw replica B's change {:?} after it was made",
        made_at.elapsed()
    );
    assert!(woke < Duration::from_secs(5));
    az_race(&a, &b, 10).await;
    b.stop().await;
    a.stop().await;
}

/// A store on `db` (a fresh SQLite file or PostgreSQL database).
async fn open_store(db: Db, dir: &std::path::Path) -> xenpool::store::Store {
    let url = match db {
        Db::Sqlite => xenpool::store::Store::sqlite_url_in(dir).unwrap(),
        Db::Postgres => crate::support::pg::fresh_database().await,
    };
    xenpool::store::Store::open(&url, 4, xenpool::store::SqliteSync::Normal)
        .await
        .unwrap()
}

both!(
    a_refused_change_in_a_batch_leaves_the_others_alone,
    |db| async move {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(db, dir.path()).await;
        let none = std::collections::BTreeMap::new();
        let names: Vec<String> = (0..40)
            .map(|i| {
                if i % 4 == 0 {
                    format!("bad\0{i}")
                } else {
                    format!("good{i}")
                }
            })
            .collect();
        // A taken name and NUL values arrive together with good changes.
        store
            .create_aggregate("t", "good1", None, &none)
            .await
            .unwrap();
        let answers = join_all(
            names
                .iter()
                .map(|n| store.create_aggregate("t", n, None, &none)),
        )
        .await;
        for (name, answer) in names.iter().zip(&answers) {
            match answer {
                Ok(a) => assert!(name.starts_with("good") && &a.name == name, "{name}"),
                Err(xenpool::store::StoreError::Invalid { .. }) => assert!(name.starts_with("bad")),
                Err(xenpool::store::StoreError::AggregateNameExists(n)) => assert_eq!(n, "good1"),
                Err(e) => panic!("{name}: {e}"),
            }
        }
        let listed: Vec<String> = store
            .list_aggregates()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        let mut expected: Vec<String> = names
            .iter()
            .filter(|n| n.starts_with("good"))
            .cloned()
            .collect();
        expected.sort();
        let mut got = listed.clone();
        got.sort();
        assert_eq!(got, expected);
        store.close().await;
    }
);

/// Two stores on one PostgreSQL database, as two `serve` replicas: each writes first in one
/// round trip against the snapshot it holds; a snapshot the other replica made stale must be
/// noticed (nothing written from it), reloaded under the row lock, and judged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_writing_from_a_stale_snapshot_judges_again_and_loses_nothing() {
    use std::collections::BTreeMap;
    use xenpool::store::{AggRef, StoreError, ZoneRules};
    let url = crate::support::pg::fresh_database().await;
    let sync = xenpool::store::SqliteSync::Normal;
    let a = xenpool::store::Store::open(&url, 4, sync).await.unwrap();
    let b = xenpool::store::Store::open(&url, 4, sync).await.unwrap();
    let none = BTreeMap::new();
    let first = AggRef::Name("first".into());
    let set = |k: &str| BTreeMap::from([(k.to_owned(), Some("v".to_owned()))]);

    a.create_aggregate("a", "first", None, &none).await.unwrap();
    a.update_metadata("a", &first, &set("from-a"), ZoneRules::Native)
        .await
        .unwrap();
    // B writes; A's snapshot and known revision are now behind the database.
    b.create_aggregate("b", "second", None, &none)
        .await
        .unwrap();
    b.update_metadata("b", &first, &set("from-b"), ZoneRules::Native)
        .await
        .unwrap();

    match a.create_aggregate("a", "second", None, &none).await {
        Err(StoreError::AggregateNameExists(n)) => assert_eq!(n, "second"),
        other => panic!("B's aggregate must be seen: {other:?}"),
    }
    let third = a.create_aggregate("a", "third", None, &none).await.unwrap();
    let again = a
        .update_metadata("a", &first, &set("again-a"), ZoneRules::Native)
        .await
        .unwrap();
    let keys: Vec<&str> = again.metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, ["again-a", "from-a", "from-b"], "no update lost");

    // Refusals are judged against the current state too: what B just created exists for A,
    // and a name B just freed is free for A.
    b.create_aggregate("b", "late", None, &none).await.unwrap();
    let late = AggRef::Name("late".into());
    a.update_metadata("a", &late, &set("on-late"), ZoneRules::Native)
        .await
        .expect("B's new aggregate is found by A");
    b.delete_aggregate("b", &AggRef::Id(third.id))
        .await
        .unwrap();
    let third = a
        .create_aggregate("a", "third", None, &none)
        .await
        .expect("the name B freed is free for A");

    for store in [&a, &b] {
        store.refresh_revision().await.unwrap();
        let listed = store.list_aggregates().await.unwrap();
        let names: Vec<&str> = listed.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["first", "second", "late", "third"]);
        assert_eq!(listed[3].id, third.id);
        assert!(listed[2].metadata.contains_key("on-late"));
    }
    a.close().await;
    b.close().await;
}
