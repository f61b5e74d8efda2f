//! API tokens: a TOML file of SHA-256 token hashes with a name and a role. The token itself is
//! printed once by `xenpool token add` and never stored, logged or echoed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read-only admin.
    Reader,
    /// An ordinary user (Nova's non-admin): may list availability zones.
    Member,
    /// A host's agent, bound to that host.
    Agent,
}

impl Role {
    /// The role's name as written in the tokens file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reader => "reader",
            Role::Member => "member",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "reader" => Ok(Role::Reader),
            "member" => Ok(Role::Member),
            "agent" => Ok(Role::Agent),
            _ => Err(format!(
                "unknown role {s:?}; use admin, reader, member or agent"
            )),
        }
    }
}

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's name (the actor recorded in events).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// For agents: the host it may act as.
    pub host: Option<String>,
}

/// One `[[token]]` entry of the tokens file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Name shown as the actor.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Bound host (agents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// Failure to read, check or write a tokens file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// I/O on the file.
    #[error("tokens file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("tokens file {path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The hex SHA-256 of a token, as stored in the tokens file.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn parse(path: &Path, text: &str) -> Result<TokenFile, TokenError> {
    let invalid = |message: String| TokenError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let file: TokenFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for t in &file.token {
        if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "token {:?}: sha256 must be 64 hex digits (create tokens with `xenpool token add`)",
                t.name
            )));
        }
        match (t.role, &t.host) {
            (Role::Agent, None) => {
                return Err(invalid(format!(
                    "token {:?}: role agent needs host = \"<host name>\"",
                    t.name
                )))
            }
            (Role::Agent, Some(_)) | (_, None) => {}
            (r, Some(_)) => {
                return Err(invalid(format!(
                    "token {:?}: only agent tokens are bound to a host, not {r} tokens",
                    t.name
                )))
            }
        }
        if !seen.insert(t.sha256.to_ascii_lowercase()) {
            return Err(invalid(format!(
                "token {:?}: the same token hash appears twice",
                t.name
            )));
        }
    }
    Ok(file)
}

type TokenMap = HashMap<String, Identity>;

fn index(file: &TokenFile) -> TokenMap {
    file.token
        .iter()
        .map(|t| {
            (
                t.sha256.to_ascii_lowercase(),
                Identity {
                    name: t.name.clone(),
                    role: t.role,
                    host: t.host.clone(),
                },
            )
        })
        .collect()
}

/// The tokens in force; reloadable from their file.
pub struct Tokens {
    path: Option<PathBuf>,
    map: RwLock<Arc<TokenMap>>,
}

impl Tokens {
    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let map = read_map(path)?;
        Ok(Tokens {
            path: Some(path.to_path_buf()),
            map: RwLock::new(Arc::new(map)),
        })
    }

    /// A fixed set (no file), e.g. for tests and the demo.
    pub fn from_entries(entries: Vec<TokenEntry>) -> Tokens {
        Tokens {
            path: None,
            map: RwLock::new(Arc::new(index(&TokenFile { token: entries }))),
        }
    }

    /// Re-reads the file; on error the previous tokens stay in force. Returns how many tokens
    /// are now loaded.
    pub fn reload(&self) -> Result<usize, TokenError> {
        let Some(path) = &self.path else {
            return Ok(self.snapshot().len());
        };
        let map = read_map(path)?;
        let n = map.len();
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(n)
    }

    /// Who holds `token`, if anyone.
    pub fn lookup(&self, token: &str) -> Option<Identity> {
        self.snapshot().get(&hash_token(token)).cloned()
    }

    fn snapshot(&self) -> Arc<TokenMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn read_map(path: &Path) -> Result<TokenMap, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(index(&parse(path, &text)?))
}

/// Generates a token for `name`, appends its hash to `path` (creating the file, mode 0600) and
/// returns the token, which exists nowhere else.
pub fn add_token(
    path: &Path,
    name: &str,
    role: Role,
    host: Option<&str>,
) -> Result<String, TokenError> {
    let invalid = |message: String| TokenError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(TokenError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut file = parse(path, &existing)?;
    if name.trim().is_empty() {
        return Err(invalid("the token name must not be empty".into()));
    }
    if file.token.iter().any(|t| t.name == name) {
        return Err(invalid(format!(
            "a token named {name:?} exists already; pick another --name"
        )));
    }
    match (role, host) {
        (Role::Agent, None) => return Err(invalid("role agent needs --host <host name>".into())),
        (Role::Agent, Some(_)) | (_, None) => {}
        (r, Some(_)) => {
            return Err(invalid(format!(
                "--host is only for agent tokens, not {r} tokens"
            )))
        }
    }
    let token = format!("xpt_{}", hex::encode(rand::random::<[u8; 32]>()));
    file.token.push(TokenEntry {
        name: name.to_string(),
        role,
        host: host.map(str::to_string),
        sha256: hash_token(&token),
    });
    let text = toml::to_string(&file).map_err(|e| invalid(e.to_string()))?;
    write_private(path, &text).map_err(|source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(token)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let tmp = path.with_extension("tmp");
    if let Some(d) = dir {
        std::fs::create_dir_all(d)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_token_is_found_by_its_hash_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let t = add_token(&path, "ops", Role::Admin, None).unwrap();
        let a = add_token(&path, "agent-h1", Role::Agent, Some("h1")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&t) && !text.contains(&a),
            "tokens must not be stored"
        );
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.lookup(&t).unwrap().role, Role::Admin);
        let agent = tokens.lookup(&a).unwrap();
        assert_eq!(
            (agent.role, agent.host.as_deref()),
            (Role::Agent, Some("h1"))
        );
        assert!(tokens.lookup("xpt_wrong").is_none());
    }

    #[test]
    fn bad_entries_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let e = add_token(&path, "a", Role::Agent, None).unwrap_err();
        assert!(e.to_string().contains("--host"), "{e}");
        add_token(&path, "a", Role::Reader, None).unwrap();
        let e = add_token(&path, "a", Role::Reader, None).unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
        std::fs::write(&path, "[[token]]\nname='x'\nrole='admin'\nsha256='abc'\n").unwrap();
        let e = Tokens::load(&path).err().unwrap();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }
}
