//! Agent scale bench (issue 6): `cargo bench --bench agent_scale`.
//!
//! Everything listens on loopback. Three parts, each printed next to its target and a baseline
//! measured in the same run:
//! 1. **add_host → active**: `xenpool demo`'s stack in-process (control plane on SQLite, mock
//!    farm at time scale 0, one agent per host) with 100 hosts; 10 pool aggregates get 10 hosts
//!    each through Nova's `add_host`, one at a time. Each is timed from the API call to the
//!    aggregate reporting `operational_state=active` with that host's uuid recorded and the mock
//!    listing it an enabled member of the pool. Floor: the same `add_host` call's own round
//!    trip. Target: p50 < 50 ms.
//! 2. **evacuation**: a pool of 10 hosts, one running 50 VMs of 1 GiB, with every mock delay 0
//!    except live migration: the mock's default per-GiB time at time scale `EVAC_TIME_SCALE`.
//!    Maintenance enable → operation `succeeded`, against the lower bound = total VM memory ÷
//!    the concurrent migration bandwidth (min(per-host, per-pool concurrency) × 1 GiB / the
//!    scaled per-GiB time). Target: ≤ 1.1×. Also printed: the floor of whole waves
//!    (⌈VMs ÷ concurrency⌉ × one VM's migration time), which no scheduler can beat.
//! 3. **idle agent**: `AGENT_PROCESSES` real `xenpool agent` processes (the release binary, as
//!    systemd runs it) form a pool, settle for `SETTLE`, then VmRSS and utime+stime are read
//!    from /proc over `IDLE_WINDOW`. Targets: < 15 MB RSS, ~0 % CPU (< 0.5 %).
//!
//! Every wait is bounded (`STEP_DEADLINE`); a missed deadline is reported as a failure.
//! `XENPOOL_BENCH_PART=add_host|evacuation|idle` runs one part only; `RUST_LOG` logs to
//! stderr with span timings (for profiling).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xenpool::auth::{hash_token, Role, TokenEntry};
use xenpool::config::ServeConfig;
use xenpool::demo::{Demo, DemoOptions};
use xenpool::xenapi::{parse_url, Client, ClientOptions, Credentials, Session};
use xenpool_mocks::{Farm, FarmOptions, Scenario, Timings};

#[path = "../tests/it/support/agent_process.rs"]
#[allow(dead_code)]
mod agent_process;
use agent_process::{AgentProcess, AgentSetup};

const HOSTS: usize = 100;
const POOLS: usize = 10;
const EVAC_HOSTS: usize = 10;
const EVAC_VMS: usize = 50;
const VM_MIB: u64 = 1024;
/// Time scale of the evacuation's mock: its default 2 s per GiB becomes 0.5 s.
const EVAC_TIME_SCALE: f64 = 0.25;
const AGENT_PROCESSES: usize = 3;
const SETTLE: Duration = Duration::from_secs(3);
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// No single wait (one add_host, one evacuation, one pool formation) runs longer than this.
const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// An admin HTTP client of one control plane.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: &str, token: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control plane answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// The current revision of the change feed.
    async fn revision(&self) -> i64 {
        self.get("/v1/watch").await["revision"]
            .as_i64()
            .expect("revision")
    }

    /// Waits (at most `max`) for the revision to pass `since`; returns the current one.
    async fn watch(&self, since: i64, max: Duration) -> i64 {
        let secs = max.as_secs().max(1);
        self.get(&format!("/v1/watch?since={since}&timeout={secs}"))
            .await["revision"]
            .as_i64()
            .expect("revision")
    }

    /// Creates Nova aggregate `name` marked as a pool; returns its id.
    async fn create_pool(&self, name: &str) -> u64 {
        let created = self
            .post("/v2.1/os-aggregates", json!({"aggregate": {"name": name}}))
            .await;
        let id = created["aggregate"]["id"].as_u64().expect("aggregate id");
        self.post(
            &format!("/v2.1/os-aggregates/{id}/action"),
            json!({"set_metadata": {"metadata": {"hypervisor_pool": "true"}}}),
        )
        .await;
        id
    }

    /// Nova's `add_host`.
    async fn add_host(&self, id: u64, host: &str) {
        self.post(
            &format!("/v2.1/os-aggregates/{id}/action"),
            json!({"add_host": {"host": host}}),
        )
        .await;
    }

    /// Re-checks `done` after every change of the feed until it holds; `None` after `max`.
    async fn until<T, F, Fut>(&self, max: Duration, mut done: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + max;
        let mut revision = self.revision().await;
        loop {
            if let Some(v) = done().await {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            // The mock's side (a host turning enabled) is not a feed change: re-check at least
            // every second.
            revision = self.watch(revision, left.min(Duration::from_secs(1))).await;
        }
    }
}

