//! The SQLite connection batches are written on: a plain synchronous connection (rusqlite), so
//! a whole batch — revision bump, every statement, commit — is one call instead of one
//! hand-off to the async driver's thread per statement. It opens the same file as the async
//! pool with the same settings (WAL, the chosen `synchronous`, foreign keys).
//!
//! Commits never wait for the disk under `synchronous = NORMAL`: they append to the WAL, and
//! the fsyncs happen at checkpoints. Checkpoints are therefore taken off the write path: the
//! writer's connection does not checkpoint automatically, and a checkpointer thread with its
//! own connection runs a passive checkpoint (which never blocks writers or readers) shortly
//! after writes, so the WAL stays small and no commit stalls behind an fsync.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::batch::{Arg, Stmt};
use super::{Result, SqliteSync, StoreError};

/// Statements kept prepared (every batch statement's SQL is one of a few dozen constants).
const STATEMENT_CACHE: usize = 64;

/// How soon after a write the checkpointer copies the WAL into the database.
const CHECKPOINT_AFTER: Duration = Duration::from_millis(200);

/// The batch writer's connection.
pub(crate) struct SqliteWriter {
    conn: Mutex<Connection>,
    path: PathBuf,
    sync: SqliteSync,
    /// Set by every write, cleared by the checkpointer.
    dirty: Arc<AtomicBool>,
    /// Dropping it stops the checkpointer.
    _checkpointer: mpsc::Sender<()>,
}

impl SqliteWriter {
    /// Opens `path` (already created and migrated by the async pool) and starts its
    /// checkpointer.
    pub(crate) fn open(path: &Path, sync: SqliteSync) -> Result<SqliteWriter> {
        let conn = connect(path, sync)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| open_failed(path, e))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpoints = connect(path, sync)?;
        let dirty = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel();
        let (flag, file) = (dirty.clone(), path.to_path_buf());
        std::thread::Builder::new()
            .name("xenpool-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoints, &flag, &stopped, &file))
            .map_err(|e| {
                StoreError::Config(format!("cannot start the SQLite checkpointer thread: {e}"))
            })?;
        Ok(SqliteWriter {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            sync,
            dirty,
            _checkpointer: stop,
        })
    }

    /// Whether a commit waits for the disk (`synchronous = FULL`): then a batch belongs on a
    /// blocking thread, not on the async runtime.
    pub(crate) fn commits_wait_for_disk(&self) -> bool {
        self.sync == SqliteSync::Full
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one batch, moving the revision `from` → `to`; `false` (nothing written) if the
    /// database is not at `from`.
    pub(crate) fn write(&self, from: i64, to: i64, stmts: &[Stmt]) -> Result<bool> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let wrote = run(&mut conn, from, to, stmts).map_err(|e| {
            StoreError::WriteFailed(format!("SQLite database {}: {e}", self.path.display()))
        })?;
        if wrote {
            self.dirty.store(true, Ordering::Release);
        }
        Ok(wrote)
    }
}

fn open_failed(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Config(format!(
        "cannot open SQLite database {} for writing: {e}",
        path.display()
    ))
}

/// A connection to `path` with the store's settings.
fn connect(path: &Path, sync: SqliteSync) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| open_failed(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| open_failed(path, e))?;
    let synchronous = match sync {
        SqliteSync::Normal => "NORMAL",
        SqliteSync::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(|e| open_failed(path, e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| open_failed(path, e))?;
    Ok(conn)
}

/// Runs a passive checkpoint shortly after writes until the writer is dropped.
fn checkpoint_loop(conn: &Connection, dirty: &AtomicBool, stop: &mpsc::Receiver<()>, path: &Path) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_AFTER) {
        if !dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        if let Err(e) = done {
            tracing::warn!(database = %path.display(), error = %e, "SQLite checkpoint failed; retrying after the next write");
        }
    }
}

/// Runs the batch in one transaction; `false` (nothing written) if the revision moved.
fn run(conn: &mut Connection, from: i64, to: i64, stmts: &[Stmt]) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let bumped = tx.execute(
        "UPDATE meta SET revision = ?1 WHERE id = 1 AND revision = ?2",
        (to, from),
    )?;
    if bumped != 1 {
        return Ok(false);
    }
    for s in stmts {
        let mut st = tx.prepare_cached(s.sql)?;
        for i in 1..=st.parameter_count() {
            let arg = st
                .parameter_name(i)
                .and_then(|n| n.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| s.args.get(n.wrapping_sub(1)))
                .ok_or_else(|| rusqlite::Error::InvalidParameterCount(i, s.args.len()))?;
            match arg {
                Arg::Int(v) => st.raw_bind_parameter(i, v)?,
                Arg::Text(v) => st.raw_bind_parameter(i, v)?,
                Arg::NullText => st.raw_bind_parameter(i, rusqlite::types::Null)?,
            }
        }
        st.raw_execute()?;
    }
    tx.commit().map(|()| true)
}
