//! A throwaway PostgreSQL cluster for the tests: started once per test run from the installed
//! binaries (`/usr/lib/postgresql/15/bin`, or `$XENPOOL_PG_BIN`) in a temp dir on a free
//! loopback port, under the `nobody` user when the tests run as root (PostgreSQL refuses root).
//! A watchdog process stops the cluster and removes the directory when the test process exits,
//! however it exits. Each test gets its own fresh database from [`fresh_database`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use sqlx::Connection;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn bin_dir() -> PathBuf {
    std::env::var_os("XENPOOL_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    // SAFETY-free check: /proc/self/status carries the effective uid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary as the cluster's owner.
fn pg_command(bin: &str) -> Command {
    let path = bin_dir().join(bin);
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("nobody").arg("--").arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn chown_nobody(p: &Path) -> Result<(), String> {
    std::os::unix::fs::chown(p, Some(65534), Some(65534))
        .map_err(|e| format!("chown {} to nobody: {e}", p.display()))
}

fn start() -> Result<Cluster, String> {
    if !bin_dir().join("initdb").exists() {
        return Err(format!(
            "PostgreSQL binaries not found in {} (install postgresql-15 or set XENPOOL_PG_BIN)",
            bin_dir().display()
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("xenpool-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    if is_root() {
        chown_nobody(&dir)?;
        chown_nobody(&data)?;
    }
    let mut initdb = pg_command("initdb");
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "xenpool", "--auth=trust", "--no-sync", "-E", "UTF8"]);
    run(initdb, "initdb")?;
    let port = free_port()?;
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=400",
        dir.display()
    );
    let mut ctl = pg_command("pg_ctl");
    ctl.arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&opts)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"]);
    run(ctl, "pg_ctl start")?;
    // Watchdog: when this process is gone, stop the cluster and remove its directory.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        ctl = if is_root() {
            format!("runuser -u nobody -- {}", bin_dir().join("pg_ctl").display())
        } else {
            bin_dir().join("pg_ctl").display().to_string()
        },
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster watchdog: {e}"))?;
    Ok(Cluster { port })
}

/// URL of the shared cluster's admin database (starting the cluster on first use).
fn cluster_port() -> u16 {
    match CLUSTER.get_or_init(start) {
        Ok(c) => c.port,
        Err(e) => panic!("cannot start the test PostgreSQL cluster: {e}"),
    }
}

/// Creates a new empty database in the shared cluster and returns its URL.
pub async fn fresh_database() -> String {
    let port = cluster_port();
    let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
    let name = format!("t{}_{n}", std::process::id());
    let admin = format!("postgres://xenpool@127.0.0.1:{port}/postgres");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("connect to test cluster at {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    conn.close().await.ok();
    format!("postgres://xenpool@127.0.0.1:{port}/{name}")
}