/// Whether aggregate `agg` is reported active with `members` recorded and the mock agrees:
/// one XAPI pool named `agg` holding exactly `members`, all enabled.
async fn pool_active(api: &Api, farm: &Farm, agg: &str, members: &[String]) -> Option<()> {
    let a = api.get(&format!("/v1/aggregates/{agg}")).await;
    let meta = &a["metadata"];
    if meta["operational_state"] != "active" || members.iter().any(|m| meta[m].is_null()) {
        return None;
    }
    let state = farm.state();
    let pool = state.pools.iter().find(|p| p.name_label == agg)?;
    let mut have = pool.members.clone();
    have.sort();
    let mut want = members.to_vec();
    want.sort();
    let enabled = members
        .iter()
        .all(|m| state.host(m).is_some_and(|h| h.enabled));
    (have == want && enabled).then_some(())
}

fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Targets missed, collected across parts.
#[derive(Default)]
struct Verdict {
    missed: Vec<String>,
}

impl Verdict {
    fn check(&mut self, ok: bool, what: String) {
        if !ok {
            self.missed.push(what);
        }
    }
}

fn demo_options(dir: &Path, farm: FarmOptions) -> DemoOptions {
    let mut options = DemoOptions::new(dir);
    options.farm = farm;
    options.listen = "127.0.0.1:0".into();
    options
}

async fn wait_registered(api: &Api, hosts: usize) {
    let ok = api
        .until(STEP_DEADLINE, || async {
            let list = api.get("/v1/hosts").await;
            (list["hosts"].as_array().map_or(0, Vec::len) == hosts).then_some(())
        })
        .await;
    assert!(
        ok.is_some(),
        "not every agent registered within {STEP_DEADLINE:?}"
    );
}

/// Part 1: 100 hosts into 10 pools, one add_host at a time.
async fn bench_add_host(verdict: &mut Verdict) {
    let dir = tempfile::tempdir().expect("temp dir");
    let farm = FarmOptions {
        hosts: HOSTS,
        vms_per_host: 0,
        time_scale: 0.0,
        ..FarmOptions::default()
    };
    let demo = Demo::start(demo_options(dir.path(), farm))
        .await
        .expect("demo stack starts");
    let api = Api::new(demo.url(), &demo.admin_token);
    wait_registered(&api, HOSTS).await;
    let hosts = demo.hosts().to_vec();

    let (mut first, mut joins, mut rtt) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = 0usize;
    let started = Instant::now();
    for p in 0..POOLS {
        let agg = format!("pool{p}");
        let id = api.create_pool(&agg).await;
        let mut members: Vec<String> = Vec::new();
        for host in &hosts[p * HOSTS / POOLS..(p + 1) * HOSTS / POOLS] {
            members.push(host.clone());
            let t = Instant::now();
            api.add_host(id, host).await;
            rtt.push(t.elapsed());
            let active = api
                .until(STEP_DEADLINE, || {
                    pool_active(&api, &demo.farm, &agg, &members)
                })
                .await;
            match active {
                Some(()) if members.len() == 1 => first.push(t.elapsed()),
                Some(()) => joins.push(t.elapsed()),
                None => {
                    failures += 1;
                    eprintln!("{agg}: {host} not active within {STEP_DEADLINE:?}");
                }
            }
        }
    }
    let wall = started.elapsed();
    demo.shutdown().await;

    let all: Vec<Duration> = first.iter().chain(&joins).copied().collect();
    println!("\n== add_host → pool active: {HOSTS} hosts in {POOLS} pools, mock time scale 0, {HOSTS} agents, SQLite ==");
    println!(
        "{:<34}{:>6}{:>10}{:>10}{:>10}",
        "", "n", "p50 ms", "p99 ms", "max ms"
    );
    let row = |name: &str, v: &[Duration]| {
        let max = v.iter().max().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        println!(
            "{name:<34}{:>6}{:>10.1}{:>10.1}{:>10.1}",
            v.len(),
            percentile(v, 50.0),
            percentile(v, 99.0),
            max
        );
    };
    row("add_host → active (all)", &all);
    row("  first host (becomes master)", &first);
    row("  joining host", &joins);
    row("floor: add_host API round trip", &rtt);
    let p50 = percentile(&all, 50.0);
    println!(
        "target: p50 < 50 ms → {p50:.1} ms ({}); {failures} not active in time; whole run {:.1} s",
        if p50 < 50.0 { "met" } else { "MISSED" },
        wall.as_secs_f64()
    );
    verdict.check(
        p50 < 50.0,
        format!("add_host → active p50 {p50:.1} ms ≥ 50 ms"),
    );
    verdict.check(
        failures == 0,
        format!("{failures} add_host(s) never became active"),
    );
}

