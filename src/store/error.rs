//! What a store call can refuse, in terms both API surfaces can word their own way.

/// A refused or failed store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No aggregate matches the reference (kept as the caller wrote it).
    #[error("aggregate {0} not found")]
    AggregateNotFound(String),
    /// No host of that name is registered.
    #[error("host {0} not found")]
    HostNotFound(String),
    /// Another aggregate already has this name.
    #[error("aggregate name {0} is taken")]
    AggregateNameExists(String),
    /// The host is already a member of the aggregate.
    #[error("aggregate {aggregate_id} already has host {host}")]
    AggregateHostExists {
        /// Aggregate id.
        aggregate_id: i64,
        /// Host name.
        host: String,
    },
    /// The host is not a member of the aggregate.
    #[error("host {host} is not in aggregate {aggregate_id}")]
    HostNotInAggregate {
        /// Aggregate id.
        aggregate_id: i64,
        /// Host name.
        host: String,
    },
    /// The change would put a host into a second availability zone.
    #[error("hosts already in availability zone(s) {zones:?}")]
    AzConflict {
        /// Aggregate id.
        aggregate_id: i64,
        /// Hosts concerned.
        hosts: Vec<String>,
        /// Zones of the other aggregates, in aggregate order, duplicates kept (Nova shows them).
        zones: Vec<String>,
    },
    /// Nova refuses an empty or null zone name on an aggregate.
    #[error("aggregate {name} does not support empty named availability zone")]
    EmptyAz {
        /// Aggregate id.
        aggregate_id: i64,
        /// Aggregate name.
        name: String,
    },
    /// Delete of an aggregate that still has hosts.
    #[error("aggregate {aggregate_id} is not empty")]
    AggregateNotEmpty {
        /// Aggregate id.
        aggregate_id: i64,
        /// Remaining hosts.
        hosts: Vec<String>,
    },
    /// Registration of a name already registered.
    #[error("host {0} exists")]
    HostExists(String),
    /// No operation with that id.
    #[error("operation {0} not found")]
    OperationNotFound(i64),
    /// The operation is in a terminal state.
    #[error("operation {id} is already {state}")]
    OperationFinished {
        /// Operation id.
        id: i64,
        /// Its terminal state.
        state: String,
    },
    /// The lease is held by someone else.
    #[error("lease {name} is held by {holder}")]
    LeaseHeld {
        /// Lease name.
        name: String,
        /// Current holder.
        holder: String,
        /// Expiry, microseconds since the epoch.
        expires_at: i64,
    },
    /// No live lease of that name.
    #[error("lease {0} not found")]
    LeaseNotFound(String),
    /// A value the store refuses; the message names the field and the fix.
    #[error("{field}: {message}")]
    Invalid {
        /// Field concerned.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The configuration (URL, data directory) is unusable.
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached.
    #[error("cannot connect to database {url}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// Cause.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A batched write did not reach the database (the message says why); nothing of it is
    /// stored.
    #[error("database write failed: {0}")]
    WriteFailed(String),
    /// A stored JSON document could not be (de)serialized.
    #[error("stored JSON document is malformed: {0}")]
    Json(String),
}

impl StoreError {
    pub(crate) fn json(e: serde_json::Error) -> StoreError {
        StoreError::Json(e.to_string())
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}
