//! Maintenance planning: pure functions, no I/O, no clock.
//!
//! Input is a snapshot of facts the agent has just read from XAPI (hosts with free memory, VMs
//! with their memory, power state, blockers and policy); output is what to do: evacuation
//! moves with their destinations and order, VMs to shut down, VMs that cannot leave and why,
//! moves back home, and the choice of a new master. Sessions, retries and progress reporting
//! live in the agent; [`schedule`] turns a plan into a bounded-concurrency run order.

pub mod evacuation;
pub mod facts;
pub mod master;
pub mod pool_step;
pub mod rebalance;
pub mod schedule;

pub use evacuation::{plan_evacuation, EvacuationPlan, Unplaceable, UnplaceableReason};
pub use facts::{Blocker, EvacuationPolicy, HostFacts, VmFacts};
pub use master::choose_master;
pub use pool_step::{next_step, Departure, Fact, Intent, MemberIntent, PoolIntent, Problem, Step};
pub use rebalance::{plan_rebalance, Leftover, LeftoverReason, RebalancePlan};
pub use schedule::{Concurrency, Move, Schedule};

/// Formats a byte count as MiB for messages (`1024 MiB`).
pub fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}
