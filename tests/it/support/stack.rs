//! The whole product in-process for end-to-end tests: `xenpool::demo::Demo` (mock farm,
//! control plane, one agent per host) on SQLite or on the shared test PostgreSQL, plus helpers
//! to drive the native API and wait for convergence with a bounded deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xenpool::demo::{Demo, DemoOptions};
use xenpool_mocks::{FarmOptions, FarmState};

use super::server::Db;

/// A running stack and an admin HTTP client for it.
pub struct Stack {
    /// The demo stack.
    pub demo: Demo,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts `farm` with the control plane on `db`, instant mock timings unless `farm` says
    /// otherwise, and waits until every agent has registered.
    pub async fn start(db: Db, farm: FarmOptions) -> Stack {
        Stack::start_with(db, farm, |_| {}).await
    }

    /// [`Stack::start`] with the demo's options adjusted by `configure` (e.g. the agents'
    /// migration concurrency).
    pub async fn start_with(
        db: Db,
        farm: FarmOptions,
        configure: impl FnOnce(&mut DemoOptions),
    ) -> Stack {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = DemoOptions::new(dir.path());
        options.farm = farm;
        options.listen = "127.0.0.1:0".into();
        options.handover_cooldown = Duration::from_secs(1);
        options.join_timeout = Duration::from_secs(20);
        options.xapi_outage_grace = Duration::from_secs(1);
        if db == Db::Postgres {
            options.database = Some(super::pg::fresh_database().await);
        }
        configure(&mut options);
        let demo = Demo::start(options).await.expect("demo stack starts");
        let stack = Stack {
            demo,
            http: super::server::client(),
            _dir: dir,
        };
        let hosts = stack.demo.hosts().len();
        stack
            .until("every agent registered", || async {
                let list = stack.get("/v1/hosts").await;
                (list["hosts"].as_array().map_or(0, Vec::len) == hosts).then_some(())
            })
            .await;
        stack
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.demo.url()))
            .header("X-Auth-Token", &self.demo.admin_token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("control plane answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET `path`, asserting 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A write; returns status and body.
    pub async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.send(method, path, Some(body)).await
    }

    /// Creates aggregate `name` marked as a hypervisor pool (with extra `metadata`).
    pub async fn create_pool(&self, name: &str, metadata: Value) {
        let (status, body) = self
            .call("POST", "/v1/aggregates", json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "{body}");
        let mut meta = json!({ "hypervisor_pool": "true" });
        meta.as_object_mut()
            .unwrap()
            .extend(metadata.as_object().cloned().unwrap_or_default());
        let (status, body) = self
            .call("PATCH", &format!("/v1/aggregates/{name}/metadata"), meta)
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Creates pool aggregate `name`, adds `hosts` in order and waits until they form one pool
    /// with the first as master; returns the aggregate.
    pub async fn form_pool(&self, name: &str, hosts: &[&str]) -> Value {
        self.create_pool(name, json!({})).await;
        for h in hosts {
            self.add_host(name, h).await;
        }
        self.until_pool(name, hosts, hosts[0]).await
    }

    /// Adds `host` to aggregate `agg`.
    pub async fn add_host(&self, agg: &str, host: &str) {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/v1/aggregates/{agg}/hosts/{host}"),
                json!(null),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Removes `host` from aggregate `agg`.
    pub async fn remove_host(&self, agg: &str, host: &str) {
        let path = format!("/v1/aggregates/{agg}/hosts/{host}");
        let (status, body) = self.send(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(status, 200, "{body}");
    }

    /// The aggregate's native record.
    pub async fn aggregate(&self, agg: &str) -> Value {
        self.get(&format!("/v1/aggregates/{agg}")).await
    }

    /// Calls of `method` (and its `Async.` form) the farm answered, on `host` or on every
    /// host.
    pub fn calls(&self, host: Option<&str>, method: &str) -> u64 {
        let asynced = format!("Async.{method}");
        self.farm()
            .calls
            .iter()
            .filter(|(h, _)| host.is_none_or(|want| want == h.as_str()))
            .flat_map(|(_, m)| m.iter())
            .filter(|(k, _)| **k == method || **k == asynced)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Waits until `host`'s XAPI (or any host's) has received `method`, e.g. a slowed call is
    /// under way. A member's pool calls (`pool.eject`) are received by its master.
    pub async fn until_called(&self, host: Option<&str>, method: &str) {
        let on = host.unwrap_or("the farm");
        self.until(&format!("{method} under way on {on}"), || async {
            (self.calls(host, method) > 0).then_some(())
        })
        .await
    }

    /// The mock farm's state.
    pub fn farm(&self) -> FarmState {
        self.demo.farm.state()
    }

    /// Polls `check` every 50 ms until it yields a value; panics naming `what` (with the farm's
    /// state) after 60 s.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                let pools: Vec<String> = self
                    .farm()
                    .pools
                    .iter()
                    .map(|p| format!("{}: {:?} master {}", p.name_label, p.members, p.master))
                    .collect();
                panic!("timed out waiting for {what}; pools {pools:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the aggregate reports `state` and the farm has a pool named after it whose
    /// members are exactly `members` with `master` as master; returns the aggregate.
    pub async fn until_pool(&self, agg: &str, members: &[&str], master: &str) -> Value {
        self.until(
            &format!("pool {agg} = {members:?} with master {master}"),
            || async {
                let a = self.aggregate(agg).await;
                let farm = self.farm();
                let pool = farm.pools.iter().find(|p| p.name_label == agg)?;
                let mut have = pool.members.clone();
                have.sort();
                let mut want: Vec<String> = members.iter().map(|m| m.to_string()).collect();
                want.sort();
                let enabled = members
                    .iter()
                    .all(|m| farm.host(m).is_some_and(|h| h.enabled));
                (a["metadata"]["operational_state"] == "active"
                    && pool.master == master
                    && have == want
                    && enabled)
                    .then_some(a)
            },
        )
        .await
    }

    /// Whether every VM of the farm is resident on `host`.
    pub fn all_vms_on(&self, host: &str) -> bool {
        self.farm()
            .vms
            .iter()
            .all(|v| v.resident_on.as_deref() == Some(host))
    }

    /// Asserts the mock's invariants hold.
    pub fn assert_invariants(&self) {
        let inv = self.demo.farm.invariants();
        assert!(inv.ok, "mock invariants violated: {:?}", inv.violations);
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        self.demo.shutdown().await;
    }
}

/// Farm options for a test: `hosts` hosts with `vms` VMs each, instant timings.
pub fn farm(hosts: usize, vms: usize) -> FarmOptions {
    FarmOptions {
        hosts,
        vms_per_host: vms,
        time_scale: 0.0,
        ..FarmOptions::default()
    }
}
