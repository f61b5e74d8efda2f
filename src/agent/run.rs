//! The agent's loop: register, heartbeat, long-poll the change feed, and reconcile.
//!
//! Each pass reads desired state from the control plane and fact from XAPI, asks the planner
//! for the next step, journals it, carries it out, and reports. Errors never end the loop:
//! transient ones back off with jitter, others are reported and retried on the next change or
//! resync. Cancelling a pass at any await point (SIGTERM, SIGKILL) is safe: the journal and a
//! fresh read of XAPI make the next pass resume.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::{info, info_span, warn, Instrument};

use super::config::AgentConfig;
use super::control::{ControlClient, ControlError, LeaseOutcome};
use super::journal::{now_epoch, Journal, JournalError};
use super::maintenance::{self, RunLimits, VmOutcome};
use super::observe::{observe, Identity, Observation, RefNames, MAINTENANCE_KEY, POLICY_KEY};
use super::progress::{self, vm_results, ProgressReporter};
use crate::api::native::types::{Desired, HostState, OperationUpdate, Report};
use crate::planner::{
    self, next_step, EvacuationPolicy, Intent, MemberIntent, PoolIntent, Problem, Step,
};
use crate::xenapi::{Client, Credentials, ErrorCode, Session, XenApiError};

/// Metadata key that asks for `pool.join_force`.
pub const JOIN_FORCE_KEY: &str = "xenpool_join_force";

/// How long a resync waits on the change feed when nothing changes.
const RESYNC: Duration = Duration::from_secs(30);

/// Re-reads after a pool-changing call start this soon and back off to `SETTLE_MAX`: a mock or
/// a small pool settles in milliseconds, a real toolstack restart takes seconds.
const SETTLE_MIN: Duration = Duration::from_millis(10);
/// The longest wait between re-reads while a pool change settles.
const SETTLE_MAX: Duration = Duration::from_millis(500);

/// Everything that can stop a pass.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// XAPI failed.
    #[error("{0}")]
    Xapi(#[from] XenApiError),
    /// The control plane failed.
    #[error("{0}")]
    Control(#[from] ControlError),
    /// The journal failed.
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

impl AgentError {
    fn is_transient(&self) -> bool {
        match self {
            AgentError::Xapi(e) => e.is_transient() || e.code().is_none(),
            // 404 / 409: the desired state changed under the pass (a host removed, an
            // operation superseded); the next pass reads it afresh.
            AgentError::Control(e) => e.is_transient() || matches!(e.status(), Some(404 | 409)),
            AgentError::Journal(_) | AgentError::Config(_) => false,
        }
    }
}

/// What the loop does after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Run another pass at once.
    Now,
    /// Run another pass after this long.
    After(Duration),
    /// Wait for a change (or the resync interval).
    Watch,
    /// Wait for a change, or this long: a problem is retried with backoff, as the fix (a VM
    /// stopped, a fault cleared) need not touch the control plane.
    Retry(Duration),
    /// Re-read soon: a pool-changing call is settling (see [`settle_delay`]).
    Settle,
}

/// The wait before the next re-read, `elapsed` after the pool-changing call: half the time
/// waited so far, within `SETTLE_MIN`..`SETTLE_MAX`.
fn settle_delay(elapsed: Duration) -> Duration {
    (elapsed / 2).clamp(SETTLE_MIN, SETTLE_MAX)
}

/// One host's agent.
pub struct Agent {
    config: AgentConfig,
    control: ControlClient,
    client: Client,
    credentials: Credentials,
    identity: Identity,
    journal: Journal,
    session: Option<Session>,
    revision: i64,
    last_reports: BTreeMap<String, Value>,
    op_vms: Vec<VmOutcome>,
    /// This pass's pool error: `None` if there is none, `Some(true)` if another host reported it.
    foreign_error: Option<bool>,
    /// This pass's `operational_state` of the host's pool aggregate.
    pool_state: Option<String>,
    /// Whether the last pass found nothing to do.
    converged: bool,
    /// When the first pass that found work started, until a pass finds none.
    unconverged_since: Option<std::time::Instant>,
    /// Backoff of retries after a reported problem; reset by a pass without one.
    retry: Backoff,
    /// When passes started failing (XAPI or the journal unusable), until one succeeds.
    failing_since: Option<Instant>,
    /// This pass's pool aggregate (where a failed pass is reported).
    aggregate: Option<String>,
    /// Its `master_compute`.
    intended_master: Option<String>,
    /// The XAPI pool's name this pass (where a departing host's problems are logged).
    xapi_pool_name: String,
    /// This pass's pending or running maintenance operation.
    operation: Option<i64>,
    /// Names for the refs of the last observation, for errors of a failed pass.
    names: RefNames,
    /// A pool lease this agent may still hold: its release failed (control plane down), or an
    /// earlier run of the agent took it and was killed. Released at the next pass.
    stale_lease: StaleLease,
    /// When the pool-changing call now settling returned.
    settling_since: Option<std::time::Instant>,
    /// Since when evacuation plans have left VMs without a destination while some member was
    /// not a destination (cleared by a complete plan, a refusal with every member available,
    /// or a converged pass): the wait for members to come back is over after
    /// `xapi_outage_grace`, and later retries refuse at once.
    unplaceable_since: Option<Instant>,
    /// Set after a converged pass of a member that is not its pool's master: what of the
    /// desired state that pass acted on. A change leaving it equal (another member's status
    /// report) needs no XAPI read; the resync clears it.
    quiet: Option<QuietKey>,
}

/// What a converged non-master member's pass depends on in the desired state: the intent,
/// the open operations, and whether the pool's error names this host. Other members' status
/// reports (pool state, their steps, their uuids) do not change it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QuietKey {
    intent: Intent,
    operations: Vec<(i64, String)>,
    my_error: bool,
}

impl QuietKey {
    fn of(desired: &Desired, host: &str) -> QuietKey {
        QuietKey {
            intent: intent_of(desired),
            operations: desired
                .operations
                .iter()
                .map(|o| (o.id, o.state.clone()))
                .collect(),
            my_error: desired.pools.iter().any(|p| {
                p.aggregate
                    .status
                    .as_ref()
                    .and_then(|s| s.error.as_ref())
                    .is_some_and(|e| {
                        e["hosts"]
                            .as_array()
                            .is_some_and(|h| h.iter().any(|x| x == host))
                    })
            }),
        }
    }
}

/// A lease to release at the next pass.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StaleLease {
    /// None known.
    None,
    /// Whichever pool lease this host's pool would use (the agent just started).
    ThisPool,
    /// This one.
    Named(String),
}

impl Agent {
    /// Builds the agent from a validated configuration (nothing is contacted yet).
    pub fn new(config: AgentConfig) -> Result<Agent, AgentError> {
        let client = config.xapi_client()?;
        let control = ControlClient::new(
            config.control_url.clone(),
            config.token.clone(),
            config.host.clone(),
        )?;
        let journal = Journal::open(&config.state_dir)?;
        Ok(Agent {
            credentials: config.xapi_credentials(),
            identity: Identity {
                name: config.host.clone(),
                address: config.xapi_address(),
            },
            control,
            client,
            journal,
            session: None,
            revision: 0,
            last_reports: BTreeMap::new(),
            op_vms: Vec::new(),
            foreign_error: None,
            pool_state: None,
            converged: false,
            unconverged_since: None,
            retry: Backoff::default(),
            failing_since: None,
            aggregate: None,
            intended_master: None,
            xapi_pool_name: String::new(),
            operation: None,
            names: RefNames::default(),
            stale_lease: StaleLease::ThisPool,
            settling_since: None,
            unplaceable_since: None,
            quiet: None,
            config,
        })
    }

