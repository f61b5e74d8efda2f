//! The batched writer (group commit) for aggregate changes.
//!
//! A change is a closure judged against the committed [`Snapshot`] in memory: it either refuses
//! (nothing is written) or edits its own copy of the state and lists the statements that persist
//! the edit. Changes that arrive while a batch is being written queue up and are written
//! together in the next batch: one transaction and one commit, each change still with its own
//! revision in order — so a burst of writers costs one commit, not one each, and none of them
//! waits on a round trip to the database per check. The batch keeps the writer's turn ([`Store::write`]'s rule) while it
//! runs, so the usual [`WriteTx`](super::WriteTx) writers and batches take turns.
//!
//! On SQLite the batch runs synchronously on one connection ([`sqlite_writer`]) — in place, as
//! a commit only appends to the WAL, or on a blocking thread when `synchronous = FULL` makes
//! each commit wait for an fsync; on PostgreSQL it
//! bumps the revision first (the row lock that serializes replicas), reloads the snapshot if
//! another replica committed since, then judges the changes and runs their statements.
//!
//! A batch runs in its own task, so a caller that goes away (a client hanging up) cannot leave
//! the others' changes half written.
//!
//! [`sqlite_writer`]: super::sqlite_writer

use std::sync::Arc;

use tokio::sync::oneshot;

use super::changes::Touch;
use super::snapshot::Snapshot;
use super::{Backend, Micros, NewEvent, Result, Store, StoreError};

/// Most changes written in one batch (bounds a batch's latency).
const MAX_BATCH: usize = 256;

/// A statement argument.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
    /// A NULL string.
    NullText,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        v.map_or(Arg::NullText, Arg::from)
    }
}

/// One statement of a batch; parameters are `$1`, `$2`, … as in the rest of the store.
#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    /// The SQL, valid on both engines.
    pub(crate) sql: &'static str,
    /// Its arguments, `$n` being `args[n - 1]`.
    pub(crate) args: Vec<Arg>,
}

/// What a batch writes: the statements, and what each revision's events name (for the
/// change log scoped watchers read).
#[derive(Default)]
pub(crate) struct Batch {
    stmts: Vec<Stmt>,
    touched: Vec<(i64, Touch)>,
}

/// What a change sees and edits: its own copy of the state, and the statements it adds.
pub(crate) struct Draft<'a> {
    /// The state, as committed plus the earlier changes of this batch.
    pub(crate) state: &'a mut Snapshot,
    /// The revision this change commits as (each change of a batch has its own).
    pub(crate) revision: i64,
    /// The batch's timestamp.
    pub(crate) now: Micros,
    actor: &'a str,
    batch: &'a mut Batch,
}

impl Draft<'_> {
    /// Adds a statement.
    pub(crate) fn exec(&mut self, sql: &'static str, args: Vec<Arg>) {
        self.batch.stmts.push(Stmt { sql, args });
    }

    /// Adds an event stamped with this change's revision and actor and the batch's time.
    pub(crate) fn event(&mut self, ev: NewEvent<'_>) {
        self.batch.touched.push((
            self.revision,
            Touch {
                kind: ev.kind.to_owned(),
                aggregate: ev.aggregate.map(str::to_owned),
                host: ev.host.map(str::to_owned),
            },
        ));
        let details = ev.details.to_string();
        let args = vec![
            Arg::Int(self.now),
            Arg::Int(self.revision),
            self.actor.into(),
            ev.kind.into(),
            ev.aggregate.into(),
            ev.host.into(),
            ev.message.into(),
            details.into(),
        ];
        self.exec(EVENT_SQL, args);
    }
}

/// A queued change with its caller's answer slot, type erased.
trait Change: Send {
    /// Judges the change against `state`; on success `state` includes it and `batch` its
    /// statements. The outcome is kept for [`Change::finish`]. May run more than once (a
    /// PostgreSQL batch that finds its snapshot stale judges again).
    fn judge(&mut self, state: &mut Snapshot, revision: i64, now: Micros, batch: &mut Batch);

    /// Answers the caller; `failed` is the batch's write failure, if any (it concerns only a
    /// change that had something to write).
    fn finish(self: Box<Self>, failed: Option<&str>);
}

