//! `xenpool agent` configuration: a TOML file, each key overridable by `XENPOOL_AGENT_<KEY>`.
//!
//! Loading validates everything that can be checked without the network: required keys,
//! URLs, TLS options, and that secret files are private (mode 0600), naming the file and the
//! fix on any failure. Secrets are read into [`Password`]s, which never print.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::planner::Concurrency;
use crate::xenapi::{
    Client, ClientOptions, Credentials, Fingerprint, Password, TlsTrust, XenApiError,
};

/// Prefix of the environment variables that override file keys.
pub const ENV_PREFIX: &str = "XENPOOL_AGENT_";

/// The file's keys, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    host: String,
    control_url: String,
    token_file: PathBuf,
    xapi_url: String,
    #[serde(default = "default_username")]
    xapi_username: String,
    xapi_password_file: PathBuf,
    xapi_ca_file: Option<PathBuf>,
    xapi_fingerprint: Option<String>,
    state_dir: PathBuf,
    metrics_listen: Option<String>,
    #[serde(default = "default_per_host")]
    migrations_per_host: usize,
    #[serde(default = "default_per_pool")]
    migrations_per_pool: usize,
    #[serde(default = "default_xapi_timeout")]
    xapi_timeout_seconds: u64,
    #[serde(default = "default_join_timeout")]
    join_timeout_seconds: u64,
    #[serde(default = "default_heartbeat")]
    heartbeat_seconds: u64,
    #[serde(default = "default_cooldown")]
    handover_cooldown_seconds: u64,
    #[serde(default = "default_outage_grace")]
    xapi_outage_grace_seconds: u64,
}

fn default_username() -> String {
    "root".into()
}
fn default_per_host() -> usize {
    Concurrency::default().per_host
}
fn default_per_pool() -> usize {
    Concurrency::default().per_pool
}
fn default_xapi_timeout() -> u64 {
    60
}
fn default_join_timeout() -> u64 {
    600
}
fn default_heartbeat() -> u64 {
    10
}
fn default_cooldown() -> u64 {
    600
}
fn default_outage_grace() -> u64 {
    120
}

/// A validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This host's name in the control plane.
    pub host: String,
    /// Base URL of `xenpool serve`.
    pub control_url: url::Url,
    /// The `agent` token bound to `host`.
    pub token: Password,
    /// This host's XAPI URL.
    pub xapi_url: url::Url,
    /// XAPI user name.
    pub xapi_username: String,
    /// XAPI password.
    pub xapi_password: Password,
    /// PEM CA file to verify XAPI's certificate with.
    pub xapi_ca_file: Option<PathBuf>,
    /// Pinned SHA-256 fingerprint of XAPI's certificate.
    pub xapi_fingerprint: Option<String>,
    /// Directory of the journal.
    pub state_dir: PathBuf,
    /// Address of the agent's Prometheus `/metrics` listener, if any.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Migration bounds.
    pub concurrency: Concurrency,
    /// Timeout of one XAPI call.
    pub xapi_timeout: Duration,
    /// How long a joined host may take to be listed enabled by its master.
    pub join_timeout: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Minimum time between two handovers by this agent.
    pub handover_cooldown: Duration,
    /// How long XAPI may stay unreachable (a toolstack restart after a join, say) before the
    /// agent reports it as the host's error. Refusals such as a wrong password are reported at
    /// once.
    pub xapi_outage_grace: Duration,
}

impl AgentConfig {
    /// A XenAPI client with this config's TLS trust (CA file, pinned fingerprint, or the
    /// default verification) and call timeout.
    pub fn xapi_client(&self) -> Result<Client, XenApiError> {
        let trust = match (&self.xapi_ca_file, &self.xapi_fingerprint) {
            (Some(ca), _) => TlsTrust::CaFile(ca.clone()),
            (None, Some(fp)) => TlsTrust::Pinned(fp.parse::<Fingerprint>().map_err(|e| {
                XenApiError::Config(format!("agent config: `xapi_fingerprint`: {e}"))
            })?),
            (None, None) => TlsTrust::default(),
        };
        Client::new(ClientOptions {
            trust,
            call_timeout: self.xapi_timeout,
            ..ClientOptions::default()
        })
    }

    /// The XAPI user name and password.
    pub fn xapi_credentials(&self) -> Credentials {
        Credentials {
            username: self.xapi_username.clone(),
            password: self.xapi_password.clone(),
        }
    }

    /// This host's management address: the host part of `xapi_url`, without IPv6 brackets.
    pub fn xapi_address(&self) -> String {
        self.xapi_url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned()
    }
}

