//! Runs the real `xenpool` binary and the OpenStack clients against a [`TestServer`], from
//! plain (blocking) tests: the server lives on a runtime owned here, commands run as child
//! processes, and a background thread can play a host's agent by patching operations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::TestServer;
pub use super::server::{Db, ADMIN, MEMBER, READER};

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`-1` if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts exit code 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts exit code `code` and returns stderr.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit {code}; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

/// A test server plus the runtime that drives it and an empty $HOME; dropped → shut down.
pub struct CliEnv {
    runtime: tokio::runtime::Runtime,
    server: Option<TestServer>,
    home: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl CliEnv {
    /// Starts a server on `db`.
    pub fn start(db: Db) -> CliEnv {
        // reqwest is built without a bundled crypto provider; the workspace uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = runtime.block_on(TestServer::start(db));
        let url = server.handle.url().trim_end_matches('/').to_string();
        CliEnv {
            runtime,
            server: Some(server),
            home: tempfile::tempdir().expect("temp dir"),
            url,
        }
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().expect("running until drop")
    }

    /// A `xenpool` command with URL and admin token in the environment and an empty $HOME.
    pub fn xenpool(&self) -> Command {
        xenpool_command(&self.url, ADMIN, self.home.path())
    }

    /// The temp $HOME the commands run with.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs `xenpool ARGS` as admin.
    pub fn run(&self, args: &[&str]) -> Out {
        output(self.xenpool().args(args))
    }

    /// Runs `xenpool ARGS` with `token`.
    pub fn run_as(&self, token: &str, args: &[&str]) -> Out {
        output(self.xenpool().env("XENPOOL_TOKEN", token).args(args))
    }

    /// A native API call (`path` below `/v1`) as admin: (status, JSON body or null).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(ADMIN, method, path, body)
    }

    /// A native API call (`path` below `/v1`) with `token`.
    pub fn api_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let reply = self
            .runtime
            .block_on(self.server().v1(method, path, token, body));
        (
            reply.status,
            serde_json::from_str(&reply.text).unwrap_or(Value::Null),
        )
    }

    /// Registers hosts through the native API.
    pub fn register_hosts(&self, names: &[&str]) {
        self.runtime.block_on(self.server().register_hosts(names));
    }

    /// Plays `host`'s agent in the background: waits (≤ 20 s) for a pending operation of that
    /// host, then applies each `PATCH /v1/operations/{id}` body in `steps`, 100 ms apart, and
    /// returns the operation id.
    pub fn agent_will(&self, host: &str, steps: Vec<Value>) -> std::thread::JoinHandle<u64> {
        let (url, host) = (self.url.clone(), host.to_string());
        let handle = self.runtime.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let http = reqwest::Client::new();
                let deadline = Instant::now() + Duration::from_secs(20);
                let id = loop {
                    assert!(
                        Instant::now() < deadline,
                        "no pending operation appeared for {host}"
                    );
                    let list: Value = http
                        .get(format!("{url}/v1/operations?host={host}&state=pending"))
                        .header("X-Auth-Token", ADMIN)
                        .send()
                        .await
                        .expect("list operations")
                        .json()
                        .await
                        .expect("operations JSON");
                    if let Some(id) = list["operations"][0]["id"].as_u64() {
                        break id;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                for step in steps {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let resp = http
                        .patch(format!("{url}/v1/operations/{id}"))
                        .header("X-Auth-Token", ADMIN)
                        .json(&step)
                        .send()
                        .await
                        .expect("patch operation");
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    assert!(
                        status.is_success(),
                        "PATCH operation {id} {step}: {status} {text}"
                    );
                }
                id
            })
        })
    }
}

impl Drop for CliEnv {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

/// A `xenpool` command for the API at `url` with `token`, $HOME at `home` and nothing else of
/// this process's environment but `PATH`.
pub fn xenpool_command(url: &str, token: &str, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xenpool"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XENPOOL_URL", url)
        .env("XENPOOL_TOKEN", token)
        .stdin(Stdio::null());
    c
}

/// Runs `cmd` and collects its output.
pub fn output(cmd: &mut Command) -> Out {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The Python interpreter of the test venv: `$XENPOOL_TEST_PYTHON`, else `<workspace>/.venv`.
/// Fails (never skips) with the fix when neither exists.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("XENPOOL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the client-compatibility tests: run scripts/setup-venv (or set XENPOOL_TEST_PYTHON)"
    );
    venv
}

/// The `| a | b |` lines of a table (header included), cells trimmed.
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The string values of `fields` in `v` (None where absent or not a string), for compact asserts.
pub fn strs<'a>(v: &'a Value, fields: &[&str]) -> Vec<Option<&'a str>> {
    fields.iter().map(|f| v[*f].as_str()).collect()
}
