//! `xenpool serve` as separate processes: two replicas sharing one PostgreSQL database see each
//! other's changes through the watch feed within a second, keep the zone rule between them, and
//! stop cleanly on SIGTERM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::{Child, Command};

struct Replica {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn(database: &str, tokens: &std::path::Path, data: &std::path::Path) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_xenpool"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            database,
        ])
        .arg("--tokens")
        .arg(tokens)
        .env("XENPOOL_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("xenpool serve starts");
    let url = format!("http://127.0.0.1:{port}");
    let client = crate::support::server::client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "xenpool serve on {url} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Replica { child, url }
}

async fn call(
    url: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = crate::support::server::client();
    let mut rb = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{url}{path}"),
        )
        .header("X-Auth-Token", token);
    if let Some(b) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn sigterm(mut r: Replica) {
    let pid = r.child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = tokio::time::timeout(Duration::from_secs(10), r.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_one_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let admin = xenpool::auth::add_token(&tokens, "ops", xenpool::auth::Role::Admin, None).unwrap();
    let db = crate::support::pg::fresh_database().await;
    let a = spawn(&db, &tokens, &dir.path().join("a")).await;
    let b = spawn(&db, &tokens, &dir.path().join("b")).await;
    let (_, w) = call(&a.url, "GET", "/v1/watch", &admin, None).await;
    let rev = w["revision"].as_i64().unwrap();
    let watch_url = a.url.clone();
    let token = admin.clone();
    let watcher = tokio::spawn(async move {
        let r = call(
            &watch_url,
            "GET",
            &format!("/v1/watch?since={rev}&timeout=20"),
            &token,
            None,
        )
        .await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _) = call(
        &b.url,
        "POST",
        "/v1/hosts",
        &admin,
        Some(json!({"host_name": "h1"})),
    )
    .await;
    assert_eq!(s, 201);
    let changed_at = Instant::now();
    let ((status, body), woke_at) = watcher.await.unwrap();
    assert_eq!((status, body["changed"].clone()), (200, json!(true)));
    let lag = woke_at.saturating_duration_since(changed_at);
    assert!(
        lag < Duration::from_secs(1),
        "replica A saw B's change after {lag:?}"
    );
    // The zone rule across processes: one host, two zones, one winner.
    for (url, name, zone) in [(&a.url, "x", "azx"), (&b.url, "y", "azy")] {
        let (s, _) = call(
            url,
            "POST",
            "/v1/aggregates",
            &admin,
            Some(json!({"name": name, "availability_zone": zone})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (ra, rb) = tokio::join!(
        call(&a.url, "PUT", "/v1/aggregates/x/hosts/h1", &admin, None),
        call(&b.url, "PUT", "/v1/aggregates/y/hosts/h1", &admin, None)
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{ra:?} {rb:?}");
    sigterm(a).await;
    sigterm(b).await;
}
