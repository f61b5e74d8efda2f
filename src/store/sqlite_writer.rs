//! The SQLite connection batches are written on: a plain synchronous connection (rusqlite)
//! used from a blocking thread, so a whole batch — revision bump, every statement, commit —
//! is one hand-off instead of one per statement as through the async driver. It opens the same
//! file as the async pool with the same settings (WAL, the chosen `synchronous`, foreign keys).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::batch::{Arg, Stmt};
use super::{Result, SqliteSync, StoreError};

/// Statements kept prepared (every batch statement's SQL is one of a few dozen constants).
const STATEMENT_CACHE: usize = 64;

/// The batch writer's connection.
pub(crate) struct SqliteWriter {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteWriter {
    /// Opens `path` (already created and migrated by the async pool).
    pub(crate) fn open(path: &Path, sync: SqliteSync) -> Result<SqliteWriter> {
        let fail = |e: rusqlite::Error| {
            StoreError::Config(format!(
                "cannot open SQLite database {} for writing: {e}",
                path.display()
            ))
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        let synchronous = match sync {
            SqliteSync::Normal => "NORMAL",
            SqliteSync::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(fail)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteWriter {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Writes one batch, moving the revision `from` → `to` (the database must be at `from`).
    pub(crate) fn write(&self, from: i64, to: i64, stmts: &[Stmt]) -> Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        match run(&mut conn, from, to, stmts) {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::WriteFailed(format!(
                "SQLite database {}: its revision is no longer {}: another process writes this \
                 database; run one `xenpool serve` per SQLite file (PostgreSQL for several replicas)",
                self.path.display(),
                from
            ))),
            Err(e) => Err(StoreError::WriteFailed(format!(
                "SQLite database {}: {e}",
                self.path.display()
            ))),
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
