//! Starts `xenpool serve` in-process on a free loopback port, on SQLite (a temp dir) or on a
//! fresh database of the shared test PostgreSQL cluster, with a fixed set of test tokens.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use xenpool::auth::{hash_token, Role, TokenEntry};
use xenpool::config::ServeConfig;
use xenpool::serve::{start, ServerHandle};

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A fresh database in the shared PostgreSQL cluster.
    Postgres,
}

/// The admin token of every test server.
pub const ADMIN: &str = "admin-token";
/// The read-only admin token.
pub const READER: &str = "reader-token";
/// The ordinary user's token.
pub const MEMBER: &str = "member-token";
/// Hosts that have an agent token (`agent_token(host)`).
pub const AGENT_HOSTS: [&str; 6] = ["compute", "compute2", "compute3", "compute4", "h1", "h2"];

/// The agent token bound to `host`.
pub fn agent_token(host: &str) -> String {
    format!("agent-{host}-token")
}

fn entries() -> Vec<TokenEntry> {
    let mut v = vec![
        TokenEntry {
            name: "admin".into(),
            role: Role::Admin,
            host: None,
            sha256: hash_token(ADMIN),
        },
        TokenEntry {
            name: "reader".into(),
            role: Role::Reader,
            host: None,
            sha256: hash_token(READER),
        },
        TokenEntry {
            name: "member".into(),
            role: Role::Member,
            host: None,
            sha256: hash_token(MEMBER),
        },
    ];
    for h in AGENT_HOSTS {
        v.push(TokenEntry {
            name: format!("agent-{h}"),
            role: Role::Agent,
            host: Some(h.to_string()),
            sha256: hash_token(&agent_token(h)),
        });
    }
    v
}

/// A running test server.
pub struct TestServer {
    /// The server.
    pub handle: ServerHandle,
    /// Its database URL (to start a second replica on it).
    pub database: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP client for loopback test servers (installs rustls' ring provider once: the crate
/// builds reqwest without a default provider).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A fresh database URL for `db` (None for SQLite: the server uses its data dir).
pub async fn database_for(db: Db) -> Option<String> {
    match db {
        Db::Sqlite => None,
        Db::Postgres => Some(super::pg::fresh_database().await),
    }
}

impl TestServer {
    /// Starts a server on a fresh database.
    pub async fn start(db: Db) -> TestServer {
        let url = database_for(db).await;
        TestServer::start_on(url).await
    }

    /// Starts a server on `database` (a second replica when another server uses it too).
    pub async fn start_on(database: Option<String>) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ServeConfig {
            database: database.clone(),
            token_entries: Some(entries()),
            data_dir: dir.path().join("data"),
            revision_poll: Duration::from_millis(100),
            max_db_connections: 8,
            ..ServeConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handle = start(config, listener).await.expect("server starts");
        let database = database.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                dir.path().join("data").join("xenpool.sqlite3").display()
            )
        });
        TestServer {
            handle,
            database,
            client: client(),
            _dir: dir,
        }
    }

    /// Sends a request with raw headers and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .client
            .request(m, format!("{}{path}", self.handle.url()));
        if let Some(t) = token {
            rb = rb.header("X-Auth-Token", t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Reply {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await.expect("body"),
        }
    }

    /// A Nova-surface request (`path` relative to `/v2.1`), with an optional microversion.
    pub async fn nova(
        &self,
        method: &str,
        path: &str,
        token: &str,
        mv: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let h = mv.map(|v| format!("compute {v}"));
        let mut headers = Vec::new();
        if let Some(h) = &h {
            headers.push(("OpenStack-API-Version", h.as_str()));
        }
        let b = body.map(|b| b.to_string());
        self.call(
            method,
            &format!("/v2.1{path}"),
            Some(token),
            &headers,
            b.as_deref(),
        )
        .await
    }

    /// A native request (`path` relative to `/v1`).
    pub async fn v1(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let b = body.map(|b| b.to_string());
        let headers: &[(&str, &str)] = if b.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        self.call(
            method,
            &format!("/v1{path}"),
            Some(token),
            headers,
            b.as_deref(),
        )
        .await
    }

    /// Registers hosts through the native API (as an admin would).
    pub async fn register_hosts(&self, hosts: &[&str]) {
        for h in hosts {
            let r = self
                .v1(
                    "POST",
                    "/hosts",
                    ADMIN,
                    Some(serde_json::json!({"host_name": h})),
                )
                .await;
            assert_eq!(r.status, 201, "register {h}: {}", r.text);
        }
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.shutdown().await.expect("clean shutdown");
    }
}

/// Declares one test per backend: `both!(name, |db| async move { … })`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::support::server::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::support::server::Db::Postgres).await
            }
        }
    };
}