struct Job<T, F> {
    actor: String,
    f: F,
    outcome: Option<Result<T>>,
    /// Whether the last judgement added statements.
    wrote: bool,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Change for Job<T, F>
where
    T: Send,
    F: FnMut(&mut Draft<'_>) -> Result<T> + Send,
{
    fn judge(&mut self, state: &mut Snapshot, revision: i64, now: Micros, batch: &mut Batch) {
        let mut work = state.clone();
        let mark = (batch.stmts.len(), batch.touched.len());
        let mut draft = Draft {
            state: &mut work,
            revision,
            now,
            actor: &self.actor,
            batch,
        };
        let outcome = (self.f)(&mut draft).and_then(|t| {
            refuse_nul(&batch.stmts[mark.0..])?;
            Ok(t)
        });
        if outcome.is_ok() {
            *state = work;
        } else {
            batch.stmts.truncate(mark.0);
            batch.touched.truncate(mark.1);
        }
        self.wrote = batch.stmts.len() > mark.0;
        self.outcome = Some(outcome);
    }

    fn finish(self: Box<Self>, failed: Option<&str>) {
        let failed = failed.filter(|_| self.wrote);
        let answer = match (self.outcome, failed) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(msg)) => Err(StoreError::WriteFailed(msg.to_string())),
            (Some(ok), None) => ok,
            (None, None) => Err(StoreError::WriteFailed(
                "the change was never judged".into(),
            )),
        };
        let _ = self.reply.send(answer);
    }
}

/// Changes waiting for the next batch.
#[derive(Default)]
pub(crate) struct Queue {
    waiting: std::sync::Mutex<Vec<Box<dyn Change>>>,
}

impl Queue {
    fn push(&self, c: Box<dyn Change>) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(c);
    }

    fn is_empty(&self) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    fn take(&self) -> Vec<Box<dyn Change>> {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let n = w.len().min(MAX_BATCH);
        w.drain(..n).collect()
    }
}