/// Ten empty 16 GiB hosts and `xs2` with 64 GiB holding 50 halted 1 GiB VMs (a joiner may not
/// run VMs; they are started once the pool has formed).
fn evacuation_farm() -> FarmOptions {
    let mut toml = String::new();
    for h in 1..=EVAC_HOSTS {
        toml.push_str(&format!("[[hosts]]\nname = \"xs{h}\"\n"));
        if h == 2 {
            toml.push_str("memory_mib = 65536\n");
            for k in 1..=EVAC_VMS {
                toml.push_str(&format!(
                    "[[hosts.vms]]\nname = \"vm{k}\"\nmemory_mib = {VM_MIB}\npower_state = \"Halted\"\n"
                ));
            }
        }
    }
    FarmOptions {
        scenario: Some(Scenario::from_toml(&toml).expect("scenario parses")),
        vms_per_host: 0,
        time_scale: EVAC_TIME_SCALE,
        timings: Timings {
            fuse: Duration::ZERO,
            xapi_restart: Duration::ZERO,
            member_sync: Duration::ZERO,
            reboot: Duration::ZERO,
            migrate_per_gib: Timings::default().migrate_per_gib,
            designate: Duration::ZERO,
            login_failure_delay: Duration::ZERO,
            vm_power_op: Duration::ZERO,
        },
        ..FarmOptions::default()
    }
}

async fn xapi_session(farm: &Farm, host: &str) -> Session {
    let client = Client::new(ClientOptions::default()).expect("XAPI client");
    let url = parse_url(&farm.host_url(host)).expect("farm URL");
    let creds = Credentials::new(farm.username(), farm.password());
    Session::login_with_password(client, url, creds)
        .await
        .expect("XAPI login")
}

/// Starts every halted VM on `host` through XAPI (`VM.start_on`).
async fn start_vms_on(farm: &Farm, master: &str, host: &str) {
    let session = xapi_session(farm, master).await;
    let state = farm.state();
    let host_ref = session
        .host_get_by_uuid(&state.host(host).expect("host").uuid)
        .await
        .expect("host ref");
    for vm in state.vms.iter().filter(|v| v.power_state == "Halted") {
        let vm_ref = session.vm_get_by_uuid(&vm.uuid).await.expect("VM ref");
        let args = vec![
            vm_ref.as_str().into(),
            host_ref.as_str().into(),
            false.into(),
            false.into(),
        ];
        session
            .call_void("VM.start_on", args)
            .await
            .expect("VM.start_on");
    }
}

