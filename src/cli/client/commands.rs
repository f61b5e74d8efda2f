//! The client verbs as typed clap definitions: only what was typed, no I/O. `verbs` runs them.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};

use super::config::ConnectionArgs;
use super::output::OutputArgs;

/// Flags every client verb takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `enable` / `disable`, as Nova's `host-update` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    /// Turn on.
    Enable,
    /// Turn off.
    Disable,
}

/// The verbs that talk to a running `xenpool serve` (AGG = an aggregate's name, id or uuid).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List aggregates.
    AggregateList {
        /// Only aggregates in this availability zone.
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Create an aggregate, optionally in an availability zone.
    AggregateCreate {
        /// Name of the new aggregate.
        name: String,
        /// Availability zone of the new aggregate.
        availability_zone: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Delete an aggregate (it must have no hosts).
    AggregateDelete {
        /// Aggregate name, id or uuid.
        aggregate: String,
        #[command(flatten)]
        common: Common,
    },
    /// Show an aggregate's details.
    #[command(visible_alias = "aggregate-show")]
    AggregateDetails {
        /// Aggregate name, id or uuid.
        aggregate: String,
        #[command(flatten)]
        common: Common,
    },
    /// Add a host to an aggregate.
    AggregateAddHost {
        /// Aggregate name, id or uuid.
        aggregate: String,
        /// Host name.
        host: String,
        #[command(flatten)]
        common: Common,
    },
    /// Remove a host from an aggregate.
    AggregateRemoveHost {
        /// Aggregate name, id or uuid.
        aggregate: String,
        /// Host name.
        host: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set (KEY=VALUE) or unset (bare KEY) aggregate metadata; other keys are kept.
    AggregateSetMetadata {
        /// Aggregate name, id or uuid.
        aggregate: String,
        /// KEY=VALUE to set, KEY to unset.
        #[arg(required = true, value_name = "KEY=VALUE|KEY")]
        metadata: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Rename an aggregate and/or change its availability zone.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["new_name", "name", "new_zone", "availability_zone"])))]
    AggregateUpdate {
        /// Aggregate name, id or uuid.
        aggregate: String,
        /// New name (or use --name).
        #[arg(value_name = "NAME", conflicts_with = "name")]
        new_name: Option<String>,
        /// New availability zone (or use --availability-zone).
        #[arg(value_name = "AZ", conflicts_with = "availability_zone")]
        new_zone: Option<String>,
        /// New name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// New availability zone.
        #[arg(long, value_name = "AZ")]
        availability_zone: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List hosts.
    HostList {
        /// Only hosts in this availability zone.
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Register a host (agents register themselves; this is for admins).
    HostRegister {
        /// Host name.
        name: String,
        /// The host's XenAPI URL, e.g. https://10.0.0.11.
        #[arg(long, value_name = "URL")]
        xapi_url: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Put a host into maintenance or take it out, and/or enable or disable its scheduling.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["maintenance", "status"])))]
    HostUpdate {
        /// Host name.
        host: String,
        /// Enter (enable) or leave (disable) maintenance: the host's agent evacuates or refills it.
        #[arg(long, value_enum, value_name = "enable|disable")]
        maintenance: Option<Toggle>,
        /// Enable or disable scheduling onto the host (Nova's service status).
        #[arg(long, value_enum, value_name = "enable|disable")]
        status: Option<Toggle>,
        /// Print the operation id and return instead of waiting for the outcome.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (the operation goes on).
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
        /// Ask the host's agent for the plan only and print it; nothing changes.
        #[arg(long, requires = "maintenance")]
        dry_run: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List operations, newest first.
    OperationList {
        /// Only this host's operations.
        #[arg(long)]
        host: Option<String>,
        /// Only operations in this state (pending, running, succeeded, failed, …).
        #[arg(long)]
        state: Option<String>,
        /// Only operations of this kind (maintenance_enable, maintenance_disable, plan).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many (server default 100).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        common: Common,
    },
    /// Show one operation: state, progress, per-VM results, errors.
    OperationShow {
        /// Operation id.
        id: u64,
        #[command(flatten)]
        common: Common,
    },
    /// List events (every change, with who made it), oldest first.
    EventList {
        /// Only events after this event id.
        #[arg(long, value_name = "ID")]
        since: Option<u64>,
        /// Only events of this kind, e.g. aggregate.host_added.
        #[arg(long)]
        kind: Option<String>,
        /// Only events about this host.
        #[arg(long)]
        host: Option<String>,
        /// Only events about this aggregate.
        #[arg(long)]
        aggregate: Option<String>,
        /// At most this many (server default 100).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        common: Common,
    },
}

impl ClientCommand {
    /// The flags every verb shares.
    pub fn common(&self) -> &Common {
        match self {
            ClientCommand::AggregateList { common, .. }
            | ClientCommand::AggregateCreate { common, .. }
            | ClientCommand::AggregateDelete { common, .. }
            | ClientCommand::AggregateDetails { common, .. }
            | ClientCommand::AggregateAddHost { common, .. }
            | ClientCommand::AggregateRemoveHost { common, .. }
            | ClientCommand::AggregateSetMetadata { common, .. }
            | ClientCommand::AggregateUpdate { common, .. }
            | ClientCommand::HostList { common, .. }
            | ClientCommand::HostRegister { common, .. }
            | ClientCommand::HostUpdate { common, .. }
            | ClientCommand::OperationList { common, .. }
            | ClientCommand::OperationShow { common, .. }
            | ClientCommand::EventList { common, .. } => common,
        }
    }
}
