//! API load generator: `cargo bench --bench api_load`.
//!
//! Starts `xenpool serve` in-process on 127.0.0.1 (SQLite in a temp dir, then a throwaway
//! PostgreSQL cluster from `/usr/lib/postgresql/15/bin`), loads 100 aggregates × 2 hosts × 3
//! metadata keys through the Nova-compatible surface with 8 concurrent clients, and prints
//! median, p99 and requests/s for list, show, create, add_host and set_metadata next to Nova
//! 34's figures on a 2-core machine (from issue 5) with the ratios and the targets (every
//! median < 2 ms and list p99 < 5 ms on SQLite; ≥ 50× Nova's throughput on every row).
//! The clients keep their connections open from before the first phase, and the workload runs
//! `ROUNDS` times on the same server (removing its aggregates after each round, unmeasured),
//! so each figure pools thousands of requests rather than a 40 ms burst. Every loop is bounded
//! in count and in time (`PHASE_DEADLINE`). `XENPOOL_BENCH_DB=sqlite`
//! or `=postgres` runs one backend only.

#[path = "../tests/it/support/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Mutex;
use xenpool::auth::{hash_token, Role, TokenEntry};
use xenpool::config::ServeConfig;

const AGGREGATES: usize = 100;
const HOSTS_PER_AGGREGATE: usize = 2;
const METADATA_KEYS: usize = 3;
const CLIENTS: usize = 8;
/// The workload runs this many times on one server (same data each round; figures pooled).
const ROUNDS: usize = 20;
const LIST_REQUESTS: usize = 1_000;
const SHOW_REQUESTS: usize = 2_000;
/// No phase runs longer than this, whatever its request count.
const PHASE_DEADLINE: Duration = Duration::from_secs(60);
const TOKEN: &str = "bench-admin-token";

/// Nova 34 on a 2-core machine (issue 5): (median ms range, p99 ms range, req/s range).
struct NovaFigures {
    median_ms: Option<(f64, f64)>,
    p99_ms: Option<(f64, f64)>,
    rps: Option<(f64, f64)>,
}

fn nova(op: &str) -> NovaFigures {
    match op {
        "list" => NovaFigures {
            median_ms: Some((26.0, 30.0)),
            p99_ms: Some((164.0, 191.0)),
            rps: Some((26.0, 48.0)),
        },
        "create" => NovaFigures {
            median_ms: Some((9.5, 11.0)),
            p99_ms: None,
            rps: Some((103.0, 159.0)),
        },
        "add_host" => NovaFigures {
            median_ms: Some((41.0, 44.0)),
            p99_ms: None,
            rps: Some((20.0, 27.0)),
        },
        _ => NovaFigures {
            median_ms: None,
            p99_ms: None,
            rps: None,
        },
    }
}

/// One phase's measurements.
struct Phase {
    op: &'static str,
    latencies: Vec<Duration>,
    wall: Duration,
    /// CPU time the whole process (server and clients) used during the phase.
    cpu: Duration,
    /// CPU time the PostgreSQL server processes used during the phase (zero on SQLite, which
    /// runs inside this process).
    db_cpu: Duration,
    /// Group commits of aggregate writes during the phase, and the changes they wrote.
    commits: (u64, u64),
    errors: usize,
}

