//! Where the client verbs find the API: `--url/--token`, then `XENPOOL_URL`/`XENPOOL_TOKEN`
//! (clap reads both), then the config file (`--config`, default `~/.config/xenpool/cli.toml`).
//! Resolution only: no network I/O here. Errors name the missing setting and every way to set it.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use url::Url;

use super::error::ClientError;

/// Connection flags shared by every client verb.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Base URL of the xenpool API, e.g. http://127.0.0.1:8774.
    #[arg(long, env = "XENPOOL_URL", value_name = "URL")]
    pub url: Option<String>,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(
        long,
        env = "XENPOOL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Client config file (TOML with `url` and `token`); default ~/.config/xenpool/cli.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The optional client config file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    url: Option<String>,
    token: Option<String>,
}

/// An API token; its `Debug` and `Display` never show the value.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token text, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A resolved endpoint: where the API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL; API paths are appended to it.
    pub url: Url,
    /// Bearer token.
    pub token: Token,
}

/// The default config file path, `$XDG_CONFIG_HOME/xenpool/cli.toml` (usually ~/.config).
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("xenpool").join("cli.toml"))
}

impl ConnectionArgs {
    /// Merges flags/env with the config file and validates the result.
    pub fn resolve(&self) -> Result<Endpoint, ClientError> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None => match default_config_path() {
                Some(path) if path.exists() => read_config(&path)?,
                _ => ConfigFile::default(),
            },
        };
        let shown_path = self
            .config
            .clone()
            .or_else(default_config_path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/xenpool/cli.toml".into());
        let url_text = self.url.clone().or(file.url).ok_or_else(|| {
            ClientError::Usage(format!(
                "no API URL: pass --url URL, set XENPOOL_URL, or put url = \"http://HOST:PORT\" in {shown_path}"
            ))
        })?;
        let token = self.token.clone().or(file.token).ok_or_else(|| {
            ClientError::Usage(format!(
                "no API token: pass --token TOKEN, set XENPOOL_TOKEN, or put token = \"…\" in {shown_path} \
                 (an admin creates one with `xenpool token add`)"
            ))
        })?;
        if token.trim().is_empty() {
            return Err(ClientError::Usage(
                "the API token is empty: pass --token TOKEN or set XENPOOL_TOKEN".into(),
            ));
        }
        let url = Url::parse(&url_text).map_err(|e| {
            ClientError::Usage(format!(
                "API URL {url_text:?} is not a valid URL ({e}): use the form http://HOST:PORT"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ClientError::Usage(format!(
                "API URL {url_text:?} must start with http:// or https://"
            )));
        }
        Ok(Endpoint {
            url,
            token: Token(token),
        })
    }
}

fn read_config(path: &Path) -> Result<ConfigFile, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClientError::Usage(format!(
            "cannot read client config {}: {e} (create it, or drop --config)",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        ClientError::Usage(format!(
            "client config {} is not valid: {e}; expected keys: url, token",
            path.display()
        ))
    })
}