impl Store {
    /// Applies the change `f` as `actor` in the next batch and returns what it returned.
    /// `f` must only edit the draft after its checks pass; a refusal writes nothing.
    pub(crate) async fn change<T, F>(&self, actor: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Draft<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.inner.queue.push(Box::new(Job {
            actor: actor.to_string(),
            f,
            outcome: None,
            wrote: false,
            reply,
        }));
        let store = self.clone();
        tokio::spawn(async move {
            let turn = store.inner.writer.clone().lock_owned().await;
            // An earlier batch may have taken this change already: then there is nothing to do.
            if !store.inner.queue.is_empty() {
                // Other ready tasks (requests about to queue their changes) get one scheduling
                // round, so they share this commit instead of each paying for one.
                tokio::task::yield_now().await;
                let changes = store.inner.queue.take();
                store.write_batch(changes).await;
            }
            drop(turn);
        });
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::WriteFailed("the writer stopped".into())))
    }

    /// Judges and writes `changes` as one transaction, then answers each. If the transaction
    /// fails, each change is tried again on its own, so one change the database refuses cannot
    /// fail the others.
    async fn write_batch(&self, mut changes: Vec<Box<dyn Change>>) {
        metrics::counter!("xenpool_store_batches_total").increment(1);
        metrics::counter!("xenpool_store_batched_changes_total").increment(changes.len() as u64);
        let written = self.write_changes(&mut changes).await;
        if written.is_err() && changes.len() > 1 {
            tracing::warn!(
                changes = changes.len(),
                "batched write failed; writing its changes one by one"
            );
            for c in changes {
                let mut one = vec![c];
                let written = self.write_changes(&mut one).await;
                self.settle(written, one);
            }
            return;
        }
        self.settle(written, changes);
    }

    async fn write_changes(&self, changes: &mut [Box<dyn Change>]) -> Result<Written> {
        match self.inner.backend {
            Backend::Sqlite => self.write_batch_sqlite(changes).await,
            Backend::Postgres => self.write_batch_postgres(changes).await,
        }
    }

    /// Installs what a batch wrote (snapshot, change log, revision) and answers its changes.
    fn settle(&self, written: Result<Written>, changes: Vec<Box<dyn Change>>) {
        let failed = match written {
            Ok(Some((state, touched))) => {
                let revision = state.revision;
                self.snapshots().offer(Arc::new(state));
                let mut touched = touched.into_iter().peekable();
                while let Some((rev, first)) = touched.next() {
                    let mut of_rev = vec![first];
                    while let Some((_, t)) = touched.next_if(|(r, _)| *r == rev) {
                        of_rev.push(t);
                    }
                    self.inner.changes.record(rev, of_rev);
                }
                self.publish(revision);
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "batched write failed");
                Some(e.to_string())
            }
        };
        for c in changes {
            c.finish(failed.as_deref());
        }
    }

    /// SQLite: this process is the only writer, so the snapshot at the published revision is
    /// the database's state; judge against it, then run everything on the writer connection.
    ///
    /// A commit whose publication was lost (its writer's future dropped mid-commit) shows as
    /// the database being ahead: the revision is then re-read and the batch judged again once.
    async fn write_batch_sqlite(&self, changes: &mut [Box<dyn Change>]) -> Result<Written> {
        let writer = self.inner.sqlite_writer.clone().ok_or_else(|| {
            StoreError::WriteFailed("the SQLite writer connection is not open".into())
        })?;
        for attempt in 0..2 {
            let now = super::now_micros();
            let base = self.snapshot().await?;
            let mut state = Snapshot::clone(&base);
            let Batch { stmts, touched } = judge_all(changes, &mut state, now);
            if stmts.is_empty() {
                return Ok(None);
            }
            let (from, to) = (base.revision, state.revision);
            let w = writer.clone();
            let wrote = if writer.commits_wait_for_disk() {
                tokio::task::spawn_blocking(move || w.write(from, to, &stmts))
                    .await
                    .map_err(|e| {
                        StoreError::WriteFailed(format!("the SQLite writer stopped: {e}"))
                    })??
            } else {
                // A commit only appends to the WAL (see sqlite_writer): a short call, run in
                // place.
                w.write(from, to, &stmts)?
            };
            if wrote {
                return Ok(Some((state, touched)));
            }
            if attempt == 0 {
                self.refresh_revision().await?;
            }
        }
        Err(StoreError::WriteFailed(format!(
            "SQLite database {}: its revision moved under this process twice: another process \
             writes this database; run one `xenpool serve` per SQLite file (PostgreSQL for \
             several replicas)",
            writer.path().display()
        )))
    }

    /// PostgreSQL: first optimistically in one round trip against the snapshot this replica
    /// holds; if another replica (or a non-aggregate write) moved the revision since, under the
    /// row lock with the snapshot reloaded.
    async fn write_batch_postgres(&self, changes: &mut [Box<dyn Change>]) -> Result<Written> {
        if let Some(base) = self.snapshots().at(self.known_revision()) {
            if let Some(written) = self.write_batch_postgres_at(&base, changes).await? {
                return Ok(written);
            }
            tracing::debug!(
                revision = base.revision,
                "the revision moved under this replica; writing under the row lock"
            );
        }
        self.write_batch_postgres_locked(changes).await
    }

    /// One round trip: the batch judged against `base`, sent as one script (one implicit
    /// transaction) whose first statement moves the revision from `base`'s to the batch's last
    /// and fails with `division_by_zero` when the revision is no longer `base`'s, which rolls
    /// the whole script back. `None` when it did (nothing written), and when the batch writes
    /// nothing: its refusals must be judged against the current state, which only the locked
    /// path knows (`base` may lag another replica's commit).
    async fn write_batch_postgres_at(
        &self,
        base: &Snapshot,
        changes: &mut [Box<dyn Change>],
    ) -> Result<Option<Written>> {
        let now = super::now_micros();
        let mut state = base.clone();
        let first_new_id = state.next_aggregate_id;
        let Batch { stmts, touched } = judge_all(changes, &mut state, now);
        if stmts.is_empty() {
            return Ok(None);
        }
        let mut script = format!(
            "WITH moved AS (UPDATE meta SET revision = {} WHERE id = 1 AND revision = {} \
             RETURNING 1) SELECT 1 / (SELECT count(*)::int FROM moved) AS revision_guard",
            state.revision, base.revision
        );
        append_script(&mut script, &stmts, &state, first_new_id)?;
        match sqlx::Executor::execute(self.pool(), sqlx::raw_sql(&script)).await {
            Ok(_) => Ok(Some(Some((state, touched)))),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(DIVISION_BY_ZERO) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Under the row lock: the revision bump takes the lock every replica's writers queue on;
    /// a snapshot older than the revision before it is reloaded inside the transaction.
    async fn write_batch_postgres_locked(
        &self,
        changes: &mut [Box<dyn Change>],
    ) -> Result<Written> {
        let mut tx = self.pool().begin().await?;
        let revision: i64 = sqlx::query_scalar(
            "UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        // After the lock: no earlier commit can carry a later time.
        let now = super::now_micros();
        let base = match self.snapshots().at(revision - 1) {
            Some(s) => s,
            None => Arc::new(Snapshot::load(&mut tx, Backend::Postgres, revision - 1).await?),
        };
        let mut state = Snapshot::clone(&base);
        let first_new_id = state.next_aggregate_id;
        let Batch { stmts, touched } = judge_all(changes, &mut state, now);
        if stmts.is_empty() {
            tx.rollback().await?;
            // The database is at `revision - 1` and `base` is its state: later batches start
            // from it instead of finding the revision moved again.
            self.publish(revision - 1);
            self.snapshots().offer(base);
            return Ok(None);
        }
        let mut script = String::new();
        append_script(&mut script, &stmts, &state, first_new_id)?;
        if state.revision > revision {
            script.push_str(&format!(
                ";\nUPDATE meta SET revision = {} WHERE id = 1",
                state.revision
            ));
        }
        let conn: &mut sqlx::AnyConnection = &mut tx;
        sqlx::Executor::execute(conn, sqlx::raw_sql(&script)).await?;
        tx.commit().await?;
        Ok(Some((state, touched)))
    }
}

/// The statement [`Draft::event`] adds.
const EVENT_SQL: &str =
    "INSERT INTO events (at, revision, actor, kind, aggregate, host, message, details) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// SQLSTATE of `division_by_zero`, the optimistic batch's revision guard.
const DIVISION_BY_ZERO: &str = "22012";

/// Appends `stmts` to `script` as one simple-query script (statements separated by `;`,
/// arguments written as literals), and, when the batch gave aggregates explicit ids (from
/// `first_new_id` on), the statement keeping the identity sequence ahead of them.
///
/// PostgreSQL parses and plans every statement of a script, which is most of a batch's cost,
/// so the script has as few as the batch allows: the events (append-only, referenced by
/// nothing the batch writes) go last, and consecutive plain single-row `INSERT`s into one table
/// become one multi-row `INSERT`, which inserts the same rows in the same order.
fn append_script(
    script: &mut String,
    stmts: &[Stmt],
    state: &Snapshot,
    first_new_id: i64,
) -> Result<()> {
    let (events, others): (Vec<&Stmt>, Vec<&Stmt>) = stmts.iter().partition(|s| s.sql == EVENT_SQL);
    let mut open: Option<&str> = None;
    for s in others.into_iter().chain(events) {
        match insert_values(s.sql) {
            Some((head, row)) if open == Some(head) => {
                script.push_str(", ");
                script.push_str(&with_literals(row, &s.args)?);
            }
            Some((head, row)) => {
                next_statement(script);
                script.push_str(head);
                script.push_str(" VALUES ");
                script.push_str(&with_literals(row, &s.args)?);
                open = Some(head);
            }
            None => {
                next_statement(script);
                script.push_str(&with_literals(s.sql, &s.args)?);
                open = None;
            }
        }
    }
    if state.next_aggregate_id > first_new_id {
        script.push_str(&format!(
            ";\nSELECT setval(pg_get_serial_sequence('aggregates', 'id'), {})",
            state.next_aggregate_id - 1
        ));
    }
    Ok(())
}

fn next_statement(script: &mut String) {
    if !script.is_empty() {
        script.push_str(";\n");
    }
}

/// A plain single-row insert split into `INSERT INTO t (cols)` and its `(values)`; `None` for
/// anything else (upserts, `RETURNING`, other statements), which is never merged.
fn insert_values(sql: &str) -> Option<(&str, &str)> {
    let (head, row) = sql.split_once(" VALUES ")?;
    let plain = head.starts_with("INSERT INTO ")
        && row.starts_with('(')
        && row.ends_with(')')
        && !row.contains(" ON CONFLICT ")
        && !row.contains(" RETURNING ")
        && !row.contains(" VALUES ");
    plain.then_some((head, row))
}

/// Judges `changes` in order against `state` (at the revision before the batch); each change
/// that writes something gets the next revision. Returns what to write; `state.revision` ends
/// at the last change's revision.
fn judge_all(changes: &mut [Box<dyn Change>], state: &mut Snapshot, now: Micros) -> Batch {
    let mut batch = Batch::default();
    for c in changes.iter_mut() {
        let before = batch.stmts.len();
        let revision = state.revision + 1;
        c.judge(state, revision, now, &mut batch);
        if batch.stmts.len() > before {
            state.revision = revision;
        }
    }
    batch
}

/// What a batch wrote: the state after it and what each revision's events name.
type Written = Option<(Snapshot, Vec<(i64, Touch)>)>;

/// Refuses a text argument holding NUL, which no database text value may hold.
fn refuse_nul(stmts: &[Stmt]) -> Result<()> {
    let nul = stmts
        .iter()
        .flat_map(|s| &s.args)
        .any(|a| matches!(a, Arg::Text(t) if t.contains('\0')));
    if nul {
        return Err(nul_refused());
    }
    Ok(())
}

fn nul_refused() -> StoreError {
    StoreError::invalid(
        "text",
        "a value contains a NUL character, which the database cannot store; remove it",
    )
}

/// `s` with each `$n` replaced by its argument as a PostgreSQL literal: strings as escape
/// strings (`E'…'`, backslashes and quotes doubled), which read the same whatever
/// `standard_conforming_strings` is; negative numbers in parentheses, so no operator or comment
/// can form with the SQL around them. NUL is refused (see [`refuse_nul`]).
fn with_literals(sql: &str, args: &[Arg]) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
            chars.next();
        }
        let arg = n.checked_sub(1).and_then(|i| args.get(i)).ok_or_else(|| {
            StoreError::WriteFailed(format!("statement has no argument ${n}: {sql}"))
        })?;
        match arg {
            Arg::Int(v) if *v < 0 => out.push_str(&format!("({v})")),
            Arg::Int(v) => out.push_str(&v.to_string()),
            Arg::NullText => out.push_str("NULL"),
            Arg::Text(v) if v.contains('\0') => return Err(nul_refused()),
            Arg::Text(v) => {
                out.push_str("E'");
                out.push_str(&v.replace('\\', "\\\\").replace('\'', "''"));
                out.push('\'');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(sql: &'static str, args: Vec<Arg>) -> Stmt {
        Stmt { sql, args }
    }

    #[test]
    fn literals_replace_every_placeholder_by_number() {
        let args = (1..=11).map(Arg::Int).collect();
        let s = stmt("SELECT $1, $11, $10, $1", args);
        assert_eq!(
            with_literals(s.sql, &s.args).unwrap(),
            "SELECT 1, 11, 10, 1"
        );
    }

    #[test]
    fn text_literals_are_escape_strings_with_quotes_and_backslashes_doubled() {
        let s = stmt(
            "INSERT INTO t VALUES ($1, $2, $3)",
            vec![
                Arg::Text(r"it's a \' trap; DROP TABLE t; --".into()),
                Arg::NullText,
                Arg::Int(-5),
            ],
        );
        assert_eq!(
            with_literals(s.sql, &s.args).unwrap(),
            r"INSERT INTO t VALUES (E'it''s a \\'' trap; DROP TABLE t; --', NULL, (-5))"
        );
    }

    #[test]
    fn a_script_merges_consecutive_plain_inserts_and_sends_the_events_last() {
        let agg = "INSERT INTO aggregates (id, name) VALUES ($1, $2)";
        let upsert = "INSERT INTO aggregate_metadata (aggregate_id, key) VALUES ($1, $2) \
                      ON CONFLICT (aggregate_id, key) DO NOTHING";
        let event = |n: i64| {
            let mut args: Vec<Arg> = (0..8).map(|_| Arg::NullText).collect();
            args[0] = Arg::Int(n);
            stmt(EVENT_SQL, args)
        };
        let stmts = vec![
            stmt(agg, vec![Arg::Int(1), "a".into()]),
            event(1),
            stmt(agg, vec![Arg::Int(2), "b".into()]),
            event(2),
            stmt(upsert, vec![Arg::Int(1), "k".into()]),
            stmt(upsert, vec![Arg::Int(2), "k".into()]),
            stmt(agg, vec![Arg::Int(3), "c".into()]),
            event(3),
        ];
        let mut script = String::new();
        let state = Snapshot::default();
        append_script(&mut script, &stmts, &state, state.next_aggregate_id).unwrap();
        let lines: Vec<&str> = script.split(";\n").collect();
        let nulls = "NULL, NULL, NULL, NULL, NULL, NULL, NULL";
        assert_eq!(
            lines,
            [
                "INSERT INTO aggregates (id, name) VALUES (1, E'a'), (2, E'b')".to_owned(),
                "INSERT INTO aggregate_metadata (aggregate_id, key) VALUES (1, E'k') ON CONFLICT (aggregate_id, key) DO NOTHING".to_owned(),
                "INSERT INTO aggregate_metadata (aggregate_id, key) VALUES (2, E'k') ON CONFLICT (aggregate_id, key) DO NOTHING".to_owned(),
                "INSERT INTO aggregates (id, name) VALUES (3, E'c')".to_owned(),
                format!(
                    "INSERT INTO events (at, revision, actor, kind, aggregate, host, message, details) \
                     VALUES (1, {nulls}), (2, {nulls}), (3, {nulls})"
                ),
            ]
        );
    }

    #[test]
    fn nul_and_missing_arguments_are_refused() {
        let nul = stmt("SELECT $1", vec![Arg::Text("a\0b".into())]);
        assert!(matches!(
            with_literals(nul.sql, &nul.args),
            Err(StoreError::Invalid { .. })
        ));
        let missing = stmt("SELECT $2", vec![Arg::Int(1)]);
        assert!(matches!(
            with_literals(missing.sql, &missing.args),
            Err(StoreError::WriteFailed(_))
        ));
    }
}
