//! Agents as systemd runs them: per host a config file and 0600 secret files, and one
//! `xenpool agent` process (SIGKILLed when dropped). Used by the end-to-end tests and by the
//! `agent_scale` bench (which includes this file).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What an agent's installed configuration holds.
pub struct AgentSetup<'a> {
    /// The host's name.
    pub host: &'a str,
    /// The control plane's URL.
    pub control_url: &'a str,
    /// The host's `agent` token.
    pub token: &'a str,
    /// The host's XAPI URL.
    pub xapi_url: &'a str,
    /// XAPI user.
    pub xapi_username: &'a str,
    /// XAPI password.
    pub xapi_password: &'a str,
    /// Journal directory.
    pub state_dir: &'a Path,
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// Writes `agent.toml`, `token` and `xapi-password` (0600) into `dir`; returns the config file.
pub fn install(dir: &Path, s: &AgentSetup<'_>) -> PathBuf {
    std::fs::create_dir_all(dir).expect("agent dir");
    let (token, password) = (dir.join("token"), dir.join("xapi-password"));
    write_private(&token, s.token);
    write_private(&password, s.xapi_password);
    let file = dir.join("agent.toml");
    let toml = format!(
        "host = {:?}\ncontrol_url = {:?}\ntoken_file = {token:?}\nxapi_url = {:?}\n\
         xapi_username = {:?}\nxapi_password_file = {password:?}\nstate_dir = {:?}\n",
        s.host, s.control_url, s.xapi_url, s.xapi_username, s.state_dir,
    );
    std::fs::write(&file, toml).expect("write agent config");
    file
}

/// A running `xenpool agent` process.
pub struct AgentProcess {
    /// The host it runs for.
    pub host: String,
    child: Child,
}

impl AgentProcess {
    /// Starts `xenpool agent --config CONFIG`, appending its log (at `rust_log`) to `log`.
    pub fn spawn(host: &str, config: &Path, log: &Path, rust_log: &str) -> AgentProcess {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_xenpool"))
            .args(["agent", "--config"])
            .arg(config)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start xenpool agent");
        AgentProcess {
            host: host.to_owned(),
            child,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the agent");
        self.child.wait().expect("reap the agent");
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
