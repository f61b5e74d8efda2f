//! The control plane's persistence: one schema on SQLite (default, a file in the data directory,
//! WAL) or PostgreSQL (`postgres://…`, shared by several replicas), migrations applied at open.
//!
//! Concurrency rule: every write bumps the single revision row first, and writers take turns.
//! Aggregate changes (create, update, metadata, membership, agent reports) are judged in memory
//! against the committed snapshot and written in batches by [`batch`]; the other writes (hosts,
//! operations, leases, events) run in a [`WriteTx`]. On PostgreSQL (READ COMMITTED) the revision
//! row lock makes writers of every replica take turns, and every later statement of the
//! transaction sees everything committed before the lock was granted, so a check-then-insert
//! cannot lose an update and never needs a retry loop; revisions also commit in order, which the
//! watch feed relies on. On SQLite the same is had with `BEGIN IMMEDIATE` (the database's single
//! writer) plus an in-process mutex (the writer's turn, shared by batches and `WriteTx`) so
//! waiting writers queue on a tokio lock instead of SQLite's sleeping busy handler. Reads run in
//! their own snapshot (or from the in-memory one) and never wait for writers.
//!
//! Knows nothing of HTTP: the API layers turn [`StoreError`]s into their wire errors.

mod aggregates;
mod batch;
mod changes;
mod error;
mod events;
mod hosts;
mod leases;
mod model;
mod operations;
mod report;
mod snapshot;
mod sqlite_writer;
mod time;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{watch, Mutex, MutexGuard};

pub use aggregates::ZoneRules;
pub use changes::WatchScope;
pub use error::StoreError;
pub use hosts::HostPatch;
pub use model::*;
pub use report::POOL_KEY;
pub use snapshot::AggregateView;
pub use time::{now_micros, Micros};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Reads the committed revision.
const REVISION_SQL: &str = "SELECT revision FROM meta WHERE id = 1";

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (one replica).
    Sqlite,
    /// PostgreSQL server (any number of replicas).
    Postgres,
}

/// How SQLite makes a commit durable (PostgreSQL is unaffected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// WAL with `synchronous = NORMAL`: fsync at checkpoints, not per commit. Never corrupts and
    /// loses nothing when the process dies; an OS crash or power cut may lose the last commits.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is on disk before it is acknowledged (one fsync each).
    Full,
}

/// Handle to the control plane's database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    /// The writer's turn (SQLite writers and every batch take it; see the module doc).
    writer: Arc<Mutex<()>>,
    revision: watch::Sender<i64>,
    changes: changes::ChangeLog,
    snapshot: snapshot::SnapshotCache,
    queue: batch::Queue,
    /// SQLite only: the connection batches are written on.
    sqlite_writer: Option<Arc<sqlite_writer::SqliteWriter>>,
}