/// Part 2: maintenance on a host with 50 running VMs against the bandwidth bound.
async fn bench_evacuation(verdict: &mut Verdict) {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = Demo::start(demo_options(dir.path(), evacuation_farm()))
        .await
        .expect("demo stack starts");
    let concurrency = xenpool::planner::Concurrency::default();
    let api = Api::new(demo.url(), &demo.admin_token);
    let hosts = demo.hosts().to_vec();
    wait_registered(&api, hosts.len()).await;
    let id = api.create_pool("evac").await;
    for h in &hosts {
        api.add_host(id, h).await;
    }
    let formed = api
        .until(STEP_DEADLINE * 2, || {
            pool_active(&api, &demo.farm, "evac", &hosts)
        })
        .await;
    assert!(formed.is_some(), "the evacuation pool did not form");
    start_vms_on(&demo.farm, "xs1", "xs2").await;
    let running = demo
        .farm
        .state()
        .vms
        .iter()
        .filter(|v| v.power_state == "Running" && v.resident_on.as_deref() == Some("xs2"))
        .count();
    assert_eq!(running, EVAC_VMS, "every VM runs on xs2");

    let t = Instant::now();
    let op = api
        .send(
            reqwest::Method::PUT,
            "/v1/hosts/xs2/maintenance",
            Some(json!({"enabled": true})),
        )
        .await;
    let op_id = op["id"].as_i64().expect("operation id");
    let finished = api
        .until(STEP_DEADLINE, || async {
            let op = api.get(&format!("/v1/operations/{op_id}")).await;
            let state = op["state"].as_str().unwrap_or_default().to_owned();
            matches!(
                state.as_str(),
                "succeeded" | "failed" | "completed_with_warnings"
            )
            .then_some(op)
        })
        .await;
    let elapsed = t.elapsed();
    let state = demo.farm.state();
    let left = state
        .vms
        .iter()
        .filter(|v| v.resident_on.as_deref() == Some("xs2") && !v.name.starts_with("Control"))
        .count();
    let invariants = demo.farm.invariants();
    demo.shutdown().await;

    let per_gib = Timings::default()
        .migrate_per_gib
        .mul_f64(EVAC_TIME_SCALE)
        .as_secs_f64();
    let streams = concurrency.per_host.min(concurrency.per_pool);
    let bandwidth_gib_s = streams as f64 / per_gib;
    let vm_gib = VM_MIB as f64 / 1024.0;
    let total_gib = EVAC_VMS as f64 * vm_gib;
    let bound = total_gib / bandwidth_gib_s;
    let waves = EVAC_VMS.div_ceil(streams) as f64 * vm_gib * per_gib;
    let ratio = elapsed.as_secs_f64() / bound;
    let outcome = finished
        .as_ref()
        .and_then(|o| o["state"].as_str())
        .unwrap_or("not finished")
        .to_owned();
    println!("\n== evacuation: {EVAC_VMS} VMs × {VM_MIB} MiB off xs2 in a pool of {EVAC_HOSTS}, migration {per_gib:.2} s/GiB (mock default × {EVAC_TIME_SCALE}), other mock delays 0 ==");
    println!(
        "lower bound: {total_gib:.0} GiB ÷ ({} concurrent × 1 GiB / {:.1} s = {bandwidth_gib_s:.1} GiB/s) = {bound:.3} s",
        streams, per_gib
    );
    println!(
        "floor of whole waves: ⌈{EVAC_VMS} ÷ {streams}⌉ × {:.2} s = {waves:.3} s = {:.3}× the bound",
        vm_gib * per_gib,
        waves / bound
    );
    println!(
        "maintenance enable → operation {outcome}: {:.3} s = {ratio:.3}× the bound ({} VMs left on xs2; invariants {})",
        elapsed.as_secs_f64(),
        left,
        if invariants.ok { "hold" } else { "VIOLATED" }
    );
    println!(
        "target: ≤ 1.1× → {}",
        if ratio <= 1.1 { "met" } else { "MISSED" }
    );
    verdict.check(
        outcome == "succeeded" && left == 0 && invariants.ok,
        format!("evacuation ended {outcome} with {left} VMs left, invariants {invariants:?}"),
    );
    verdict.check(
        ratio <= 1.1,
        format!("evacuation {ratio:.3}× the lower bound > 1.1×"),
    );
}

/// Installs and starts `host`'s agent under `dir`.
fn spawn_agent(dir: &Path, host: &str, control: &str, token: &str, farm: &Farm) -> AgentProcess {
    let base = dir.join(host);
    let config = agent_process::install(
        &base,
        &AgentSetup {
            host,
            control_url: control,
            token,
            xapi_url: farm.host_url(host).as_str(),
            xapi_username: farm.username(),
            xapi_password: farm.password(),
            state_dir: &base.join("state"),
        },
    );
    AgentProcess::spawn(host, &config, &base.join("agent.log"), "warn")
}

