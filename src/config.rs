//! `xenpool serve` configuration: defaults, then a TOML file, then `XENPOOL_*` environment
//! variables, then command-line flags (each layer overrides the one before).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::api::Settings;
use crate::auth::TokenEntry;
use crate::store::SqliteSync;

/// The default listen address (loopback; Nova's port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8774";

/// The server's configuration after all layers are applied.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL; `None` means SQLite in `data_dir`.
    pub database: Option<String>,
    /// Tokens file; `None` means `<data_dir>/tokens.toml`, unless `token_entries` are given.
    pub tokens: Option<PathBuf>,
    /// Token entries used instead of a file (in-process servers: tests, demo).
    pub token_entries: Option<Vec<TokenEntry>>,
    /// Data directory (SQLite file, default tokens file).
    pub data_dir: PathBuf,
    /// API behaviour.
    pub settings: Settings,
    /// How often each replica reads the database revision (to see other replicas' commits).
    pub revision_poll: Duration,
    /// Database connection pool size.
    pub max_db_connections: u32,
    /// SQLite commit durability (`sqlite_synchronous = "normal" | "full"`).
    pub sqlite_sync: SqliteSync,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            database: None,
            tokens: None,
            token_entries: None,
            data_dir: PathBuf::from("./xenpool-data"),
            settings: Settings::default(),
            revision_poll: Duration::from_millis(200),
            max_db_connections: 16,
            sqlite_sync: SqliteSync::default(),
        }
    }
}

/// The TOML file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database: Option<String>,
    tokens: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    service_down_time: Option<u64>,
    default_availability_zone: Option<String>,
    revision_poll_ms: Option<u64>,
    max_db_connections: Option<u32>,
    sqlite_synchronous: Option<String>,
}

/// Values given on the command line.
#[derive(Clone, Debug, Default)]
pub struct ServeFlags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--tokens`.
    pub tokens: Option<PathBuf>,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn parse_listen(s: &str, origin: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        ConfigError(format!(
            "{origin}: listen address {s:?} is not HOST:PORT with an IP address, e.g. 127.0.0.1:8774"
        ))
    })
}

fn parse_u64(s: &str, origin: &str) -> Result<u64, ConfigError> {
    s.parse()
        .map_err(|_| ConfigError(format!("{origin}: {s:?} is not a whole number")))
}

impl ServeConfig {
    /// Applies the file named by `flags.config`, then the environment (`env` lists
    /// `(name, value)` pairs, usually `std::env::vars()`), then the flags.
    pub fn resolve(
        flags: &ServeFlags,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServeConfig, ConfigError> {
        let mut c = ServeConfig::default();
        if let Some(path) = &flags.config {
            c.apply_file(path)?;
        }
        for (k, v) in env {
            let origin = format!("environment variable {k}");
            match k.as_str() {
                "XENPOOL_LISTEN" => c.listen = parse_listen(&v, &origin)?,
                "XENPOOL_DATABASE" => c.database = Some(v),
                "XENPOOL_TOKENS" => c.tokens = Some(PathBuf::from(v)),
                "XENPOOL_DATA_DIR" => c.data_dir = PathBuf::from(v),
                "XENPOOL_SERVICE_DOWN_TIME" => {
                    c.settings.service_down_time = Duration::from_secs(parse_u64(&v, &origin)?)
                }
                "XENPOOL_DEFAULT_AVAILABILITY_ZONE" => c.settings.default_availability_zone = v,
                _ => {}
            }
        }
        if let Some(l) = &flags.listen {
            c.listen = parse_listen(l, "--listen")?;
        }
        if let Some(d) = &flags.database {
            c.database = Some(d.clone());
        }
        if let Some(t) = &flags.tokens {
            c.tokens = Some(t.clone());
        }
        Ok(c)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        let f: FileConfig = toml::from_str(&text)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        let origin = format!("config file {}", path.display());
        if let Some(l) = f.listen {
            self.listen = parse_listen(&l, &origin)?;
        }
        if f.database.is_some() {
            self.database = f.database;
        }
        if f.tokens.is_some() {
            self.tokens = f.tokens;
        }
        if let Some(d) = f.data_dir {
            self.data_dir = d;
        }
        if let Some(s) = f.service_down_time {
            self.settings.service_down_time = Duration::from_secs(s);
        }
        if let Some(z) = f.default_availability_zone {
            self.settings.default_availability_zone = z;
        }
        if let Some(ms) = f.revision_poll_ms {
            self.revision_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(n) = f.max_db_connections {
            self.max_db_connections = n;
        }
        if let Some(m) = f.sqlite_synchronous {
            self.sqlite_sync = match m.as_str() {
                "normal" => SqliteSync::Normal,
                "full" => SqliteSync::Full,
                other => {
                    return Err(ConfigError(format!(
                        "{origin}: sqlite_synchronous {other:?} is not \"normal\" or \"full\""
                    )))
                }
            };
        }
        Ok(())
    }

    /// The tokens file in force.
    pub fn tokens_path(&self) -> PathBuf {
        self.tokens
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tokens.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndatabase = \"sqlite://a\"\nservice_down_time = 5\n",
        )
        .unwrap();
        let flags = ServeFlags {
            config: Some(file),
            listen: Some("127.0.0.1:9002".into()),
            ..ServeFlags::default()
        };
        let env = vec![
            ("XENPOOL_DATABASE".to_string(), "sqlite://b".to_string()),
            ("XENPOOL_LISTEN".to_string(), "127.0.0.1:9001".to_string()),
        ];
        let c = ServeConfig::resolve(&flags, env).unwrap();
        assert_eq!(c.listen.port(), 9002);
        assert_eq!(c.database.as_deref(), Some("sqlite://b"));
        assert_eq!(c.settings.service_down_time, Duration::from_secs(5));
        let bad = ServeConfig::resolve(
            &ServeFlags {
                listen: Some("localhost".into()),
                ..ServeFlags::default()
            },
            Vec::new(),
        )
        .unwrap_err();
        assert!(bad.to_string().contains("--listen"), "{bad}");
    }
}
