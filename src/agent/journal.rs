//! The agent's journal: a small local state file, replaced atomically, that lets a killed agent
//! resume instead of repeating or forgetting a step.
//!
//! It holds only what XAPI cannot tell: which step was started and when, the pool name xenpool
//! gave, when the last handover happened. Facts (membership, master, VM placement) are always
//! re-read from XAPI; the journal never substitutes for them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::planner::Step;

/// The file name inside the agent's `state_dir`.
pub const JOURNAL_FILE: &str = "journal.json";

/// A step that was started and not yet seen to complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// Seconds since the Unix epoch when it was first started.
    pub started_at: u64,
    /// How many times it has been attempted.
    pub attempts: u32,
}

/// Everything the journal remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct JournalState {
    /// The step in progress, if any.
    pub current: Option<StepRecord>,
    /// The pool name xenpool last gave this host's pool.
    pub named_pool: Option<String>,
    /// When (epoch seconds) this agent last handed the master role over.
    pub last_handover_at: Option<u64>,
    /// When (epoch seconds) this host's `pool.join` returned, until the master lists it enabled.
    pub joined_at: Option<u64>,
    /// The last control-plane revision fully reconciled.
    pub revision: u64,
    /// Where the VMs were when the maintenance operation in progress started.
    pub operation: Option<OperationStart>,
    /// The pool aggregate this host was last seen in, until it is ejected: only such a host
    /// leaves its XAPI pool when it is in no pool aggregate.
    pub pool_aggregate: Option<String>,
}

/// Where this host's VMs were when a maintenance operation started, so an agent restarted
/// mid-operation can name the VMs that moved before the kill but were never reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OperationStart {
    /// The operation's id.
    pub id: i64,
    /// uuids of the guests running on this host.
    pub on_host: Vec<String>,
    /// uuids of the guests whose home is this host but which were elsewhere (or halted for
    /// maintenance), with the host each was on.
    pub away: BTreeMap<String, Option<String>>,
}

/// The journal file and its last written state.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    state: JournalState,
}

/// Journal I/O failures, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file exists but does not parse.
    #[error("journal {path} is corrupt ({source}); move it aside to start afresh (XAPI is re-read either way)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl Journal {
    /// Opens the journal in `state_dir` (creating the directory), or starts an empty one.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| JournalError::Io { path, source }
        };
        fs::create_dir_all(state_dir).map_err(io_err(state_dir))?;
        let path = state_dir.join(JOURNAL_FILE);
        let state = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| JournalError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => JournalState::default(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(Journal { path, state })
    }

    /// The state as last written.
    pub fn state(&self) -> &JournalState {
        &self.state
    }

    /// Applies `change` and writes the result durably before returning: a temporary file is
    /// written and synced, renamed over the journal, and the directory synced, so a kill at
    /// any instant leaves either the old or the new state, never a torn file.
    pub fn update(&mut self, change: impl FnOnce(&mut JournalState)) -> Result<(), JournalError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next == self.state {
            return Ok(());
        }
        let io_err = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&next).expect("journal state always serializes");
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(io_err)?;
            file.write_all(&bytes).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        fs::rename(&tmp, &self.path).map_err(io_err)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        self.state = next;
        Ok(())
    }

    /// Records that `step` is starting (or being retried).
    pub fn begin(&mut self, step: &Step) -> Result<(), JournalError> {
        let now = now_epoch();
        self.update(|s| match &mut s.current {
            Some(record) if record.step == *step => record.attempts += 1,
            current => {
                *current = Some(StepRecord {
                    step: step.clone(),
                    started_at: now,
                    attempts: 1,
                })
            }
        })
    }

    /// Records that the step in progress is done.
    pub fn finish(&mut self) -> Result<(), JournalError> {
        self.update(|s| s.current = None)
    }
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_reopening_and_steps_count_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.state(), &JournalState::default());
        j.begin(&Step::Disable).unwrap();
        j.begin(&Step::Disable).unwrap();
        j.update(|s| s.named_pool = Some("pool1".into())).unwrap();
        drop(j);

        let mut j = Journal::open(dir.path()).unwrap();
        let current = j.state().current.clone().unwrap();
        assert_eq!((current.step, current.attempts), (Step::Disable, 2));
        assert_eq!(j.state().named_pool.as_deref(), Some("pool1"));
        j.begin(&Step::Enable).unwrap();
        assert_eq!(
            j.state().current.as_ref().unwrap().attempts,
            1,
            "a different step starts afresh"
        );
        j.finish().unwrap();
        assert_eq!(Journal::open(dir.path()).unwrap().state().current, None);
        assert!(
            !dir.path().join("journal.json.tmp").exists(),
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_corrupt_journal_is_named_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(JOURNAL_FILE), b"{ not json").unwrap();
        let err = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("journal.json is corrupt"), "{err}");
        assert!(err.contains("move it aside"), "{err}");
    }

    #[test]
    fn a_stale_temporary_file_from_a_kill_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.update(|s| s.revision = 7).unwrap();
        fs::write(dir.path().join("journal.json.tmp"), b"{ torn").unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.state().revision, 7);
        j.update(|s| s.revision = 8).unwrap();
        assert_eq!(Journal::open(dir.path()).unwrap().state().revision, 8);
    }
}