    /// `--check-config`: logs in to XAPI and registers with the control plane, then logs out.
    pub async fn check(&mut self) -> Result<String, AgentError> {
        let session = Session::login_with_password(
            self.client.clone(),
            self.config.xapi_url.clone(),
            self.credentials.clone(),
        )
        .await?;
        let obs = observe(&session, &self.identity, &BTreeMap::new()).await?;
        let uuid = obs.my_host().record.uuid.clone();
        session.logout().await?;
        self.control
            .register(self.config.xapi_url.as_str(), Some(&uuid))
            .await?;
        Ok(format!(
            "ok: XAPI {} answers as host {} (uuid {uuid}) in pool {:?}; control plane {} accepts this agent's token",
            self.config.xapi_url, obs.my_host().name, obs.pool.1.name_label, self.config.control_url
        ))
    }

    /// Runs until `shutdown` resolves. Registration is retried until it succeeds.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AgentError> {
        tokio::pin!(shutdown);
        let span = info_span!("agent", host = %self.config.host);
        let mut backoff = Backoff::default();
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                registered = self.register().instrument(span.clone()) => match registered {
                    Ok(()) => break,
                    Err(e) => {
                        warn!(parent: &span, error = %e, "registration failed; retrying");
                        tokio::time::sleep(backoff.next()).await;
                    }
                },
            }
        }
        notify_ready();
        if let Some(addr) = self.config.metrics_listen {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(serve_metrics(listener));
                }
                Err(e) => {
                    warn!(%addr, error = %e, "cannot listen for /metrics; continuing without")
                }
            }
        }
        let heartbeat = tokio::spawn(heartbeat_loop(self.control.clone(), self.config.heartbeat));
        let mut backoff = Backoff::default();
        let result = loop {
            let next = tokio::select! {
                _ = &mut shutdown => break Ok(()),
                outcome = self.timed_pass().instrument(span.clone()) => match outcome {
                    Ok(next) => {
                        backoff.reset();
                        self.failing_since = None;
                        next
                    }
                    Err(e) => {
                        warn!(parent: &span, error = %e, "reconcile pass failed");
                        if matches!(e, AgentError::Xapi(_)) { self.session = None; }
                        let since = *self.failing_since.get_or_insert_with(Instant::now);
                        if !e.is_transient() || since.elapsed() >= self.config.xapi_outage_grace {
                            if let Err(r) = self.report_failure(&e).instrument(span.clone()).await {
                                warn!(parent: &span, error = %r, "cannot report the failed pass");
                            }
                        }
                        Next::After(backoff.next())
                    }
                },
            };
            notify_watchdog();
            let settle = match next {
                Next::Settle => {
                    let since = *self
                        .settling_since
                        .get_or_insert_with(std::time::Instant::now);
                    settle_delay(since.elapsed())
                }
                _ => {
                    self.settling_since = None;
                    Duration::ZERO
                }
            };
            let wait = async {
                match next {
                    Next::Now => {}
                    Next::After(d) => tokio::time::sleep(d).await,
                    Next::Settle => tokio::time::sleep(settle).await,
                    Next::Watch => match self.control.watch(self.revision, RESYNC).await {
                        // The resync: the next pass reads XAPI whatever the desired state.
                        Ok(w) if !w.changed => self.quiet = None,
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                    },
                    Next::Retry(d) => {
                        let _ = tokio::time::timeout(d, self.control.watch(self.revision, RESYNC))
                            .await;
                    }
                }
            };
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                _ = wait => {}
            }
        };
        heartbeat.abort();
        result
    }

    /// Registers with the host's XAPI uuid; while XAPI cannot be read, without it (the passes
    /// then report why, and the first pass that reads XAPI registers the uuid).
    async fn register(&mut self) -> Result<(), AgentError> {
        let uuid = match self.my_uuid().await {
            Ok(uuid) => Some(uuid),
            Err(e) => {
                warn!(error = %e, "cannot read this host's XAPI; registering without its uuid");
                self.session = None;
                None
            }
        };
        self.control
            .register(self.config.xapi_url.as_str(), uuid.as_deref())
            .await?;
        info!(uuid = ?uuid, "registered with the control plane");
        Ok(())
    }

    async fn my_uuid(&mut self) -> Result<String, AgentError> {
        let session = self.session().await?;
        let obs = observe(&session, &self.identity, &BTreeMap::new()).await?;
        Ok(obs.my_host().record.uuid.clone())
    }

    async fn session(&mut self) -> Result<Session, AgentError> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        let session = Session::login_with_password(
            self.client.clone(),
            self.config.xapi_url.clone(),
            self.credentials.clone(),
        )
        .await?;
        self.session = Some(session.clone());
        Ok(session)
    }

    /// One pass, measured: its duration, and the reconcile lag (from the first pass that found
    /// work to the pass that found none).
    async fn timed_pass(&mut self) -> Result<Next, AgentError> {
        let started = std::time::Instant::now();
        let result = self.pass().await;
        metrics::histogram!("xenpool_agent_pass_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match (&result, self.unconverged_since) {
            (Ok(Next::Watch), Some(since)) if self.converged => {
                metrics::histogram!("xenpool_agent_reconcile_lag_seconds")
                    .record(since.elapsed().as_secs_f64());
                self.unconverged_since = None;
            }
            (_, None) if !self.converged => self.unconverged_since = Some(started),
            _ => {}
        }
        result
    }

    /// One reconcile pass.
    async fn pass(&mut self) -> Result<Next, AgentError> {
        let desired = self.control.desired().await?;
        self.revision = desired.revision;
        let quiet = QuietKey::of(&desired, &self.config.host);
        if self.quiet.as_ref() == Some(&quiet) {
            return Ok(Next::Watch);
        }
        self.quiet = None;
        self.converged = false;
        self.aggregate = desired.pools.first().map(|p| p.aggregate.name.clone());
        self.intended_master = desired
            .pools
            .first()
            .and_then(|p| p.aggregate.metadata.get("master_compute").cloned());
        self.operation = maintenance_operation(&desired).map(|o| o.id);
        self.pool_state = desired
            .pools
            .first()
            .and_then(|p| p.aggregate.metadata.get("operational_state").cloned());
        self.foreign_error = desired
            .pools
            .first()
            .and_then(|p| p.aggregate.status.as_ref())
            .and_then(|s| s.error.as_ref())
            .map(|e| reporter(e) != Some(self.config.host.as_str()));
        let session = self.session().await?;
        let names: BTreeMap<String, String> = desired
            .pools
            .iter()
            .flat_map(|p| p.members.iter())
            .filter_map(|h| h.xapi_uuid.clone().map(|u| (u, h.host_name.clone())))
            .collect();
        let obs = observe(&session, &self.identity, &names).await?;
        self.names = obs.ref_names();
        self.xapi_pool_name = obs.pool.1.name_label.clone();
        let uuid = &obs.my_host().record.uuid;
        if desired.host.xapi_uuid.as_ref() != Some(uuid) {
            self.control
                .register(self.config.xapi_url.as_str(), Some(uuid))
                .await?;
        }
        if self.journal.state().joined_at.is_some() && obs.my_host().record.enabled {
            self.journal.update(|s| s.joined_at = None)?;
        }
        self.answer_plan_requests(&session, &desired, &obs).await?;
        self.track_operation(&desired, &obs)?;

        let intent = intent_of(&desired);
        self.release_stale_lease(&obs).await;
        let named =
            self.journal.state().named_pool.as_deref() == Some(obs.pool.1.name_label.as_str());
        if let Some(pool) = intent.pools.first() {
            if self.journal.state().pool_aggregate.as_ref() != Some(&pool.aggregate) {
                let name = pool.aggregate.clone();
                self.journal.update(|s| s.pool_aggregate = Some(name))?;
            }
        }
        let state = self.journal.state();
        let fact = obs.fact(
            state.joined_at.is_some(),
            named,
            state.pool_aggregate.is_some(),
        );
        let cooldown = self.config.handover_cooldown.as_secs();
        let handover_allowed = self
            .journal
            .state()
            .last_handover_at
            .is_none_or(|t| now_epoch() >= t + cooldown);
        let step = next_step(&intent, &fact, handover_allowed);
        let aggregate = intent.pools.first().map(|p| p.aggregate.clone());

        if step == Step::Converged {
            self.converged = true;
            self.unplaceable_since = None;
            self.journal.finish()?;
            let settled = self
                .report_converged(&desired, &obs, aggregate.as_deref())
                .await?;
            self.finish_operation(&desired, intent.maintenance, None)
                .await?;
            if !settled {
                // A member is still syncing: that shows in XAPI, not in the control plane.
                return Ok(Next::Retry(self.retry.next()));
            }
            self.retry.reset();
            if aggregate.is_some() && obs.master_name() != self.config.host {
                self.quiet = Some(quiet);
            }
            return Ok(Next::Watch);
        }
        if let Step::Wait { reason } = &step {
            self.report_step(aggregate.as_deref(), "waiting", Some(reason), None)
                .await?;
            // What is awaited (another agent's step) may show only in XAPI.
            return Ok(Next::Retry(self.retry.next()));
        }
        if let Step::Blocked(problem) = &step {
            return self.refused(&desired, aggregate.as_deref(), problem).await;
        }
        // A step that moves VMs away is planned before any step bookkeeping: a wait for a
        // migration in flight or for members to come back repeats only the reads.
        let plan = match &step {
            Step::Disable | Step::Evacuate { .. } => {
                if matches!(step, Step::Evacuate { .. }) && migration_in_flight(&obs) {
                    // Finished first (e.g. started before a restart); planned from where it lands.
                    return Ok(Next::Settle);
                }
                match self.placeable_plan(&session, &desired, &obs).await {
                    Ok(Some(plan)) => Some(plan),
                    Ok(None) => return Ok(Next::Settle),
                    Err(StepFailure::Problem(problem)) => {
                        return self.refused(&desired, aggregate.as_deref(), &problem).await
                    }
                    Err(StepFailure::Other(e)) => return Err(e),
                }
            }
            _ => None,
        };

        let lease = lease_name(&step, aggregate.as_deref(), &obs);
        if let Some(name) = &lease {
            if let LeaseOutcome::HeldBy(holder) = self
                .control
                .acquire_lease(name, Duration::from_secs(900))
                .await?
            {
                self.report_step(
                    aggregate.as_deref(),
                    "waiting",
                    Some(&format!("another step holds {name}: {holder}")),
                    None,
                )
                .await?;
                return Ok(Next::After(Duration::from_secs(2)));
            }
        }
        self.journal.begin(&step)?;
        // A retry after this host's own error keeps the error showing until a step succeeds.
        let own_error = self.foreign_error == Some(false);
        if !own_error {
            self.report_step(
                aggregate.as_deref(),
                "changing",
                Some(step_name(&step)),
                None,
            )
            .await?;
        }
        self.start_operation(&desired, &step).await?;
        // The step event is log-only: posted alongside the step, not before it.
        let (control, event_aggregate) = (self.control.clone(), aggregate.clone());
        let message = format!("{}: {}", self.config.host, step_name(&step));
        let details = json!({ "step": &step });
        tokio::spawn(async move {
            let _ = control
                .event("agent.step", event_aggregate.as_deref(), &message, details)
                .await;
        });
        let outcome = self.execute(&step, plan, &session, &desired, &obs).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(StepFailure::Problem(_)) => "refused",
            Err(StepFailure::Other(_)) => "error",
        };
        metrics::counter!("xenpool_agent_steps_total", "step" => step_name(&step), "outcome" => label).increment(1);
        if let Some(name) = &lease {
            if let Err(e) = self.control.release_lease(name).await {
                warn!(lease = %name, error = %e, "cannot release the lease; retrying next pass");
                self.stale_lease = StaleLease::Named(name.clone());
            }
        }
        match outcome {
            Ok(next) => {
                self.journal.finish()?;
                self.retry.reset();
                if let (true, Some(aggregate)) = (own_error, aggregate.as_deref()) {
                    let state = Some(("changing".to_owned(), Some(step_name(&step).to_owned())));
                    self.report(
                        aggregate,
                        Some("changing"),
                        BTreeMap::new(),
                        state,
                        Some(None),
                    )
                    .await?;
                }
                Ok(next)
            }
            Err(StepFailure::Problem(problem)) => {
                self.refused(&desired, aggregate.as_deref(), &problem).await
            }
            Err(StepFailure::Other(e)) => Err(e),
        }
    }

    /// Reports a refused step (or a blocked one) and fails the host's operation; retried after
    /// the backoff.
    async fn refused(
        &mut self,
        desired: &Desired,
        aggregate: Option<&str>,
        problem: &Problem,
    ) -> Result<Next, AgentError> {
        warn!(code = %problem.code, "{problem}");
        self.report_step(aggregate, "error", None, Some(problem))
            .await?;
        self.fail_operation(desired, problem).await?;
        Ok(Next::Retry(self.retry.next()))
    }

    /// Releases a lease this host may hold from an interrupted step; one held by another host
    /// or already gone is left alone.
    async fn release_stale_lease(&mut self, obs: &Observation) {
        let name = match &self.stale_lease {
            StaleLease::None => return,
            StaleLease::ThisPool => pool_lease(self.aggregate.as_deref(), obs),
            StaleLease::Named(name) => name.clone(),
        };
        match self.control.release_lease(&name).await {
            Ok(()) | Err(ControlError::Refused { status: 409, .. }) => {
                self.stale_lease = StaleLease::None
            }
            Err(e) => {
                warn!(lease = %name, error = %e, "cannot release the lease; retrying next pass")
            }
        }
    }

    /// Carries out `step`; `plan` is the placing plan of a step that moves VMs away.
    async fn execute(
        &mut self,
        step: &Step,
        plan: Option<planner::EvacuationPlan>,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
    ) -> Result<Next, StepFailure> {
        let me = obs.my_host().reference.clone();
        let names = obs.ref_names();
        let xapi = |e: XenApiError| StepFailure::xapi(&names, e, step);
        match step {
            Step::ClaimMaster { aggregate } | Step::RecordMaster { aggregate, .. } => {
                let master = match step {
                    Step::RecordMaster { master, .. } => master.clone(),
                    _ => self.config.host.clone(),
                };
                let metadata = BTreeMap::from([("master_compute".to_owned(), Some(master))]);
                self.report(aggregate, None, metadata, None, None).await?;
                Ok(Next::Now)
            }
            Step::NamePool { name } => {
                session
                    .pool_set_name_label(&obs.pool.0, name)
                    .await
                    .map_err(xapi)?;
                let named = (!name.is_empty()).then(|| name.clone());
                self.journal.update(|s| s.named_pool = named)?;
                Ok(Next::Now)
            }
            Step::Join {
                address,
                force,
                master,
                ..
            } => {
                let call = if *force {
                    session.pool_join_force(address, &self.credentials).await
                } else {
                    session.pool_join(address, &self.credentials).await
                };
                match call {
                    Ok(()) => {
                        info!(master = %master, "pool.join returned; this host's XAPI restarts as a member")
                    }
                    // The reply may be lost after the join took effect (XAPI restarts as a
                    // member): the next pass re-reads which pool this host is in, and a join
                    // that did happen is awaited like one that answered.
                    Err(e) if e.code().is_none() => {
                        warn!(master = %master, error = %e, "pool.join reply lost; re-reading")
                    }
                    Err(e) => return Err(xapi(e)),
                }
                self.journal.update(|s| s.joined_at = Some(now_epoch()))?;
                self.session = None;
                self.settling_since = Some(std::time::Instant::now());
                Ok(Next::Settle)
            }
            Step::AwaitSync => {
                let since = self.journal.state().joined_at.unwrap_or_else(now_epoch);
                if now_epoch().saturating_sub(since) > self.config.join_timeout.as_secs() {
                    let master = obs.master_name();
                    let detail = format!(
                        "{master} has not listed it enabled within {} s",
                        self.config.join_timeout.as_secs()
                    );
                    return Err(StepFailure::Problem(half_joined(
                        &self.config.host,
                        &master,
                        &detail,
                    )));
                }
                Ok(Next::Settle)
            }
            Step::HandOver { to } => {
                let target = obs.host(to).map(|h| h.reference.clone()).ok_or_else(|| {
                    StepFailure::Other(AgentError::Config(format!(
                        "{to} is not in this pool any more"
                    )))
                })?;
                match session.pool_designate_new_master(&target).await {
                    Ok(()) => {}
                    // The old master restarts while answering: a lost reply is the usual success.
                    Err(e) if e.code().is_none() => {
                        warn!(error = %e, "designate_new_master reply lost; re-reading")
                    }
                    Err(e) => return Err(xapi(e)),
                }
                self.journal
                    .update(|s| s.last_handover_at = Some(now_epoch()))?;
                self.session = None;
                for pool in &desired.pools {
                    if pool.aggregate.hosts.iter().any(|h| h == to) {
                        let metadata =
                            BTreeMap::from([("master_compute".to_owned(), Some(to.clone()))]);
                        self.report(&pool.aggregate.name, None, metadata, None, None)
                            .await?;
                    }
                }
                self.settling_since = Some(std::time::Instant::now());
                Ok(Next::Settle)
            }
            Step::Evacuate { for_departure } => match plan {
                Some(plan) => {
                    self.evacuate(session, desired, obs, plan, for_departure.is_none())
                        .await
                }
                // Not planned (cannot happen: `pass` plans every evacuation): plan again.
                None => Ok(Next::Now),
            },
            Step::Eject { departure } => {
                session.pool_eject(&me).await.map_err(xapi)?;
                info!(
                    ?departure,
                    "ejected; this host reboots into a standalone pool"
                );
                self.journal.update(|s| {
                    s.named_pool = None;
                    s.joined_at = None;
                    s.pool_aggregate = None;
                })?;
                self.session = None;
                self.settling_since = Some(std::time::Instant::now());
                Ok(Next::Settle)
            }
            Step::Disable => {
                // `pass` has already refused, or waited, unless the VMs can all leave afterwards.
                let record = &obs.my_host().record;
                if !record.enabled {
                    // disable(auto_enable=false) persists only when called on an enabled host.
                    session.host_enable(&me).await.map_err(xapi)?;
                }
                maintenance::set_host_key(session, &me, MAINTENANCE_KEY, "true")
                    .await
                    .map_err(xapi)?;
                match session.host_disable(&me, Some(false)).await {
                    Err(e) if e.is(&ErrorCode::MESSAGE_PARAMETER_COUNT_MISMATCH) => {
                        session.host_disable(&me, None).await.map_err(xapi)?
                    }
                    other => other.map_err(xapi)?,
                }
                Ok(Next::Now)
            }
            Step::Enable => {
                session.host_enable(&me).await.map_err(xapi)?;
                Ok(Next::Now)
            }
            Step::Rebalance => self.rebalance(session, desired, obs).await,
            Step::Converged | Step::Wait { .. } | Step::Blocked(_) => Ok(Next::Watch),
        }
    }

    async fn evacuate(
        &mut self,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
        plan: planner::EvacuationPlan,
        for_maintenance: bool,
    ) -> Result<Next, StepFailure> {
        let home = self.config.host.clone();
        let planned = plan.shutdowns.iter().map(|v| v.name.clone());
        let planned = planned.chain(plan.moves.iter().map(|m| m.vm.clone()));
        let mut reporter = self.progress_reporter(desired, planned);
        let mut outcomes = maintenance::shut_down(session, obs, &plan, &home).await;
        for outcome in &outcomes {
            reporter.iter_mut().for_each(|r| r.finished(outcome));
        }
        let limits = RunLimits {
            concurrency: self.config.concurrency,
            migration_timeout: self.config.xapi_timeout * 10,
        };
        let moved = maintenance::run_moves(
            session,
            obs,
            plan.moves.clone(),
            limits,
            for_maintenance.then_some(home.as_str()),
            |outcome, _, _| reporter.iter_mut().for_each(|r| r.finished(outcome)),
        )
        .await;
        outcomes.extend(moved);
        if let (Some(reporter), false) = (reporter, outcomes.is_empty()) {
            reporter.finish().await;
        }
        self.op_vms.extend(outcomes.iter().cloned());
        let failed: Vec<&VmOutcome> = outcomes.iter().filter(|o| o.result == "failed").collect();
        if let Some(first) = failed.first() {
            if failed
                .iter()
                .any(|o| o.failure.as_ref().is_some_and(|f| f.transient))
            {
                // The session may have died with XAPI (a restart): log in afresh next pass.
                self.session = None;
            }
            let (code, params) = first
                .failure
                .as_ref()
                .map(|f| (f.code.clone(), f.params.clone()))
                .unwrap_or_else(|| ("MIGRATION_FAILED".into(), vec![]));
            let fix = fix_for(&ErrorCode::from_wire(&code)).into();
            return Err(StepFailure::Problem(Problem {
                code,
                message: format!(
                    "{} of {} VMs could not leave {}: {}",
                    failed.len(),
                    outcomes.len(),
                    self.config.host,
                    failed
                        .iter()
                        .map(|o| format!("{} ({})", o.name, o.error.as_deref().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                fix,
                params,
                vms: failed.iter().map(|o| o.name.clone()).collect(),
                hosts: vec![self.config.host.clone()],
            }));
        }
        Ok(Next::Now)
    }

    async fn rebalance(
        &mut self,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
    ) -> Result<Next, StepFailure> {
        let me = self.config.host.clone();
        // As for an evacuation: a VM still migrating (started before a restart) lands first.
        if obs.vms.iter().any(|(_, v)| {
            v.other_config.get(super::observe::HOME_KEY) == Some(&me)
                && !v.current_operations.is_empty()
        }) {
            return Ok(Next::After(Duration::from_millis(500)));
        }
        let vms: Vec<_> = obs
            .vm_facts(EvacuationPolicy::Migrate, &BTreeMap::new())
            .into_iter()
            .filter(|v| v.home.as_deref() == Some(me.as_str()))
            .collect();
        let plan = planner::plan_rebalance(&obs.host_facts(), &vms);
        let warnings: Vec<String> = plan.leftovers.iter().map(ToString::to_string).collect();
        let limits = RunLimits {
            concurrency: self.config.concurrency,
            migration_timeout: self.config.xapi_timeout * 10,
        };
        let planned = plan.moves().map(|m| m.vm.clone());
        let planned: Vec<String> = planned
            .chain(plan.starts.iter().map(|s| s.vm.name.clone()))
            .collect();
        let mut reporter = self.progress_reporter(desired, planned);
        let outcomes = maintenance::rebalance(session, obs, plan, limits, |outcome| {
            reporter.iter_mut().for_each(|r| r.finished(outcome))
        })
        .await;
        if let Some(reporter) = reporter {
            reporter.finish().await;
        }
        let names = obs.ref_names();
        let me_ref = obs.my_host().reference.clone();
        session
            .host_remove_from_other_config(&me_ref, MAINTENANCE_KEY)
            .await
            .map_err(|e| StepFailure::xapi(&names, e, &Step::Rebalance))?;
        let mut warnings = warnings;
        warnings.extend(outcomes.iter().filter(|o| o.result == "failed").map(|o| {
            format!(
                "{} did not go home: {}",
                o.name,
                o.error.as_deref().unwrap_or("?")
            )
        }));
        self.op_vms.extend(outcomes);
        let desired = self.control.desired().await?;
        self.finish_operation(&desired, false, Some(warnings))
            .await?;
        Ok(Next::Now)
    }

    /// A plan that places every VM; `None` while it does not for want of room but members that
    /// are not destinations now may be soon (a handover or XAPI restart leaves members disabled
    /// until they resync), for up to `xapi_outage_grace` counted from the first such plan
    /// (whatever the passes in between did); after that, and at every retry until a plan places
    /// every VM, the refusal names the VMs and those members.
    async fn placeable_plan(
        &mut self,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
    ) -> Result<Option<planner::EvacuationPlan>, StepFailure> {
        let plan = self.plan(session, desired, obs).await?;
        if plan.is_complete() {
            self.unplaceable_since = None;
            return Ok(Some(plan));
        }
        let unavailable = unavailable_members(obs);
        let refuse = |unavailable: &[String]| {
            StepFailure::Problem(unplaceable_problem(&self.config.host, &plan, unavailable))
        };
        // Only room can come back with a member; a VM XAPI or its policy holds cannot move.
        let for_want_of_room = plan.unplaceable.iter().all(|u| {
            matches!(
                u.reason,
                planner::UnplaceableReason::NoHostsAvailable
                    | planner::UnplaceableReason::NotEnoughMemory { .. }
            )
        });
        if unavailable.is_empty() || !for_want_of_room {
            // Nothing to wait for: the refusal stands until the facts change.
            self.unplaceable_since = None;
            return Err(refuse(&unavailable));
        }
        let started = self.unplaceable_since.is_none();
        let waited = self
            .unplaceable_since
            .get_or_insert_with(Instant::now)
            .elapsed();
        if waited >= self.config.xapi_outage_grace {
            return Err(refuse(&unavailable));
        }
        let reason = format!(
            "{} VM(s) have no destination until {} can take them",
            plan.unplaceable.len(),
            unavailable.join(", ")
        );
        if started {
            info!(
                "{reason}; waiting up to {:?}",
                self.config.xapi_outage_grace
            );
        }
        let aggregate = self.aggregate.clone();
        self.report_step(aggregate.as_deref(), "waiting", Some(&reason), None)
            .await
            .map_err(StepFailure::Other)?;
        Ok(None)
    }

    /// The evacuation plan from fresh facts, with XAPI's own per-VM blockers and the pool
    /// aggregate's default policy.
    async fn plan(
        &self,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
    ) -> Result<planner::EvacuationPlan, StepFailure> {
        let default_policy = desired
            .pools
            .first()
            .and_then(|p| p.aggregate.metadata.get(POLICY_KEY))
            .and_then(|v| EvacuationPolicy::parse(v))
            .unwrap_or_default();
        maintenance::plan_evacuation_of(session, obs, &obs.my_host().name, default_policy)
            .await
            .map_err(|e| {
                StepFailure::xapi(
                    &obs.ref_names(),
                    e,
                    &Step::Evacuate {
                        for_departure: None,
                    },
                )
            })
    }

    /// Fills in the plan of every pending dry-run operation from fresh facts; nothing changes.
    async fn answer_plan_requests(
        &mut self,
        session: &Session,
        desired: &Desired,
        obs: &Observation,
    ) -> Result<(), AgentError> {
        for op in desired
            .operations
            .iter()
            .filter(|o| o.kind == "plan" && o.state == "pending")
        {
            let update = match self.plan(session, desired, obs).await {
                Ok(plan) => OperationUpdate {
                    state: Some("succeeded".into()),
                    progress: Some(1.0),
                    plan: Some(serde_json::to_value(&plan).unwrap_or(Value::Null)),
                    ..operation_update()
                },
                Err(StepFailure::Problem(p)) => OperationUpdate {
                    state: Some("failed".into()),
                    error: Some(Some(problem_json(&p, &self.config.host))),
                    ..operation_update()
                },
                Err(StepFailure::Other(e)) => return Err(e),
            };
            self.control.update_operation(op.id, &update).await?;
        }
        Ok(())
    }

    async fn report(
        &mut self,
        aggregate: &str,
        state: Option<&str>,
        metadata: BTreeMap<String, Option<String>>,
        host_state: Option<(String, Option<String>)>,
        error: Option<Option<Value>>,
    ) -> Result<(), AgentError> {
        let report = Report {
            aggregate: aggregate.to_owned(),
            operational_state: state.map(Into::into),
            metadata,
            host_state: host_state.map(|(state, step)| HostState {
                state: Some(state),
                step,
            }),
            error,
        };
        let body = serde_json::to_value(&report).unwrap_or(Value::Null);
        let key = format!(
            "{aggregate}/{}",
            body["metadata"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_default()
        );
        // Skip a report identical to the last one, unless the pool state it set has since been
        // overwritten by another host's report.
        let state_holds =
            report.operational_state.is_none() || report.operational_state == self.pool_state;
        if self.last_reports.get(&key) == Some(&body) && state_holds {
            return Ok(());
        }
        self.control.report(&report).await?;
        self.last_reports.insert(key, body);
        Ok(())
    }

    async fn report_step(
        &mut self,
        aggregate: Option<&str>,
        state: &str,
        step: Option<&str>,
        problem: Option<&Problem>,
    ) -> Result<(), AgentError> {
        let Some(aggregate) = aggregate else {
            // A host leaving its pool is in no pool aggregate to report to: its problems are
            // logged as events, once each.
            if let Some(problem) = problem {
                self.problem_event(problem).await?;
            }
            return Ok(());
        };
        let pool_state = match state {
            "error" => Some("error"),
            // Another member's error stays visible until that member or the master clears it.
            "changing" if self.foreign_error.is_none() => Some("changing"),
            _ => None,
        };
        let error = problem.map(|p| Some(problem_json(p, &self.config.host)));
        self.report(
            aggregate,
            pool_state,
            BTreeMap::new(),
            Some((state.to_owned(), step.map(Into::into))),
            error,
        )
        .await
    }

    /// Logs `problem` as an `agent.error` event (named after the XAPI pool being left), unless
    /// the same problem was the last one logged.
    async fn problem_event(&mut self, problem: &Problem) -> Result<(), AgentError> {
        let body = problem_json(problem, &self.config.host);
        if self.last_reports.get("event/") == Some(&body) {
            return Ok(());
        }
        let pool = (!self.xapi_pool_name.is_empty()).then_some(self.xapi_pool_name.as_str());
        self.control
            .event(
                "agent.error",
                pool,
                &format!("{}: {problem}", self.config.host),
                body.clone(),
            )
            .await?;
        self.last_reports.insert("event/".into(), body);
        Ok(())
    }

    /// Reports a pass that failed before or during a step (XAPI unreachable or refusing this
    /// agent's login, the journal unusable) as this host's error in its pool aggregate, and
    /// fails its maintenance operation. A control plane that cannot be reached cannot be told.
    async fn report_failure(&mut self, e: &AgentError) -> Result<(), AgentError> {
        let Some(mut problem) = failure_problem(e, &self.config, &self.names) else {
            return Ok(());
        };
        let unreachable =
            matches!(e, AgentError::Xapi(x) if x.is_transient() || x.code().is_none());
        if let (Some(_), true, Some(master)) = (
            self.journal.state().joined_at,
            unreachable,
            self.intended_master.as_deref(),
        ) {
            // pool.join returned and the toolstack never came back (xcp-ng/xcp#142).
            let detail = format!("its XAPI has not answered since ({})", problem.message);
            problem = half_joined(&self.config.host, master, &detail);
        }
        self.report_problem(&problem).await
    }

    /// Reports a failed pass's `problem` as this host's error (or, outside any pool
    /// aggregate, as an event) and fails its maintenance operation.
    async fn report_problem(&mut self, problem: &Problem) -> Result<(), AgentError> {
        let step = self
            .journal
            .state()
            .current
            .as_ref()
            .map_or("connect", |c| step_name(&c.step));
        match self.aggregate.clone() {
            Some(aggregate) => {
                let error = problem_json(problem, &self.config.host);
                self.report(
                    &aggregate,
                    Some("error"),
                    BTreeMap::new(),
                    Some(("error".into(), Some(step.into()))),
                    Some(Some(error)),
                )
                .await?
            }
            None => self.problem_event(problem).await?,
        }
        if let Some(id) = self.operation.take() {
            let update = OperationUpdate {
                state: Some("failed".into()),
                vms: Some(vm_results(&self.op_vms)),
                error: Some(Some(problem_json(problem, &self.config.host))),
                ..operation_update()
            };
            self.control.update_operation(id, &update).await?;
            self.op_vms.clear();
        }
        Ok(())
    }

    /// Reports this host's converged view; returns whether the pool is settled (false while
    /// this host is master and a member is not in and enabled yet).
    async fn report_converged(
        &mut self,
        desired: &Desired,
        obs: &Observation,
        aggregate: Option<&str>,
    ) -> Result<bool, AgentError> {
        let Some(aggregate) = aggregate else {
            return Ok(true);
        };
        let Some(pool) = desired.pools.iter().find(|p| p.aggregate.name == aggregate) else {
            return Ok(true);
        };
        let mut settled = true;
        let me = self.config.host.clone();
        let mut metadata = BTreeMap::from([(me.clone(), Some(obs.my_host().record.uuid.clone()))]);
        let pool_error = pool.aggregate.status.as_ref().and_then(|s| s.error.clone());
        let my_error = pool_error
            .as_ref()
            .is_some_and(|e| reporter(e) == Some(me.as_str()));
        // Only the master speaks for the pool: active once every member is in and enabled.
        let (state, clear_error) = if obs.master_name() == me {
            metadata.insert("master_compute".into(), Some(me.clone()));
            for host in obs
                .hosts
                .iter()
                .skip(1)
                .filter(|h| pool.aggregate.hosts.contains(&h.name))
            {
                metadata.insert(host.name.clone(), Some(host.record.uuid.clone()));
            }
            let all_in = pool.aggregate.hosts.iter().all(|h| {
                obs.host(h)
                    .is_some_and(|o| o.record.enabled || h == &me || in_maintenance(o))
            });
            // Another member's error is that member's to clear (its next success does), unless
            // it has left the aggregate and cannot.
            let reporter_left = pool_error
                .as_ref()
                .and_then(reporter)
                .is_some_and(|h| !pool.aggregate.hosts.iter().any(|m| m == h));
            settled = all_in;
            // Only an error read at the start of this pass is cleared: one reported since
            // is not overwritten unseen.
            match (all_in, self.foreign_error) {
                (_, Some(true)) if !reporter_left => (None, false),
                (true, _) => (Some("active"), my_error || reporter_left),
                (false, _) => (Some("changing"), my_error),
            }
        } else {
            (None, my_error)
        };
        self.report(
            aggregate,
            state,
            metadata,
            Some(("active".into(), None)),
            clear_error.then_some(None),
        )
        .await?;
        Ok(settled)
    }

    /// A reporter of this run's per-VM outcomes on the host's running maintenance operation.
    fn progress_reporter(
        &self,
        desired: &Desired,
        planned: impl IntoIterator<Item = String>,
    ) -> Option<ProgressReporter> {
        let op = maintenance_operation(desired)?;
        Some(ProgressReporter::start(
            self.control.clone(),
            op.id,
            &self.op_vms,
            progress::reported_names(op),
            planned,
        ))
    }

    /// Journals where the VMs are while the host's maintenance operation is pending (nothing has
    /// moved for it yet); once it runs, adds the outcomes XAPI shows for VMs that moved before a
    /// restart but that neither the operation nor this agent lists yet.
    fn track_operation(&mut self, desired: &Desired, obs: &Observation) -> Result<(), AgentError> {
        let Some(op) = maintenance_operation(desired) else {
            return Ok(());
        };
        let journaled = self.journal.state().operation.as_ref().map(|s| s.id);
        if op.state == "pending" && journaled != Some(op.id) {
            let start = progress::operation_start(op.id, obs);
            self.journal.update(|s| s.operation = Some(start))?;
            return Ok(());
        }
        if op.state != "running" {
            return Ok(());
        }
        let Some(start) = self
            .journal
            .state()
            .operation
            .as_ref()
            .filter(|s| s.id == op.id)
        else {
            return Ok(());
        };
        let mut known = progress::reported_names(op);
        known.extend(self.op_vms.iter().map(|o| o.name.clone()));
        let leaving = op.kind == "maintenance_enable";
        let recovered = progress::recovered_outcomes(start, obs, leaving, &known);
        if !recovered.is_empty() {
            info!(
                vms = recovered.len(),
                operation = op.id,
                "outcomes recovered after a restart"
            );
        }
        self.op_vms.extend(recovered);
        Ok(())
    }

    async fn start_operation(&mut self, desired: &Desired, step: &Step) -> Result<(), AgentError> {
        let maintenance_step = matches!(
            step,
            Step::Disable
                | Step::Enable
                | Step::Rebalance
                | Step::HandOver { .. }
                | Step::Evacuate {
                    for_departure: None
                }
        );
        let Some(op) = maintenance_operation(desired) else {
            return Ok(());
        };
        if maintenance_step && op.state == "pending" {
            self.op_vms.clear();
            let update = OperationUpdate {
                state: Some("running".into()),
                ..operation_update()
            };
            self.control.update_operation(op.id, &update).await?;
        }
        Ok(())
    }

    async fn finish_operation(
        &mut self,
        desired: &Desired,
        in_maintenance: bool,
        warnings: Option<Vec<String>>,
    ) -> Result<(), AgentError> {
        let Some(op) = maintenance_operation(desired) else {
            return Ok(());
        };
        let wanted = if in_maintenance {
            "maintenance_enable"
        } else {
            "maintenance_disable"
        };
        if op.kind != wanted {
            return Ok(());
        }
        let warnings = warnings.unwrap_or_default();
        let state = if warnings.is_empty() {
            "succeeded"
        } else {
            "completed_with_warnings"
        };
        let update = OperationUpdate {
            state: Some(state.into()),
            progress: Some(1.0),
            vms: Some(vm_results(&self.op_vms)),
            warnings: Some(warnings),
            ..operation_update()
        };
        self.control.update_operation(op.id, &update).await?;
        self.op_vms.clear();
        Ok(())
    }

    async fn fail_operation(
        &mut self,
        desired: &Desired,
        problem: &Problem,
    ) -> Result<(), AgentError> {
        let Some(op) = maintenance_operation(desired) else {
            return Ok(());
        };
        let update = OperationUpdate {
            state: Some("failed".into()),
            vms: Some(vm_results(&self.op_vms)),
            error: Some(Some(problem_json(problem, &self.config.host))),
            ..operation_update()
        };
        self.control.update_operation(op.id, &update).await?;
        self.op_vms.clear();
        Ok(())
    }
}

/// A failed step: either a problem to report, or an error of the pass itself.
enum StepFailure {
    Problem(Problem),
    Other(AgentError),
}

impl StepFailure {
    /// XAPI's refusal of `step` as a problem to report; a transient failure (dead session,
    /// XAPI restarting, connection lost) instead fails the pass, which is retried with backoff
    /// and reported only if it persists.
    fn xapi(names: &RefNames, e: XenApiError, step: &Step) -> StepFailure {
        match e.code() {
            Some(_) if e.is_transient() => StepFailure::Other(AgentError::Xapi(e)),
            Some(code) => StepFailure::Problem(Problem {
                code: code.to_string(),
                message: format!("{} failed: {}", step_name(step), names.describe(&e)),
                fix: fix_for(code).into(),
                params: e.params().iter().map(|p| names.name(p)).collect(),
                vms: vec![],
                hosts: vec![],
            }),
            None => StepFailure::Other(AgentError::Xapi(e)),
        }
    }
}

impl From<AgentError> for StepFailure {
    fn from(e: AgentError) -> StepFailure {
        StepFailure::Other(e)
    }
}

impl From<JournalError> for StepFailure {
    fn from(e: JournalError) -> StepFailure {
        StepFailure::Other(e.into())
    }
}

impl From<ControlError> for StepFailure {
    fn from(e: ControlError) -> StepFailure {
        StepFailure::Other(e.into())
    }
}

/// What an operator can do about an XAPI refusal of a pool step.
fn fix_for(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::JOINING_HOST_CANNOT_HAVE_RUNNING_VMS => "shut down or migrate the joining host's VMs; the join then proceeds",
        ErrorCode::HOSTS_NOT_HOMOGENEOUS => {
            "bring both hosts to the same software version and CPU vendor, or set xenpool_join_force=true on the aggregate"
        }
        ErrorCode::JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS => "detach the joining host's shared storage first",
        ErrorCode::JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS => "eject the joining host's own members first",
        ErrorCode::LICENCE_RESTRICTION | ErrorCode::LICENSE_HOST_POOL_MISMATCH => "license both hosts with the same edition",
        ErrorCode::HA_IS_ENABLED => "disable HA on the pool for the change",
        ErrorCode::SESSION_AUTHENTICATION_FAILED => "give every member the same XAPI credentials as the master",
        ErrorCode::HOST_OFFLINE | ErrorCode::CANNOT_CONTACT_HOST => "bring the host back online; the step is retried",
        ErrorCode::OPERATION_NOT_ALLOWED => "clear the condition XAPI names; the step is retried",
        ErrorCode::POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA
        | ErrorCode::POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION
        | ErrorCode::HOSTS_NOT_COMPATIBLE => "update the joining host and the master to the same XenServer release first",
        ErrorCode::NOT_SUPPORTED_DURING_UPGRADE => "finish the pool's rolling upgrade first; the step is retried",
        ErrorCode::VM_REQUIRES_SR => "move the VM's disks to storage the other members share, or shut it down",
        ErrorCode::VM_INCOMPATIBLE_WITH_THIS_HOST => "give the pool's hosts the same CPU vendor, or shut the VM down",
        ErrorCode::VM_HAS_PCI_ATTACHED => "detach the VM's passed-through PCI device, or shut the VM down",
        ErrorCode::OPERATION_BLOCKED => "remove the VM's blocked_operations entry (xe vm-param-clear), or shut it down",
        ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY => "free memory on the other members (or add a member); the move is retried",
        _ => "clear the cause XAPI names; the step is retried on the next pass",
    }
}

fn half_joined(host: &str, master: &str, detail: &str) -> Problem {
    Problem {
        code: "half_joined".into(),
        message: format!("{host} joined {master}'s pool but {detail}: the host is half-joined"),
        fix: format!(
            "on {host} check that the toolstack finished starting (xe host-list on {master}); restart it with xe-toolstack-restart, \
             or eject it with xenpool pool-eject {host} and add it again"
        ),
        params: vec![],
        vms: vec![],
        hosts: vec![host.into(), master.into()],
    }
}

/// The problem to report for a pass that failed with `e`; `None` for control-plane failures.
fn failure_problem(e: &AgentError, config: &AgentConfig, names: &RefNames) -> Option<Problem> {
    let host = config.host.as_str();
    let (code, params, fix) = match e {
        AgentError::Control(_) => return None,
        AgentError::Xapi(x) => match x.code() {
            Some(ErrorCode::SESSION_AUTHENTICATION_FAILED) => (
                x.code()?.to_string(),
                names_of(names, x.params()),
                format!(
                    "XAPI on {host} refuses this agent's login: check xapi_username ({}) and the password in \
                     xapi_password_file of the agent's config, then restart the agent",
                    config.xapi_username
                ),
            ),
            Some(code) => (
                code.to_string(),
                names_of(names, x.params()),
                fix_for(code).to_owned(),
            ),
            None => (
                "xapi_unreachable".to_owned(),
                vec![config.xapi_url.to_string()],
                format!(
                    "check that XAPI on {host} runs and answers at {} (xapi_url in the agent's config); \
                     the agent keeps retrying",
                    config.xapi_url
                ),
            ),
        },
        AgentError::Journal(_) => (
            "journal".to_owned(),
            vec![],
            format!(
                "fix or free the agent's state_dir {}",
                config.state_dir.display()
            ),
        ),
        AgentError::Config(_) => (
            "config".to_owned(),
            vec![],
            "correct the agent's config and restart it".to_owned(),
        ),
    };
    let cause = match e {
        AgentError::Xapi(x) => names.describe(x),
        other => other.to_string(),
    };
    Some(Problem {
        code,
        message: format!("{host}'s agent cannot reconcile: {cause}"),
        fix,
        params,
        vms: vec![],
        hosts: vec![host.to_owned()],
    })
}

fn names_of(names: &RefNames, params: &[String]) -> Vec<String> {
    params.iter().map(|p| names.name(p)).collect()
}

/// Whether a VM on this host is migrating (or otherwise busy) right now.
fn migration_in_flight(obs: &Observation) -> bool {
    obs.my_running_vms()
        .any(|(_, v)| !v.current_operations.is_empty())
}

/// The other members that are not migration destinations but not because xenpool put them in
/// maintenance, each with why: `xs3 (disabled)` (resyncing after a restart, or disabled by an
/// admin), `xs3 (not live)`.
fn unavailable_members(obs: &Observation) -> Vec<String> {
    obs.hosts
        .iter()
        .skip(1)
        .filter(|h| !in_maintenance(h))
        .filter_map(|h| match (h.live, h.record.enabled) {
            (false, _) => Some(format!("{} (not live)", h.name)),
            (true, false) => Some(format!("{} (disabled)", h.name)),
            (true, true) => None,
        })
        .collect()
}

fn unplaceable_problem(
    host: &str,
    plan: &planner::EvacuationPlan,
    unavailable: &[String],
) -> Problem {
    let first = &plan.unplaceable[0];
    let not_destinations = if unavailable.is_empty() {
        String::new()
    } else {
        format!("; not destinations: {}", unavailable.join(", "))
    };
    Problem {
        code: first.reason.code().to_owned(),
        message: format!(
            "{} VM(s) cannot leave {host}: {}{not_destinations}",
            plan.unplaceable.len(),
            plan.unplaceable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        fix: first.reason.fix().into(),
        params: vec![],
        vms: plan.unplaceable.iter().map(|u| u.vm.name.clone()).collect(),
        hosts: vec![host.into()],
    }
}

/// The wire form of a problem reported by `reporter`, who is always the first of its hosts (so
/// only that host's later success clears it).
fn problem_json(p: &Problem, reporter: &str) -> Value {
    let mut hosts = vec![reporter.to_owned()];
    hosts.extend(p.hosts.iter().filter(|h| *h != reporter).cloned());
    json!({ "code": p.code, "params": p.params, "message": p.message, "fix": p.fix, "vms": p.vms, "hosts": hosts })
}

/// Whether xenpool disabled `host` for maintenance (a member in maintenance is converged).
fn in_maintenance(host: &super::observe::ObservedHost) -> bool {
    host.record
        .other_config
        .get(MAINTENANCE_KEY)
        .is_some_and(|v| v == "true")
}

/// The host that reported a pool error (the first of its hosts).
fn reporter(error: &Value) -> Option<&str> {
    error["hosts"][0].as_str()
}

fn operation_update() -> OperationUpdate {
    OperationUpdate {
        state: None,
        progress: None,
        plan: None,
        vms: None,
        error: None,
        warnings: None,
    }
}

fn maintenance_operation(desired: &Desired) -> Option<&crate::api::native::types::Operation> {
    desired
        .operations
        .iter()
        .rev()
        .find(|o| o.kind.starts_with("maintenance_") && !o.dry_run)
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Converged => "converged",
        Step::ClaimMaster { .. } => "claim_master",
        Step::RecordMaster { .. } => "record_master",
        Step::NamePool { .. } => "name_pool",
        Step::Join { .. } => "join",
        Step::AwaitSync => "await_sync",
        Step::HandOver { .. } => "hand_over",
        Step::Wait { .. } => "wait",
        Step::Evacuate { .. } => "evacuate",
        Step::Eject { .. } => "eject",
        Step::Disable => "disable",
        Step::Enable => "enable",
        Step::Rebalance => "rebalance",
        Step::Blocked(_) => "blocked",
    }
}

fn lease_name(step: &Step, aggregate: Option<&str>, obs: &Observation) -> Option<String> {
    let pool_changing = matches!(
        step,
        Step::ClaimMaster { .. }
            | Step::NamePool { .. }
            | Step::Join { .. }
            | Step::HandOver { .. }
            | Step::Eject { .. }
            | Step::Evacuate {
                for_departure: Some(_)
            }
    );
    pool_changing.then(|| pool_lease(aggregate, obs))
}

/// The lease of pool-changing steps: per pool aggregate, or per XAPI pool outside any.
fn pool_lease(aggregate: Option<&str>, obs: &Observation) -> String {
    match aggregate {
        Some(a) => format!("pool-{a}"),
        None => format!("xapi-pool-{}", obs.pool.1.uuid),
    }
}

/// The planner's intent from the control plane's desired state.
fn intent_of(desired: &Desired) -> Intent {
    let address = |xapi_url: &Option<String>| {
        xapi_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            })
    };
    Intent {
        host: desired.host.host_name.clone(),
        maintenance: desired.host.maintenance,
        pools: desired
            .pools
            .iter()
            .map(|p| PoolIntent {
                aggregate: p.aggregate.name.clone(),
                members: p
                    .aggregate
                    .hosts
                    .iter()
                    .map(|name| MemberIntent {
                        name: name.clone(),
                        xapi_address: p
                            .members
                            .iter()
                            .find(|m| &m.host_name == name)
                            .and_then(|m| address(&m.xapi_url)),
                    })
                    .collect(),
                master: p.aggregate.metadata.get("master_compute").cloned(),
                force_join: p
                    .aggregate
                    .metadata
                    .get(JOIN_FORCE_KEY)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            })
            .collect(),
    }
}