/// VmRSS in KiB from /proc/<pid>/status.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// utime + stime in clock ticks from /proc/<pid>/stat.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Part 3: real agent processes, converged and idle.
async fn bench_idle(verdict: &mut Verdict) {
    let dir = tempfile::tempdir().expect("temp dir");
    let farm = Farm::start(FarmOptions {
        hosts: AGENT_PROCESSES,
        vms_per_host: 0,
        time_scale: 0.0,
        ..FarmOptions::default()
    })
    .await
    .expect("farm starts");
    let admin = "bench-admin-token".to_owned();
    let mut entries = vec![TokenEntry {
        name: "admin".into(),
        role: Role::Admin,
        host: None,
        sha256: hash_token(&admin),
    }];
    let tokens: BTreeMap<String, String> = farm
        .host_names()
        .iter()
        .map(|h| (h.clone(), format!("bench-agent-{h}")))
        .collect();
    for (host, token) in &tokens {
        entries.push(TokenEntry {
            name: format!("agent-{host}"),
            role: Role::Agent,
            host: Some(host.clone()),
            sha256: hash_token(token),
        });
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let server = xenpool::serve::start(
        ServeConfig {
            token_entries: Some(entries),
            data_dir: dir.path().to_path_buf(),
            ..ServeConfig::default()
        },
        listener,
    )
    .await
    .expect("server starts");
    let api = Api::new(server.url(), &admin);
    let agents: Vec<AgentProcess> = tokens
        .iter()
        .map(|(h, t)| spawn_agent(dir.path(), h, server.url(), t, &farm))
        .collect();
    wait_registered(&api, AGENT_PROCESSES).await;
    let hosts: Vec<String> = farm.host_names().to_vec();
    let id = api.create_pool("idle").await;
    for h in &hosts {
        api.add_host(id, h).await;
    }
    let formed = api
        .until(STEP_DEADLINE, || pool_active(&api, &farm, "idle", &hosts))
        .await;
    assert!(formed.is_some(), "the agents' pool did not form");
    tokio::time::sleep(SETTLE).await;

    let hz = clock_ticks_per_second();
    let before: Vec<u64> = agents.iter().map(|a| cpu_ticks(a.pid())).collect();
    let mut peak = vec![0u64; agents.len()];
    let window = Instant::now();
    while window.elapsed() < IDLE_WINDOW {
        for (i, a) in agents.iter().enumerate() {
            peak[i] = peak[i].max(rss_kib(a.pid()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = window.elapsed().as_secs_f64();
    println!("\n== idle agent: {AGENT_PROCESSES} `xenpool agent` processes (release binary) in a converged pool, {:.0} s settle, {:.1} s window ==", SETTLE.as_secs_f64(), secs);
    println!(
        "{:<8}{:>14}{:>12}{:>10}   targets: RSS < 15 MB (15360 KiB), CPU ~0 % (< 0.5 %)",
        "host", "peak RSS KiB", "CPU ticks", "CPU %"
    );
    for (i, a) in agents.iter().enumerate() {
        let ticks = cpu_ticks(a.pid()) - before[i];
        let cpu = ticks as f64 / hz as f64 / secs * 100.0;
        println!("{:<8}{:>14}{:>12}{:>10.2}", a.host, peak[i], ticks, cpu);
        verdict.check(
            peak[i] < 15 * 1024,
            format!("agent {} RSS {} KiB ≥ 15 MB", a.host, peak[i]),
        );
        verdict.check(
            cpu < 0.5,
            format!("agent {} CPU {cpu:.2} % while idle", a.host),
        );
    }
    drop(agents);
    let _ = server.shutdown().await;
    farm.shutdown().await;
}

fn main() {
    let part = std::env::var("XENPOOL_BENCH_PART").ok();
    // For profiling: `RUST_LOG=…` logs to stderr, with each span's busy and idle time at close.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut verdict = Verdict::default();
    let run = |name: &str| part.as_deref().is_none_or(|p| p == name);
    runtime.block_on(async {
        if run("add_host") {
            bench_add_host(&mut verdict).await;
        }
        if run("evacuation") {
            bench_evacuation(&mut verdict).await;
        }
        if run("idle") {
            bench_idle(&mut verdict).await;
        }
    });
    if verdict.missed.is_empty() {
        println!("\nAll targets met.");
    } else {
        println!("\nTargets missed:");
        for m in &verdict.missed {
            println!("  - {m}");
        }
    }
}