/// CPU time (user + system) this process has used so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system) every `postgres` process on this machine has used so far, from
/// `/proc/PID/stat` (the bench's throwaway cluster is the only one CI and the dev box run).
fn postgres_cpu() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces, so split after ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += field(11) + field(12);
    }
    Duration::from_micros(total * 1_000_000 / ticks)
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// Adds another round's measurements of the same operation.
    fn absorb(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.wall += other.wall;
        self.cpu += other.cpu;
        self.db_cpu += other.db_cpu;
        self.commits.0 += other.commits.0;
        self.commits.1 += other.commits.1;
        self.errors += other.errors;
    }

    /// CPU microseconds (server and client together) per request.
    fn cpu_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64
    }

    /// Aggregate writes per group commit ("-" for a phase that wrote none).
    fn changes_per_commit(&self) -> String {
        match self.commits {
            (0, _) => "-".into(),
            (n, changes) => format!("{:.1}", changes as f64 / n as f64),
        }
    }

    /// PostgreSQL's CPU microseconds per request.
    fn db_cpu_per_request(&self) -> f64 {
        self.db_cpu.as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// The store's group-commit counters from the server's `/metrics`: (batches, changes).
async fn commit_counters(http: &reqwest::Client, base: &str) -> (u64, u64) {
    let root = base.trim_end_matches("/v2.1");
    let text = match http.get(format!("{root}/metrics")).send().await {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let counter = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        counter("xenpool_store_batches_total "),
        counter("xenpool_store_batched_changes_total "),
    )
}

/// One request to send: method, path, body.
type Request = (reqwest::Method, String, Option<Value>);

/// `CLIENTS` HTTP clients, each holding one kept-alive connection, opened before any phase
/// (steady-state figures, as Nova's were: no phase pays for connection set-up).
async fn connected_clients(base: &str) -> Vec<reqwest::Client> {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // Loopback only: never through a proxy from the environment (which would also cost a
        // proxy-rule match and URL parse per request on the cores the server needs).
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let up = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("server answers");
        assert!(up.status().is_success(), "healthz: {}", up.status());
        let _ = up.bytes().await;
        clients.push(http);
    }
    clients
}