/// A configuration problem, naming the key or file and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl AgentConfig {
    /// Loads `path`, applies `XENPOOL_AGENT_*` overrides from `env`, and validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AgentConfig, ConfigError> {
        let text = fs::read_to_string(path).map_err(|e| {
            ConfigError(format!("cannot read agent config {}: {e}", path.display()))
        })?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
            ConfigError(format!(
                "agent config {} is not valid TOML: {e}",
                path.display()
            ))
        })?;
        for (name, raw) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            table.insert(key.to_ascii_lowercase(), env_value(&raw));
        }
        let raw: RawConfig = table.try_into().map_err(|e: toml::de::Error| {
            ConfigError(format!("agent config {}: {}", path.display(), e.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        raw.validate(base)
    }
}

/// An environment value as TOML: `3` is an integer and `true` a boolean, anything else a string.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

impl RawConfig {
    fn validate(self, base: &Path) -> Result<AgentConfig, ConfigError> {
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        if self.host.trim().is_empty() {
            return Err(ConfigError(
                "agent config: `host` is empty; set it to this host's name in the control plane"
                    .into(),
            ));
        }
        let control_url = parse_url("control_url", &self.control_url)?;
        let xapi_url = parse_url("xapi_url", &self.xapi_url)?;
        if self.xapi_ca_file.is_some() && self.xapi_fingerprint.is_some() {
            return Err(ConfigError(
                "agent config: set either `xapi_ca_file` or `xapi_fingerprint`, not both".into(),
            ));
        }
        let token = read_secret("token_file", &resolve(self.token_file))?;
        let xapi_password = read_secret("xapi_password_file", &resolve(self.xapi_password_file))?;
        let metrics_listen = self
            .metrics_listen
            .map(|a| {
                a.parse().map_err(|e| {
                    ConfigError(format!("agent config: `metrics_listen` {a:?} is not an address like 127.0.0.1:9187: {e}"))
                })
            })
            .transpose()?;
        Ok(AgentConfig {
            host: self.host,
            control_url,
            token,
            xapi_url,
            xapi_username: self.xapi_username,
            xapi_password,
            xapi_ca_file: self.xapi_ca_file.map(resolve),
            xapi_fingerprint: self.xapi_fingerprint,
            state_dir: resolve(self.state_dir),
            metrics_listen,
            concurrency: Concurrency {
                per_host: self.migrations_per_host,
                per_pool: self.migrations_per_pool,
            }
            .normalized(),
            xapi_timeout: Duration::from_secs(self.xapi_timeout_seconds.max(1)),
            join_timeout: Duration::from_secs(self.join_timeout_seconds.max(1)),
            heartbeat: Duration::from_secs(self.heartbeat_seconds.max(1)),
            handover_cooldown: Duration::from_secs(self.handover_cooldown_seconds),
            xapi_outage_grace: Duration::from_secs(self.xapi_outage_grace_seconds),
        })
    }
}

fn parse_url(key: &str, value: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value).map_err(|e| {
        ConfigError(format!(
            "agent config: `{key}` {value:?} is not a URL ({e}); write it like https://10.0.0.11/"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "agent config: `{key}` must be http:// or https://, not {}://",
            url.scheme()
        )));
    }
    Ok(url)
}

/// Reads a one-line secret file, refusing files that others can read.
fn read_secret(key: &str, path: &Path) -> Result<Password, ConfigError> {
    let meta = fs::metadata(path)
        .map_err(|e| ConfigError(format!("agent config: `{key}` {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError(format!(
                "agent config: `{key}` {} has mode {mode:04o}; it holds a secret, so run chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    let text = fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("agent config: `{key}` {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(ConfigError(format!(
            "agent config: `{key}` {} is empty",
            path.display()
        )));
    }
    Ok(Password::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_secret(dir: &Path, name: &str, value: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, value).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn config_file(dir: &Path, extra: &str) -> PathBuf {
        write_secret(dir, "token", "tok-secret\n", 0o600);
        write_secret(dir, "xapi-password", "hunter2\n", 0o600);
        let path = dir.join("agent.toml");
        fs::write(
            &path,
            format!(
                "host = \"xs1\"\ncontrol_url = \"http://127.0.0.1:8774\"\ntoken_file = \"token\"\n\
                 xapi_url = \"https://127.0.0.2/\"\nxapi_password_file = \"xapi-password\"\nstate_dir = \"state\"\n{extra}"
            ),
        )
        .unwrap();
        path
    }

    #[test]
    fn loads_with_defaults_relative_paths_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(dir.path(), "migrations_per_host = 2\n");
        let env = [
            (
                "XENPOOL_AGENT_MIGRATIONS_PER_POOL".to_owned(),
                "9".to_owned(),
            ),
            ("XENPOOL_AGENT_HOST".to_owned(), "xs7".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let c = AgentConfig::load(&path, env).unwrap();
        assert_eq!(c.host, "xs7");
        assert_eq!(
            c.concurrency,
            Concurrency {
                per_host: 2,
                per_pool: 9
            }
        );
        assert_eq!(c.xapi_username, "root");
        assert_eq!(c.state_dir, dir.path().join("state"));
        assert_eq!(c.xapi_password.expose(), "hunter2");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-secret"),
            "secrets leak: {shown}"
        );
    }

    #[test]
    fn refuses_a_password_file_others_can_read_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(dir.path(), "");
        fs::set_permissions(
            dir.path().join("xapi-password"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = AgentConfig::load(&path, []).unwrap_err().to_string();
        assert!(
            err.contains("xapi_password_file")
                && err.contains("mode 0644")
                && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn names_unknown_keys_bad_urls_and_conflicting_tls_options() {
        let dir = tempfile::tempdir().unwrap();
        let err = AgentConfig::load(&config_file(dir.path(), "xapi_pasword = \"x\"\n"), [])
            .unwrap_err()
            .to_string();
        assert!(err.contains("xapi_pasword"), "{err}");
        let err = AgentConfig::load(
            &config_file(dir.path(), ""),
            [("XENPOOL_AGENT_XAPI_URL".into(), "ftp://x".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("xapi_url") && err.contains("ftp"), "{err}");
        let err = AgentConfig::load(
            &config_file(
                dir.path(),
                "xapi_ca_file = \"ca.pem\"\nxapi_fingerprint = \"sha256:00\"\n",
            ),
            [],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("either `xapi_ca_file` or `xapi_fingerprint`"),
            "{err}"
        );
    }
}