impl Store {
    /// Opens (creating it if needed) the database at `url` and applies the migrations.
    /// `url` is `sqlite://PATH` or `postgres://…`; `sync` is SQLite's commit durability.
    pub async fn open(url: &str, max_connections: u32, sync: SqliteSync) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "database URL must start with sqlite:// or postgres://, got {:?}",
                redact_url(url)
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Config(format!("database URL {:?}: {e}", redact_url(&url))))?;
        let pragma = match sync {
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
            SqliteSync::Full => "PRAGMA synchronous = FULL",
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query(pragma).execute(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect {
                url: redact_url(&url),
                source: e,
            })?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        let rev: i64 = sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        let sqlite_writer = match backend {
            Backend::Sqlite if url.contains(":memory:") || url.contains("mode=memory") => {
                return Err(StoreError::Config(format!(
                    "database URL {:?}: an in-memory SQLite database cannot be shared with the \
                     batch writer's connection; give a file path (sqlite://PATH)",
                    redact_url(&url)
                )))
            }
            Backend::Sqlite => {
                let file = url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .map_err(|e| {
                        StoreError::Config(format!("database URL {:?}: {e}", redact_url(&url)))
                    })?;
                Some(Arc::new(sqlite_writer::SqliteWriter::open(
                    file.get_filename(),
                    sync,
                )?))
            }
            Backend::Postgres => None,
        };
        let (revision, _) = watch::channel(rev);
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                writer: Arc::new(Mutex::new(())),
                revision,
                changes: changes::ChangeLog::default(),
                snapshot: snapshot::SnapshotCache::default(),
                queue: batch::Queue::default(),
                sqlite_writer,
            }),
        })
    }

    /// The SQLite URL of the default database inside `data_dir` (the directory is created).
    pub fn sqlite_url_in(data_dir: &Path) -> Result<String> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        Ok(format!(
            "sqlite://{}",
            data_dir.join("xenpool.sqlite3").display()
        ))
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The connection pool's size and idle count, for metrics.
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.inner.pool.size(), self.inner.pool.num_idle())
    }

    /// Reads the revision from the database, publishes it to local watchers and returns it.
    /// Polling this is how a replica notices commits made by other replicas.
    pub async fn refresh_revision(&self) -> Result<i64> {
        let rev: i64 = sqlx::query_scalar(REVISION_SQL)
            .fetch_one(&self.inner.pool)
            .await?;
        self.publish(rev);
        Ok(rev)
    }

    /// The latest revision this replica knows of (from its own commits and polling).
    pub fn known_revision(&self) -> i64 {
        *self.inner.revision.borrow()
    }

    /// Whether a revision in `(since, upto]` can alter the desired state of `scope` (see
    /// [`WatchScope`]); revisions this replica did not commit itself count as changes.
    pub fn touches(&self, since: i64, upto: i64, scope: &WatchScope) -> bool {
        self.inner.changes.touches(since, upto, scope)
    }

    /// Subscribes to revision changes seen by this replica.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.revision.subscribe()
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    fn publish(&self, rev: i64) {
        self.inner.revision.send_if_modified(|cur| {
            if rev > *cur {
                *cur = rev;
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn snapshots(&self) -> &snapshot::SnapshotCache {
        &self.inner.snapshot
    }

    /// The committed aggregate state at the current revision: from memory when it is current
    /// (on SQLite this process's published revision is the database's; on PostgreSQL the
    /// revision is read first), else loaded in one read transaction and kept.
    pub(crate) async fn snapshot(&self) -> Result<Arc<snapshot::Snapshot>> {
        let current = match self.inner.backend {
            Backend::Sqlite => self.known_revision(),
            Backend::Postgres => self.refresh_revision().await?,
        };
        if let Some(s) = self.snapshots().at(current) {
            return Ok(s);
        }
        let mut tx = self.read().await?;
        let revision: i64 = sqlx::query_scalar(REVISION_SQL).fetch_one(&mut *tx).await?;
        let snap = Arc::new(snapshot::Snapshot::load(&mut tx, self.inner.backend, revision).await?);
        tx.commit().await?;
        self.publish(revision);
        self.snapshots().offer(snap.clone());
        Ok(snap)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// A read-only transaction: one consistent snapshot for several statements.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin().await?,
            Backend::Postgres => {
                self.inner
                    .pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// Starts a write transaction for `actor` (see the module doc for why it serializes).
    pub(crate) async fn write<'a>(&'a self, actor: &'a str) -> Result<WriteTx<'a>> {
        self.write_with(actor, true).await
    }

    /// Like [`Store::write`]; with `bump == false` it takes the writer's turn without counting
    /// as a change (for log-only writes: their ids still follow commit order).
    pub(crate) async fn write_with<'a>(
        &'a self,
        actor: &'a str,
        bump: bool,
    ) -> Result<WriteTx<'a>> {
        let guard = match self.inner.backend {
            Backend::Sqlite => Some(self.inner.writer.lock().await),
            Backend::Postgres => None,
        };
        let mut tx = match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.pool.begin().await?,
        };
        let sql = match (bump, self.inner.backend) {
            (true, _) => "UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision",
            (false, Backend::Postgres) => "SELECT revision FROM meta WHERE id = 1 FOR UPDATE",
            (false, Backend::Sqlite) => "SELECT revision FROM meta WHERE id = 1",
        };
        let revision: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await?;
        Ok(WriteTx {
            tx,
            _guard: guard,
            revision,
            now: now_micros(),
            actor,
            store: self,
            touched: bump.then(Vec::new),
        })
    }
}

/// One write transaction: holds the writer's turn, knows its revision, time and actor.
pub(crate) struct WriteTx<'a> {
    tx: Transaction<'static, Any>,
    _guard: Option<MutexGuard<'a, ()>>,
    pub(crate) revision: i64,
    pub(crate) now: Micros,
    pub(crate) actor: &'a str,
    store: &'a Store,
    /// What this transaction's events name, for the change log (`None`: no revision bump).
    touched: Option<Vec<changes::Touch>>,
}

impl WriteTx<'_> {
    /// The transaction's connection, for queries.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Appends an event stamped with this transaction's revision, time and actor.
    pub(crate) async fn event(&mut self, ev: NewEvent<'_>) -> Result<()> {
        self.event_at(ev, Some(self.revision)).await.map(drop)
    }

    /// Appends an event with an explicit revision (`None` for log-only events); returns its id.
    pub(crate) async fn event_at(
        &mut self,
        ev: NewEvent<'_>,
        revision: Option<i64>,
    ) -> Result<i64> {
        let details = serde_json::to_string(&ev.details).map_err(StoreError::json)?;
        if let (Some(touched), Some(_)) = (&mut self.touched, revision) {
            touched.push(changes::Touch {
                kind: ev.kind.to_owned(),
                aggregate: ev.aggregate.map(str::to_owned),
                host: ev.host.map(str::to_owned),
            });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO events (at, revision, actor, kind, aggregate, host, message, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(self.now)
        .bind(revision)
        .bind(self.actor)
        .bind(ev.kind)
        .bind(ev.aggregate)
        .bind(ev.host)
        .bind(ev.message)
        .bind(details)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Commits, then wakes this replica's watchers. The revision is published before the
    /// writer's turn is given up, so the next writer on SQLite knows the database's revision.
    pub(crate) async fn commit(self) -> Result<()> {
        let WriteTx {
            tx,
            _guard,
            revision,
            store,
            touched,
            ..
        } = self;
        tx.commit().await?;
        if let Some(touched) = touched {
            store.inner.changes.record(revision, touched);
        }
        store.publish(revision);
        drop(_guard);
        Ok(())
    }
}

/// An event about to be written by a [`WriteTx`].
pub(crate) struct NewEvent<'a> {
    pub kind: &'a str,
    pub aggregate: Option<&'a str>,
    pub host: Option<&'a str>,
    pub message: String,
    pub details: serde_json::Value,
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|x| (x.version, x.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&SQLITE_MIGRATIONS), names(&POSTGRES_MIGRATIONS));
        assert!(!names(&SQLITE_MIGRATIONS).is_empty());
    }
}