/// Sends `requests` with the `clients` concurrently; stops at the deadline. Every non-2xx
/// answer counts as an error.
async fn run_phase(
    op: &'static str,
    clients: &[reqwest::Client],
    base: &str,
    requests: Vec<Request>,
) -> Phase {
    // URLs parsed and bodies serialized before the clock starts: the load generator shares the
    // server's two cores, so it does no per-request work it can do up front.
    let prepared: Vec<(reqwest::Method, reqwest::Url, Option<Vec<u8>>)> = requests
        .into_iter()
        .map(|(method, path, body)| {
            let url = reqwest::Url::parse(&format!("{base}{path}")).expect("request URL");
            let body = body.map(|b| serde_json::to_vec(&b).expect("request body"));
            (method, url, body)
        })
        .collect();
    let queue = Arc::new(Mutex::new(prepared.into_iter()));
    let commits_before = commit_counters(&clients[0], base).await;
    let (cpu_before, db_cpu_before) = (process_cpu(), postgres_cpu());
    let started = Instant::now();
    let deadline = started + PHASE_DEADLINE;
    let mut workers = Vec::new();
    for http in clients {
        let (queue, http) = (queue.clone(), http.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            loop {
                if Instant::now() > deadline {
                    break;
                }
                let Some((method, url, body)) = queue.lock().await.next() else {
                    break;
                };
                let mut req = http.request(method, url).header("X-Auth-Token", TOKEN);
                if let Some(b) = body {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(b);
                }
                let t = Instant::now();
                let ok = match req.send().await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                latencies.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut phase = Phase {
        op,
        latencies: Vec::new(),
        wall: Duration::ZERO,
        cpu: Duration::ZERO,
        db_cpu: Duration::ZERO,
        commits: (0, 0),
        errors: 0,
    };
    for w in workers {
        let (l, e) = w.await.expect("worker");
        phase.latencies.extend(l);
        phase.errors += e;
    }
    phase.wall = started.elapsed();
    phase.cpu = process_cpu().saturating_sub(cpu_before);
    phase.db_cpu = postgres_cpu().saturating_sub(db_cpu_before);
    let commits_after = commit_counters(&clients[0], base).await;
    phase.commits = (
        commits_after.0.saturating_sub(commits_before.0),
        commits_after.1.saturating_sub(commits_before.1),
    );
    phase
}

/// Runs the whole load against a fresh server on `database` (None = SQLite).
async fn bench_backend(database: Option<String>) -> Vec<Phase> {
    let data = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        database,
        token_entries: Some(vec![TokenEntry {
            name: "bench".into(),
            role: Role::Admin,
            host: None,
            sha256: hash_token(TOKEN),
        }]),
        data_dir: data.path().to_path_buf(),
        ..ServeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let server = xenpool::serve::start(config, listener)
        .await
        .expect("server starts");
    let base = server.url().trim_end_matches('/').to_string();
    let nova = format!("{base}/v2.1");

    // Set-up (not measured): the hosts the aggregates will hold.
    let hosts: Vec<Request> = (0..AGGREGATES * HOSTS_PER_AGGREGATE)
        .map(|h| {
            (
                reqwest::Method::POST,
                "/v1/hosts".to_string(),
                Some(json!({"host_name": format!("bench-h{h}")})),
            )
        })
        .collect();
    let clients = connected_clients(&base).await;
    let setup = run_phase("register", &clients, &base, hosts).await;
    assert_eq!(setup.errors, 0, "host registration failed");

    let mut phases: Vec<Phase> = Vec::new();
    for round in 0..ROUNDS {
        let measured = bench_round(&clients, &nova, round).await;
        for p in measured {
            match phases.iter_mut().find(|q| q.op == p.op) {
                Some(q) => q.absorb(p),
                None => phases.push(p),
            }
        }
    }
    server.shutdown().await.expect("clean shutdown");
    phases
}

/// One round of the workload (not counting clean-up): create 100 aggregates, add 2 hosts to
/// each, set 3 metadata keys on each, then list and show; then removes it all again (not
/// measured) so every round sees the same data.
async fn bench_round(clients: &[reqwest::Client], nova: &str, round: usize) -> Vec<Phase> {
    let mut phases = Vec::new();
    let creates = (0..AGGREGATES)
        .map(|a| (reqwest::Method::POST, "/os-aggregates".to_string(),
                  Some(json!({"aggregate": {"name": format!("bench-r{round}-agg{a}"), "availability_zone": format!("az{}", a % 4)}}))))
        .collect();
    phases.push(run_phase("create", clients, nova, creates).await);

    // Aggregate ids as the server assigned them.
    let list: Value = clients[0]
        .get(format!("{nova}/os-aggregates"))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list JSON");
    let ids: Vec<u64> = list["aggregates"]
        .as_array()
        .expect("aggregates")
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), AGGREGATES, "every create landed");

    let adds = ids.iter().enumerate().flat_map(|(i, id)| {
        (0..HOSTS_PER_AGGREGATE).map(move |k| (reqwest::Method::POST, format!("/os-aggregates/{id}/action"),
            Some(json!({"add_host": {"host": format!("bench-h{}", i * HOSTS_PER_AGGREGATE + k)}}))))
    }).collect();
    phases.push(run_phase("add_host", clients, nova, adds).await);

    let metas = ids.iter().flat_map(|id| {
        (0..METADATA_KEYS).map(move |k| (reqwest::Method::POST, format!("/os-aggregates/{id}/action"),
            Some(json!({"set_metadata": {"metadata": {format!("key{k}"): format!("value{k}")}}}))))
    }).collect();
    phases.push(run_phase("set_metadata", clients, nova, metas).await);

    let lists = (0..LIST_REQUESTS)
        .map(|_| (reqwest::Method::GET, "/os-aggregates".to_string(), None))
        .collect();
    phases.push(run_phase("list", clients, nova, lists).await);

    let shows = (0..SHOW_REQUESTS)
        .map(|i| {
            (
                reqwest::Method::GET,
                format!("/os-aggregates/{}", ids[i % ids.len()]),
                None,
            )
        })
        .collect();
    phases.push(run_phase("show", clients, nova, shows).await);

    let removes = ids.iter().enumerate().flat_map(|(i, id)| {
        (0..HOSTS_PER_AGGREGATE).map(move |k| (reqwest::Method::POST, format!("/os-aggregates/{id}/action"),
            Some(json!({"remove_host": {"host": format!("bench-h{}", i * HOSTS_PER_AGGREGATE + k)}}))))
    }).collect();
    let cleanup = run_phase("remove_host", clients, nova, removes).await;
    assert_eq!(cleanup.errors, 0, "clean-up remove_host failed");
    let deletes = ids
        .iter()
        .map(|id| {
            (
                reqwest::Method::DELETE,
                format!("/os-aggregates/{id}"),
                None,
            )
        })
        .collect();
    let cleanup = run_phase("delete", clients, nova, deletes).await;
    assert_eq!(cleanup.errors, 0, "clean-up delete failed");
    phases
}

fn range(r: Option<(f64, f64)>) -> String {
    r.map(|(a, b)| format!("{a}–{b}"))
        .unwrap_or_else(|| "n/a".into())
}

/// Prints the table; returns the targets missed.
fn report(backend: &str, phases: &[Phase], strict_latency: bool) -> Vec<String> {
    let mut missed = Vec::new();
    println!("\n== {backend}: {AGGREGATES} aggregates × {HOSTS_PER_AGGREGATE} hosts × {METADATA_KEYS} metadata keys, {CLIENTS} concurrent clients, Nova surface ==");
    println!(
        "{:<13}{:>7}{:>7}{:>10}{:>10}{:>11}{:>12}{:>12}{:>11} | {:>13}{:>13}{:>11} | {:>15}{:>15}",
        "op",
        "n",
        "errors",
        "median ms",
        "p99 ms",
        "req/s",
        "CPU µs/req",
        "DB µs/req",
        "per commit",
        "Nova median",
        "Nova p99",
        "Nova req/s",
        "median ×faster",
        "req/s ×Nova"
    );
    for p in phases {
        let (median, p99, rps) = (p.percentile(50.0), p.percentile(99.0), p.rps());
        let n = nova(p.op);
        // Ratios against Nova's best figure of its range (the conservative comparison).
        let speed = n
            .median_ms
            .map(|(lo, _)| format!("{:.2}×", lo / median))
            .unwrap_or_else(|| "n/a".into());
        let thr = n
            .rps
            .map(|(_, hi)| format!("{:.2}×", rps / hi))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:<13}{:>7}{:>7}{:>10.3}{:>10.3}{:>11.0}{:>12.0}{:>12.0}{:>11} | {:>13}{:>13}{:>11} | {:>15}{:>15}",
            p.op,
            p.latencies.len(),
            p.errors,
            median,
            p99,
            rps,
            p.cpu_per_request(),
            p.db_cpu_per_request(),
            p.changes_per_commit(),
            range(n.median_ms),
            range(n.p99_ms),
            range(n.rps),
            speed,
            thr
        );
        if p.errors > 0 {
            missed.push(format!("{backend} {}: {} requests failed", p.op, p.errors));
        }
        if strict_latency && median >= 2.0 {
            missed.push(format!("{backend} {}: median {median:.3} ms ≥ 2 ms", p.op));
        }
        if strict_latency && p.op == "list" && p99 >= 5.0 {
            missed.push(format!("{backend} list: p99 {p99:.3} ms ≥ 5 ms"));
        }
        if let Some((_, hi)) = n.rps {
            if rps < 50.0 * hi {
                missed.push(format!(
                    "{backend} {}: {rps:.0} req/s < 50 × Nova's {hi}",
                    p.op
                ));
            }
        }
    }
    missed
}

fn main() {
    let only = std::env::var("XENPOOL_BENCH_DB").ok();
    // reqwest is built without a bundled crypto provider; the workspace uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut missed = Vec::new();
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let phases = runtime.block_on(bench_backend(None));
        missed.extend(report("SQLite", &phases, true));
    }
    if only.as_deref().is_none_or(|o| o == "postgres") {
        let phases =
            runtime.block_on(async { bench_backend(Some(pg::fresh_database().await)).await });
        missed.extend(report("PostgreSQL", &phases, false));
    }
    println!("\nTargets: every median < 2 ms and list p99 < 5 ms on SQLite; ≥ 50× Nova's best req/s on every row with a Nova figure.");
    if missed.is_empty() {
        println!("All targets met.");
    } else {
        println!("Targets missed:");
        for m in &missed {
            println!("  - {m}");
        }
    }
}