async fn heartbeat_loop(control: ControlClient, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = control.heartbeat().await {
            warn!(error = %e, "heartbeat failed");
        }
        notify_watchdog();
    }
}

/// Serves the process's Prometheus metrics on `GET /metrics`.
pub async fn serve_metrics(listener: tokio::net::TcpListener) {
    let Some(handle) = crate::telemetry::prometheus() else {
        return;
    };
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    if let Err(e) = axum::serve(listener, app).await {
        warn!(error = %e, "metrics listener stopped");
    }
}

fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

fn notify_watchdog() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
}

/// Exponential backoff with jitter: 0.5 s doubling to 30 s.
#[derive(Debug, Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let base = 500u64.saturating_mul(1 << self.attempt.min(6)).min(30_000);
        self.attempt += 1;
        let jitter = rand::random::<u64>() % (base / 4 + 1);
        Duration::from_millis(base - base / 8 + jitter)
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(hosts: &[&str]) -> Problem {
        Problem {
            code: "half_joined".into(),
            message: "m".into(),
            fix: "f".into(),
            params: vec![],
            vms: vec![],
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn the_reporter_is_the_first_host_of_a_reported_problem_and_listed_once() {
        let json = problem_json(&problem(&["xs1", "xs2"]), "xs2");
        assert_eq!(json["hosts"], json!(["xs2", "xs1"]));
        assert_eq!(reporter(&json), Some("xs2"));
        let json = problem_json(&problem(&[]), "xs3");
        assert_eq!(json["hosts"], json!(["xs3"]));
        assert_eq!(reporter(&json!({})), None);
    }

    #[test]
    fn a_404_or_409_from_the_control_plane_is_re_read_at_once() {
        let refused = |status| {
            AgentError::Control(ControlError::Refused {
                route: "POST v1/agents/xs1/report".into(),
                status,
                code: String::new(),
                message: String::new(),
            })
        };
        assert!(refused(404).is_transient());
        assert!(refused(409).is_transient());
        assert!(!refused(403).is_transient());
    }
}
